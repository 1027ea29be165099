// Registry credentials: which source wins (reference §8), what is kept out of logs, how they are written.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseDockerAuthConfig, DOCKER_AUTH_REDACTED, dockerAuthRedactedValues, writeDockerConfig } from './docker-auth.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const job = { auths: { 'registry.job:5000': { auth: b64('job-user:job-password') } } };
const executor = { auths: { 'registry.env': { auth: b64('env-user:env-password') } } };

describe('chooseDockerAuthConfig', () => {
  it('takes the job\'s config over the executor\'s, without merging, and the host\'s when neither has entries', () => {
    expect(chooseDockerAuthConfig(job, executor)).toEqual({ source: 'job', config: job });
    expect(chooseDockerAuthConfig({ auths: {} }, executor)).toEqual({ source: 'executor', config: executor });
    expect(chooseDockerAuthConfig(undefined, executor)).toEqual({ source: 'executor', config: executor });
    expect(chooseDockerAuthConfig(undefined, { auths: {} })).toEqual({ source: 'host' });
    expect(chooseDockerAuthConfig(undefined, undefined)).toEqual({ source: 'host' });
  });
});

describe('dockerAuthRedactedValues', () => {
  it('redacts each auth and each decoded password of 4 characters or more', () => {
    const values = dockerAuthRedactedValues({ auths: { a: { auth: b64('u:long-password') }, b: { auth: b64('u:pw') }, c: { auth: '' } } });
    expect(values).toEqual({ [b64('u:long-password')]: DOCKER_AUTH_REDACTED, 'long-password': DOCKER_AUTH_REDACTED, [b64('u:pw')]: DOCKER_AUTH_REDACTED });
    expect(dockerAuthRedactedValues(undefined)).toEqual({});
  });
});

describe('writeDockerConfig', () => {
  it('writes config.json with only auths, mode 0600, and never over an existing file', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'docker-auth-'));
    try {
      await writeDockerConfig(dir, { ...job, credsStore: 'desktop' } as typeof job);
      const file = path.join(dir, 'config.json');
      expect(JSON.parse(await fs.readFile(file, 'utf8'))).toEqual(job);
      expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
      await expect(writeDockerConfig(dir, job)).rejects.toMatchObject({ code: 'EEXIST' });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
