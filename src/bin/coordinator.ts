// Entry point of bin/coordinator.
import { limitHeapGrowth } from '../coordinator/heap-growth.js';
import { runCoordinatorCli } from '../coordinator/main.js';
import { PGLITE_INITDB_COMMAND } from '../coordinator/store/pglite-assets.js';

limitHeapGrowth();
const argv = process.argv.slice(2);
// A bundled coordinator runs its embedded database's initdb in a child process of itself (pglite-database.ts).
const run =
  argv[0] === PGLITE_INITDB_COMMAND && argv[1]
    ? import('../coordinator/store/pglite-database.js').then(async (m) => (await m.createPgliteDataDir(argv[1]!), 0))
    : runCoordinatorCli(argv, process.env);

run.then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`coordinator: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
