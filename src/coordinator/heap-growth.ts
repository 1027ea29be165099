// How far V8 lets the coordinator's heap grow past what survived the last full collection before the
// next one. V8's own factor (up to 4× for a small live heap) let garbage promoted while a large SCIP
// upload is processed pile up to 110–130 MB before a mark-compact: the live heap stayed ~20–30 MB, but
// the coordinator's RSS grew by 88–154 MB from one run of bench/codeintel.ts to the next (1M
// occurrences, 5.7 MB gzip; the target is ≤ 2× that + 100 MB). A fixed factor of 2 made it 76–88 MB in
// every run at the same throughput (320–418k occurrences/s); a factor of 1.5 cost up to a third of it,
// `--optimize-for-size` half. Full collections of a small live heap take ~3 ms here.
import v8 from 'node:v8';

export const HEAP_GROWING_PERCENT = 100;

/** Sets the growth factor unless the operator chose one (NODE_OPTIONS cannot carry it; `node --heap-growing-percent=…` can). */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv): void {
  if (execArgv.some((a) => a.startsWith('--heap-growing-percent') || a.startsWith('--heap_growing_percent'))) return;
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
