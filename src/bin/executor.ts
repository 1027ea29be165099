// Entry point of bin/executor.
import { runExecutorCli } from '../executor/main.js';
import { createJobHandler } from '../executor/runtime-handler.js';

runExecutorCli(process.argv.slice(2), process.env, { handlerFactory: createJobHandler }).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`executor: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(1);
  },
);
