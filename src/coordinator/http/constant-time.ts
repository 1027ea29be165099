// Comparing secrets without leaking their contents or length through timing.
import { createHash, timingSafeEqual } from 'node:crypto';

/** True when `a` equals `b`; takes the same time for any two inputs of any length. */
export function constantTimeEquals(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
