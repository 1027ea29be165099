// Executor secret values at rest: AES-256-GCM under the current key of a keyring; older keys decrypt
// what they encrypted until `rotate-encryption-key` re-encrypts it. Each value is bound to its secret's
// key name (additional data), so a value copied onto another secret's row does not decrypt.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { AppError } from '../../shared/errors.js';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const ENCRYPTION_KEY_BYTES = 32;

/** A key and its id: the first 16 hex digits of its SHA-256, stored beside each value. */
export interface EncryptionKey {
  id: string;
  key: Buffer;
}

export function encryptionKey(key: Buffer): EncryptionKey {
  if (key.length !== ENCRYPTION_KEY_BYTES) throw new Error(`an encryption key is ${ENCRYPTION_KEY_BYTES} bytes, got ${key.length}`);
  return { id: createHash('sha256').update(key).digest('hex').slice(0, 16), key };
}

export class EncryptionKeyring {
  private readonly byId: Map<string, Buffer>;

  /** `current` encrypts; it and `previous` decrypt. */
  constructor(
    readonly current: EncryptionKey,
    previous: readonly EncryptionKey[] = [],
  ) {
    this.byId = new Map([...previous, current].map((k) => [k.id, k.key]));
  }

  /** `nonce ‖ ciphertext ‖ tag` under the current key, and that key's id. */
  encrypt(plaintext: string, secretKey: string): { value: Buffer; keyId: string } {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.current.key, nonce);
    cipher.setAAD(aad(secretKey));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { value: Buffer.concat([nonce, body, cipher.getAuthTag()]), keyId: this.current.id };
  }

  /** The plaintext; `secrets.key_unknown` without the key, `secrets.value_corrupt` when it does not authenticate. */
  decrypt(value: Buffer, keyId: string, secretKey: string): string {
    const key = this.byId.get(keyId);
    if (!key) {
      throw new AppError('secrets.key_unknown', `a secret is encrypted with key ${keyId}, which is neither COORDINATOR_ENCRYPTION_KEY nor one of COORDINATOR_OLD_ENCRYPTION_KEYS`);
    }
    if (value.length < NONCE_BYTES + TAG_BYTES) throw new AppError('secrets.value_corrupt', 'a stored secret value is too short to be AES-256-GCM output');
    const decipher = createDecipheriv('aes-256-gcm', key, value.subarray(0, NONCE_BYTES));
    decipher.setAAD(aad(secretKey));
    decipher.setAuthTag(value.subarray(value.length - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(value.subarray(NONCE_BYTES, value.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch (err) {
      throw new AppError('secrets.value_corrupt', `a stored secret value (key ${JSON.stringify(secretKey)}) does not authenticate under key ${keyId}`, { cause: err });
    }
  }
}

function aad(secretKey: string): Buffer {
  return Buffer.from(`executor-secret:${secretKey}`, 'utf8');
}
