// Prints a small aligned text table (first column left-aligned, the others right-aligned).

export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function printTable(title: string, header: readonly string[], rows: ReadonlyArray<readonly string[]>): void {
  process.stdout.write(`\n${title}\n${formatTable(header, rows)}\n`);
}

/** `n` with `digits` decimals, or `-` when it is not a finite number. */
export function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}
