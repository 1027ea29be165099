// Throttles password guessing at both sign-in doors (POST /api/v1/tokens and the web UI's form): failed
// attempts are counted per user name and per client address; past a limit the name or address is locked
// out for a while, with a Retry-After, even for the right password (or the lock would tell it apart).
import type { Logger } from '../../shared/logger.js';
import type { SignInLimits } from '../config.js';
import type { SignInFailureStore } from '../store/sign-in-failure-store.js';
import { NAME_PATTERN } from '../store/user-store.js';

/** The key of a client address: IPv4 as is, IPv6 by its /64 (one host usually holds a whole /64). */
export function addressKey(remoteAddress: string | undefined): string | undefined {
  if (!remoteAddress) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
  if (mapped) return `address:${mapped[1]}`;
  if (!remoteAddress.includes(':')) return `address:${remoteAddress}`;
  const [head = '', tail = ''] = remoteAddress.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = remoteAddress.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = remoteAddress.includes('::') ? [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups] : remoteAddress.split(':');
  return `address:${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export class SignInThrottle {
  constructor(
    private readonly store: SignInFailureStore,
    private readonly limits: SignInLimits,
    private readonly logger: Logger,
  ) {}

  private entries(username: string, remoteAddress: string | undefined): Array<{ key: string; max: number; what: string }> {
    const entries: Array<{ key: string; max: number; what: string }> = [];
    // A name no user can have is only counted against the address.
    if (this.limits.maxFailuresPerUser > 0 && NAME_PATTERN.test(username)) entries.push({ key: `user:${username}`, max: this.limits.maxFailuresPerUser, what: `user ${username}` });
    const address = addressKey(remoteAddress);
    if (this.limits.maxFailuresPerAddress > 0 && address) entries.push({ key: address, max: this.limits.maxFailuresPerAddress, what: address.replace(/^address:/, 'address ') });
    return entries;
  }

  /** Seconds the caller must wait before trying this user name from this address again; 0: go ahead. */
  async retryAfterSeconds(username: string, remoteAddress: string | undefined): Promise<number> {
    return this.store.lockedForSeconds(this.entries(username, remoteAddress).map((e) => e.key));
  }

  /** Counts a wrong password; logs each user name or address it locks out. */
  async failed(username: string, remoteAddress: string | undefined): Promise<void> {
    const entries = this.entries(username, remoteAddress);
    const recorded = await this.store.recordFailure(entries, this.limits.lockoutMs);
    for (const r of recorded) {
      if (!r.lockedNow) continue;
      const entry = entries.find((e) => e.key === r.key)!;
      this.logger.warn('sign-in locked out after repeated wrong passwords', {
        locked: entry.what,
        failures: r.failures,
        lockedForSeconds: Math.round(this.limits.lockoutMs / 1000),
        address: remoteAddress,
      });
    }
  }

  /** A right password: that user name's failures are forgotten (the address's are not). */
  async succeeded(username: string): Promise<void> {
    if (this.limits.maxFailuresPerUser > 0 && NAME_PATTERN.test(username)) await this.store.clear(`user:${username}`);
  }
}
