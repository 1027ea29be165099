// Where the secrets' keyring comes from: COORDINATOR_ENCRYPTION_KEY, or for a coordinator that has none
// the key file in its data directory, made at first start so that one machine needs no setup. Replicas
// on one PostgreSQL server must share the key: set COORDINATOR_ENCRYPTION_KEY on each.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../shared/logger.js';
import type { CoordinatorConfig } from '../config.js';
import { ENCRYPTION_KEY_BYTES, EncryptionKeyring, encryptionKey, type EncryptionKey } from './secret-encryption.js';

export const KEY_FILE = 'encryption.key';
/** Where `rotate-encryption-key` keeps the replaced key file until every value moved. */
export const PREVIOUS_KEY_FILE = 'encryption.key.previous';

/** Reads a key file: 32 bytes in base64; undefined when it does not exist. */
function readKeyFile(file: string): EncryptionKey | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const key = Buffer.from(text, 'base64');
  if (key.length !== ENCRYPTION_KEY_BYTES) throw new Error(`${file}: expected ${ENCRYPTION_KEY_BYTES} bytes in base64`);
  return encryptionKey(key);
}

/** Writes a new random key file, mode 0600, refusing to replace one. */
export function createKeyFile(file: string): EncryptionKey {
  const key = randomBytes(ENCRYPTION_KEY_BYTES);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return encryptionKey(key);
}

/**
 * The keyring: the current key (COORDINATOR_ENCRYPTION_KEY, else `<dataDir>/encryption.key`, created
 * if missing), and as decrypt-only keys COORDINATOR_OLD_ENCRYPTION_KEYS, the key file when the env key
 * replaced it, and a key file left by an interrupted rotation.
 */
export function loadKeyring(config: Pick<CoordinatorConfig, 'encryptionKey' | 'oldEncryptionKeys' | 'dataDir' | 'databaseUrl'>, logger: Logger): EncryptionKeyring {
  const file = path.join(config.dataDir, KEY_FILE);
  const previous: EncryptionKey[] = config.oldEncryptionKeys.map(encryptionKey);
  const previousFile = readKeyFile(path.join(config.dataDir, PREVIOUS_KEY_FILE));
  if (previousFile) previous.push(previousFile);
  let current: EncryptionKey;
  if (config.encryptionKey) {
    current = encryptionKey(config.encryptionKey);
    const fromFile = readKeyFile(file);
    if (fromFile && fromFile.id !== current.id) previous.push(fromFile);
  } else {
    current = readKeyFile(file) ?? createKeyFile(file);
    if (config.databaseUrl) {
      logger.warn('executor secrets are encrypted with the key file of this data directory: coordinator replicas on one database must share COORDINATOR_ENCRYPTION_KEY instead', { keyFile: file });
    }
  }
  return new EncryptionKeyring(current, previous);
}
