// RFC 3339 times as Go marshals time.Time (`2006-01-02T15:04:05.999999999Z07:00`), checked field by field:
// a pattern alone lets through 2024-02-30 or 25:00, which PostgreSQL then refuses with a 500.
import { z } from 'zod';

const PATTERN = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** The example every message shows. */
export const RFC3339_EXAMPLE = '2024-01-02T15:04:05Z';

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/**
 * Why `value` is not a usable RFC 3339 time, or null when it is. Years 0001–9999 (Go's zero time is
 * 0001-01-01), real calendar days, hours to 23, seconds to 59, offsets to ±15:59 (PostgreSQL's limit).
 */
export function rfc3339Problem(value: string): string | null {
  const m = PATTERN.exec(value);
  if (!m) return `expected an RFC 3339 time such as ${RFC3339_EXAMPLE}`;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (year < 1) return 'the year must be 0001 or later';
  if (month < 1 || month > 12) return `there is no month ${m[2]}`;
  if (day < 1 || day > daysInMonth(year, month)) return `there is no day ${m[3]} in ${m[1]}-${m[2]}`;
  if (hour > 23 || minute > 59 || second > 59) return `there is no time of day ${m[4]}:${m[5]}:${m[6]}`;
  if (m[7] !== undefined && (Number(m[8]) > 15 || Number(m[9]) > 59)) return `the offset ${m[7]}${m[8]}:${m[9]} is out of range (at most ±15:59)`;
  return null;
}

/** A string that is a usable RFC 3339 time (see {@link rfc3339Problem}). */
export const Rfc3339Schema = z.string().superRefine((value, ctx) => {
  const problem = rfc3339Problem(value);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
});
