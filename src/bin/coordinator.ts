// Entry point of bin/coordinator.
import { runCoordinatorCli } from '../coordinator/main.js';

runCoordinatorCli(process.argv.slice(2), process.env).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`coordinator: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
