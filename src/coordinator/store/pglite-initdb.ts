// Run as a child process by initPgliteDataDir: creates a new PGlite data directory, then exits. PGlite's
// initdb peaks near 900 MB and WebAssembly memory never shrinks, so doing it here lets the coordinator
// open the finished directory at ~320 MB instead of keeping the peak for its whole life. (A bundle runs
// the same function through its entry point's PGLITE_INITDB_COMMAND instead of this file.)
import { createPgliteDataDir } from './pglite-database.js';

const dataDir = process.argv[2];
if (!dataDir) {
  process.stderr.write('usage: pglite-initdb <data directory>\n');
  process.exit(2);
}
await createPgliteDataDir(dataDir);
process.exit(0);
