import { describe, expect, it } from 'vitest';
import { decodeJob, parseGoJson } from './job-decoder.js';

const single = { queues: ['batches'], multiQueue: false };

describe('decodeJob', () => {
  it('decodes v2 base64 contents and v1 text contents to the same bytes', () => {
    const text = 'héllo ✓\n';
    const v2 = decodeJob({ version: 2, id: 1, token: 't', files: { 'a.txt': { content: Buffer.from(text).toString('base64') } } }, single);
    const v1 = decodeJob({ id: 1, token: 't', files: { 'a.txt': { content: text }, 'old.txt': 'plain' } }, single);
    if ('problem' in v2 || 'problem' in v1) throw new Error('expected jobs');
    expect(v2.job.files['a.txt']!.content!.toString('utf8')).toBe(text);
    expect(v1.job.files['a.txt']!.content!.toString('utf8')).toBe(text);
    expect(v1.job.files['old.txt']!.content!.toString('utf8')).toBe('plain');
    expect(v2.job.queue).toBe('batches');
  });

  it('reads Go nulls (nil slices and maps) as absent', () => {
    const decoded = decodeJob(parseGoJson('{"id":3,"token":"t","files":null,"dockerSteps":null,"sparseCheckout":null,"redactedValues":null}'), single);
    if ('problem' in decoded) throw new Error(decoded.problem);
    expect(decoded.job).toMatchObject({ id: 3, files: {}, dockerSteps: [], sparseCheckout: [], redactedValues: {} });
  });

  it('names the field that fails the shape check', () => {
    expect(decodeJob({ id: 'x' }, single)).toEqual({ problem: expect.stringMatching(/^id: /) });
    expect(decodeJob({ id: 1, dockerSteps: [{ commands: [] }] }, single)).toEqual({ problem: expect.stringMatching(/^dockerSteps\[0\]\.image: /) });
    expect(decodeJob({ version: 2, id: 1, files: { 'a b.txt': { content: 'not base64!' } } }, single)).toEqual({ problem: 'files["a b.txt"].content: expected base64 in a version 2 payload' });
    expect(decodeJob({ version: 3, id: 1 }, single)).toEqual({ problem: expect.stringMatching(/^version: unsupported/) });
    expect(decodeJob(undefined, single)).toEqual({ problem: expect.stringMatching(/^\(body\): /) });
  });

  it('requires a queue that was asked for on the multi-queue route', () => {
    const multi = { queues: ['batches', 'codeintel'], multiQueue: true };
    expect(decodeJob({ id: 1, queue: 'codeintel' }, multi)).toMatchObject({ job: { queue: 'codeintel' } });
    expect(decodeJob({ id: 1 }, multi)).toEqual({ problem: 'queue: missing from a multi-queue dequeue' });
    expect(decodeJob({ id: 1, queue: 'other' }, multi)).toEqual({ problem: expect.stringMatching(/^queue: "other" is not one of/) });
  });

  it('drops dockerAuthConfig from a v1 payload', () => {
    const decoded = decodeJob({ id: 1, dockerAuthConfig: { auths: { r: { auth: 'dTpw' } } } }, single);
    expect(decoded).toMatchObject({ job: { id: 1 } });
    expect('job' in decoded && decoded.job.dockerAuthConfig).toBeFalsy();
  });
});
