// Per-job tokens (reference §7.2): 20 random bytes, hex on the wire, only the SHA-256 of the bytes stored.
import { createHash, randomBytes } from 'node:crypto';

export interface JobToken {
  /** 40 hex characters, given to the executor once. */
  value: string;
  sha256: Buffer;
}

export function newJobToken(): JobToken {
  const bytes = randomBytes(20);
  return { value: bytes.toString('hex'), sha256: createHash('sha256').update(bytes).digest() };
}

/** The lookup key of a presented token; null when it is not 40 hex characters. */
export function jobTokenSha256(value: string): Buffer | null {
  if (!/^[0-9a-fA-F]{40}$/.test(value)) return null;
  return createHash('sha256').update(Buffer.from(value, 'hex')).digest();
}
