// API tokens of users: 32 random bytes shown once as `exe_<hex>`; only their SHA-256 is stored, and a
// presented token is found by its hash (an index lookup: nothing is compared byte by byte in JS).
import { createHash, randomBytes } from 'node:crypto';

export const ACCESS_TOKEN_PREFIX = 'exe_';

export function newAccessToken(): { token: string; sha256: Buffer } {
  const token = `${ACCESS_TOKEN_PREFIX}${randomBytes(32).toString('hex')}`;
  return { token, sha256: accessTokenSha256(token) };
}

export function accessTokenSha256(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
