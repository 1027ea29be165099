// Which Job payload encoding an executor gets, decided by the version it sends (reference §2.7, §3.2).

/** Executors at or above this release get the v2 payload. */
const V2_MIN_RELEASE: readonly [number, number, number] = [4, 3, 0];
/** Dev builds dated after this day get v2 as well. */
const V2_MIN_DEV_DATE = '2022-11-24';

/**
 * Returns 2 for `>= 4.3.0-0` and for dev/insiders builds dated after 2022-11-24, else 1.
 * Insiders builds look like `213051_2023-04-04_5.0-d2c2d6a1a3b9`.
 */
export function payloadVersionFor(executorVersion: string | undefined): 1 | 2 {
  if (!executorVersion) return 1;
  if (executorVersion === '0.0.0+dev' || executorVersion === 'dev') return 2;
  const release = /^v?(\d+)\.(\d+)\.(\d+)/.exec(executorVersion);
  if (release) {
    const parts = release.slice(1, 4).map(Number) as [number, number, number];
    for (let i = 0; i < 3; i++) {
      if (parts[i]! !== V2_MIN_RELEASE[i]!) return parts[i]! > V2_MIN_RELEASE[i]! ? 2 : 1;
    }
    return 2;
  }
  const dated = /^\d+_(\d{4}-\d{2}-\d{2})_/.exec(executorVersion);
  if (dated) return dated[1]! > V2_MIN_DEV_DATE ? 2 : 1;
  return 1;
}
