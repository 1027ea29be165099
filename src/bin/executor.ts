// Entry point of bin/executor. The agent itself (run, validate, install, test-vm) is the next piece of
// work (issue 3); until it lands this says so plainly instead of pretending.
const command = process.argv[2] ?? 'run';
if (command === 'help' || command === '--help' || command === '-h') {
  process.stdout.write('Usage: executor [run | validate | install | test-vm]\n\nThe executor agent is not implemented yet in this build.\n');
  process.exit(0);
}
process.stderr.write(`executor ${command}: the executor agent is not implemented yet in this build; only the coordinator is.\n`);
process.exit(2);
