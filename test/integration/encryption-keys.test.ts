// The key that encrypts executor secrets: the embedded default's key file (made once, mode 0600), and
// `coordinator rotate-encryption-key` moving every value to a new key, with the key file or with
// COORDINATOR_ENCRYPTION_KEY / COORDINATOR_OLD_ENCRYPTION_KEYS; and `coordinator create-user`.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createUserCommand, rotateEncryptionKeyCommand } from '../../src/coordinator/admin-commands.js';
import { loadCoordinatorConfig, type CoordinatorConfig } from '../../src/coordinator/config.js';
import { openDatabase } from '../../src/coordinator/coordinator.js';
import { KEY_FILE, loadKeyring, PREVIOUS_KEY_FILE } from '../../src/coordinator/secrets/encryption-keys.js';
import { EncryptionKeyring, encryptionKey } from '../../src/coordinator/secrets/secret-encryption.js';
import type { Database } from '../../src/coordinator/store/database.js';
import { migrate } from '../../src/coordinator/store/migrator.js';
import { SecretStore } from '../../src/coordinator/store/secret-store.js';
import { UserStore } from '../../src/coordinator/store/user-store.js';
import { silentLogger } from '../../src/shared/logger.js';
import { createPostgresDatabase } from '../helpers/test-database.js';

describe('encryption keys of executor secrets', () => {
  let dataDir: string;
  let database: { url: string; drop: () => Promise<void> };
  let db: Database;
  const configFor = (env: Record<string, string> = {}): CoordinatorConfig =>
    loadCoordinatorConfig({ COORDINATOR_DATA_DIR: dataDir, COORDINATOR_DATABASE_URL: database.url, ...env });
  const out: string[] = [];
  const print = (text: string) => void out.push(text);

  beforeEach(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-keys-'));
    database = await createPostgresDatabase();
    db = await openDatabase(configFor(), silentLogger);
    await migrate(db, silentLogger);
    out.length = 0;
  });
  afterEach(async () => {
    await db.close();
    await database.drop();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('creates the key file once, mode 0600, and reads the same key afterwards', async () => {
    const first = loadKeyring(configFor(), silentLogger);
    const file = path.join(dataDir, KEY_FILE);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(loadKeyring(configFor(), silentLogger).current.id).toBe(first.current.id);
    expect(Buffer.from((await fs.readFile(file, 'utf8')).trim(), 'base64')).toHaveLength(32);
  });

  it('rotate-encryption-key replaces the key file and moves every value to the new key', async () => {
    const before = loadKeyring(configFor(), silentLogger);
    const store = new SecretStore(db, before);
    await store.create({ kind: 'global' }, { key: 'ONE', scope: 'batches', value: 'value-one', creatorId: null });
    await store.create({ kind: 'global' }, { key: 'TWO', scope: 'batches', value: 'value-two', creatorId: null });
    expect(await rotateEncryptionKeyCommand(configFor(), silentLogger, print)).toBe(0);
    const after = loadKeyring(configFor(), silentLogger);
    expect(after.current.id).not.toBe(before.current.id);
    await expect(fs.stat(path.join(dataDir, PREVIOUS_KEY_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(out.join('')).toContain('re-encrypted 2 executor secret(s)');
    const ids = await db.query<{ keyId: string }>(`SELECT DISTINCT encryption_key_id AS "keyId" FROM executor_secrets`);
    expect(ids).toEqual([{ keyId: after.current.id }]);
    const { values } = await new SecretStore(db, after).readValues({ kind: 'global' }, 'batches', ['ONE', 'TWO'], { machineUser: 'test' }, null);
    expect(Object.fromEntries(values)).toEqual({ ONE: 'value-one', TWO: 'value-two' });
    // The old key alone no longer decrypts anything.
    await expect(new SecretStore(db, new EncryptionKeyring(before.current)).readValues({ kind: 'global' }, 'batches', ['ONE'], { machineUser: 'test' }, null)).rejects.toMatchObject({
      code: 'secrets.key_unknown',
    });
  });

  it('rotates to COORDINATOR_ENCRYPTION_KEY, reading old values with the key file or COORDINATOR_OLD_ENCRYPTION_KEYS', async () => {
    const fileKeyring = loadKeyring(configFor(), silentLogger);
    await new SecretStore(db, fileKeyring).create({ kind: 'global' }, { key: 'FROM_FILE', scope: 'batches', value: 'file-value', creatorId: null });
    const k2 = randomBytes(32).toString('base64');
    const k3 = randomBytes(32).toString('base64');
    await rotateEncryptionKeyCommand(configFor({ COORDINATOR_ENCRYPTION_KEY: k2 }), silentLogger, print);
    expect(out.join('')).toContain(`under key ${encryptionKey(Buffer.from(k2, 'base64')).id}`);
    // Then from k2 to k3, k2 given as an old key.
    await fs.rm(path.join(dataDir, KEY_FILE));
    await rotateEncryptionKeyCommand(configFor({ COORDINATOR_ENCRYPTION_KEY: k3, COORDINATOR_OLD_ENCRYPTION_KEYS: k2 }), silentLogger, print);
    const k3Ring = new EncryptionKeyring(encryptionKey(Buffer.from(k3, 'base64')));
    const { values } = await new SecretStore(db, k3Ring).readValues({ kind: 'global' }, 'batches', ['FROM_FILE'], { machineUser: 'test' }, null);
    expect(values.get('FROM_FILE')).toBe('file-value');
  });

  it('refuses a malformed COORDINATOR_ENCRYPTION_KEY without echoing it', () => {
    expect(() => configFor({ COORDINATOR_ENCRYPTION_KEY: 'too-short-secret' })).toThrow(/COORDINATOR_ENCRYPTION_KEY: expected 32 random bytes in base64 \(44 characters/);
    try {
      configFor({ COORDINATOR_ENCRYPTION_KEY: 'too-short-secret' });
    } catch (err) {
      expect((err as Error).message).not.toContain('too-short-secret');
    }
  });

  it('create-user makes a site admin whose printed token authenticates', async () => {
    expect(await createUserCommand(['root', '--site-admin'], configFor(), { COORDINATOR_USER_PASSWORD: 'a-long-enough-password' }, silentLogger, print)).toBe(0);
    const token = /API token \(shown once\): (exe_[0-9a-f]{64})/.exec(out.join(''))?.[1];
    expect(token).toBeDefined();
    const users = new UserStore(db);
    expect(await users.userForToken(token!)).toMatchObject({ username: 'root', siteAdmin: true, hasPassword: true });
    expect(await users.verifyPassword('root', 'a-long-enough-password')).toMatchObject({ username: 'root' });
    await expect(createUserCommand(['--site-admin'], configFor(), {}, silentLogger, print)).rejects.toMatchObject({ code: 'cli.usage' });
  });
});
