import { describe, expect, it } from 'vitest';
import { addressKey } from './sign-in-throttle.js';

describe('addressKey', () => {
  it('counts IPv4 clients by address and IPv6 clients by their /64', () => {
    expect(addressKey('203.0.113.7')).toBe('address:203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('address:203.0.113.7');
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('address:2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2::9')).toBe(addressKey('2001:db8:1:2:ffff::1'));
    expect(addressKey('2001:db8::1')).toBe('address:2001:db8:0:0::/64');
    expect(addressKey(undefined)).toBeUndefined();
  });
});
