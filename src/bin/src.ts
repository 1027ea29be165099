// Entry point of bin/src (`src code-intel upload`, what index jobs run).
import { runSrcCli } from '../src-cli/main.js';

runSrcCli(process.argv.slice(2), process.env, {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  cwd: process.cwd(),
}).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`src: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(1);
  },
);
