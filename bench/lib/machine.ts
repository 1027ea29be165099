// One line describing where a bench ran, printed before its figures: CPUs, memory, load, Node.
import os from 'node:os';

export function describeMachine(): string {
  const memGb = (os.totalmem() / 2 ** 30).toFixed(1);
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  return `${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim() ?? 'unknown'}), ${memGb} GiB RAM, load ${load}, Node ${process.version}`;
}

export function printHeader(title: string, extra: readonly string[] = []): void {
  process.stdout.write(`== ${title} ==\n${new Date().toISOString()}  ${describeMachine()}\n${extra.map((l) => l + '\n').join('')}`);
}
