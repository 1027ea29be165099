// PGlite is one process's database: two processes opening the same files corrupt them. A lock file in the
// data directory names the process that has it open; another one (a second `serve`, or `create-user`
// while `serve` runs) is refused with a message saying who holds it. A lock left by a dead process is taken over.
import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../../shared/errors.js';

export const LOCK_FILE = 'coordinator.lock';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock of `dataDir` for this process; returns its release. `store.embedded_in_use` when a live process holds it. */
export function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      let released = false;
      return () => {
        if (released) return;
        released = true;
        fs.rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(fs.readFileSync(file, 'utf8').trim());
      if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
        throw new AppError(
          'store.embedded_in_use',
          `the embedded database in ${dataDir} is open in another coordinator process (pid ${holder}): stop it first, or use COORDINATOR_DATABASE_URL (a PostgreSQL server) to run several`,
        );
      }
      // Left by a process that is gone (or unreadable): take it over.
      fs.rmSync(file, { force: true });
    }
  }
  throw new AppError('store.embedded_in_use', `cannot take the lock ${file}`);
}
