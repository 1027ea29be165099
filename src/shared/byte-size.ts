// Sizes as the original's config reads them ("12G", "20GB", "512Mi", "1048576"): decimal and binary units.

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  ki: 2 ** 10, kib: 2 ** 10, mi: 2 ** 20, mib: 2 ** 20, gi: 2 ** 30, gib: 2 ** 30, ti: 2 ** 40, tib: 2 ** 40,
};

/** Parses a size into bytes. Throws an Error naming the input on bad syntax. */
export function parseByteSize(input: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(input);
  const unit = UNITS[m?.[2]?.toLowerCase() ?? 'x'];
  if (!m || unit === undefined) throw new Error(`invalid size ${JSON.stringify(input)}: expected a number with an optional unit such as 512M, 12G, 20GB or 1GiB`);
  return Math.round(Number(m[1]) * unit);
}

/**
 * A memory size as docker's `--memory` reads it (go-units RAMInBytes): k, m, g, t with or without `b` and
 * the `i` forms are all powers of 1024, so `256m` is 256 MiB for the vm runtime as for docker's.
 */
export function parseMemorySize(input: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b?)\s*$/i.exec(input);
  if (!m) throw new Error(`invalid memory size ${JSON.stringify(input)}: expected a number with an optional unit such as 512m, 12G or 1GiB`);
  const power = ['', 'k', 'm', 'g', 't'].indexOf(m[2]!.toLowerCase());
  return Math.round(Number(m[1]) * 1024 ** power);
}
