// One-shot commands of bin/coordinator that work on the database directly: creating a user (the first
// site admin on a coordinator without COORDINATOR_ADMIN_TOKEN) and re-encrypting executor secrets under
// a new key. Each migrates first, does its work, prints what it did, and closes the database.
import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { CoordinatorConfig } from './config.js';
import { openDatabase } from './coordinator.js';
import { createKeyFile, KEY_FILE, loadKeyring, PREVIOUS_KEY_FILE } from './secrets/encryption-keys.js';
import { migrate } from './store/migrator.js';
import { RepositoryStore } from './store/repository-store.js';
import { SecretStore } from './store/secret-store.js';
import { UserStore } from './store/user-store.js';

/**
 * `create-user <username> [--site-admin]`: the password, if any, from COORDINATOR_USER_PASSWORD (never
 * an argument: the process list would show it). Prints the user and a new API token, once.
 */
export async function createUserCommand(args: readonly string[], config: CoordinatorConfig, env: NodeJS.ProcessEnv, logger: Logger, out: (text: string) => void): Promise<number> {
  const username = args.find((a) => !a.startsWith('--'));
  const unknown = args.filter((a) => a.startsWith('--') && a !== '--site-admin');
  if (!username || unknown.length > 0) throw new AppError('cli.usage', `usage: coordinator create-user <username> [--site-admin]${unknown.length > 0 ? ` (unknown ${unknown.join(' ')})` : ''}`);
  const db = await openDatabase(config, logger);
  try {
    await migrate(db, logger);
    const users = new UserStore(db);
    const password = env.COORDINATOR_USER_PASSWORD || undefined;
    const user = await users.create({ username, password, siteAdmin: args.includes('--site-admin') });
    const { token } = await users.createToken(user.id, 'create-user');
    out(`created user ${user.username} (id ${user.id}${user.siteAdmin ? ', site admin' : ''}${password ? ', with the password from COORDINATOR_USER_PASSWORD' : ', no password'})\n`);
    out(`API token (shown once): ${token}\n`);
    return 0;
  } finally {
    await db.close();
  }
}

/**
 * `rotate-encryption-key`: re-encrypts every executor secret (and repository credential) under the current key. With
 * COORDINATOR_ENCRYPTION_KEY set, that key is the new one and the old ones come from
 * COORDINATOR_OLD_ENCRYPTION_KEYS (and the data directory's key file). Without it, the key file is
 * replaced by a new random key; the old file is kept as `encryption.key.previous` until every value
 * moved, so an interrupted rotation is finished by running the command again.
 */
export async function rotateEncryptionKeyCommand(config: CoordinatorConfig, logger: Logger, out: (text: string) => void): Promise<number> {
  const keyFile = path.join(config.dataDir, KEY_FILE);
  const previousFile = path.join(config.dataDir, PREVIOUS_KEY_FILE);
  if (!config.encryptionKey && fs.existsSync(keyFile) && !fs.existsSync(previousFile)) {
    fs.renameSync(keyFile, previousFile);
    createKeyFile(keyFile);
    out(`new key file ${keyFile}; the old one is ${previousFile} until every secret moved\n`);
  }
  const keyring = loadKeyring(config, logger);
  const db = await openDatabase(config, logger);
  try {
    await migrate(db, logger);
    const moved = await new SecretStore(db, keyring).reencryptAll();
    out(`re-encrypted ${moved} executor secret(s) under key ${keyring.current.id}\n`);
    const movedCredentials = await new RepositoryStore(db, keyring).reencryptAll();
    out(`re-encrypted ${movedCredentials} repository credential(s) under key ${keyring.current.id}\n`);
  } finally {
    await db.close();
  }
  if (fs.existsSync(previousFile)) {
    fs.rmSync(previousFile);
    out(`removed ${previousFile}\n`);
  }
  if (config.encryptionKey) out('every secret is under COORDINATOR_ENCRYPTION_KEY now: COORDINATOR_OLD_ENCRYPTION_KEYS can be removed\n');
  return 0;
}
