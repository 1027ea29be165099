// Whether an executor's version suits this coordinator's (reference §7.4): up to date within one
// minor version either way; insiders builds compare build dates within a 35-day release cycle.

export type Compatibility = 'UP_TO_DATE' | 'OUTDATED' | 'VERSION_AHEAD';

/** The Sourcegraph release whose executor protocol this coordinator speaks; executors are compared with it. */
export const COORDINATOR_PROTOCOL_VERSION = '5.3.0';

const RELEASE_CYCLE_DAYS = 35;

function parseRelease(v: string): [number, number] | null {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

function parseInsidersDate(v: string): number | null {
  const m = /^\d+_(\d{4}-\d{2}-\d{2})_/.exec(v);
  return m ? Date.parse(m[1]!) : null;
}

/** Null when the executor is inactive or either side is a dev build (as the original). */
export function executorCompatibility(executorVersion: string, coordinatorVersion: string, active: boolean): Compatibility | null {
  if (!active) return null;
  const exRelease = parseRelease(executorVersion);
  const coRelease = parseRelease(coordinatorVersion);
  if (exRelease && coRelease) {
    // Compare as minor counts; a major bump counts as far away.
    const ex = exRelease[0] * 1000 + exRelease[1];
    const co = coRelease[0] * 1000 + coRelease[1];
    if (co > ex + 1) return 'OUTDATED';
    if (ex > co + 1) return 'VERSION_AHEAD';
    return 'UP_TO_DATE';
  }
  const exDate = parseInsidersDate(executorVersion);
  const coDate = parseInsidersDate(coordinatorVersion);
  if (exDate !== null && coDate !== null) {
    const days = (exDate - coDate) / 86_400_000;
    if (days < -RELEASE_CYCLE_DAYS) return 'OUTDATED';
    if (days > RELEASE_CYCLE_DAYS) return 'VERSION_AHEAD';
    return 'UP_TO_DATE';
  }
  return null;
}
