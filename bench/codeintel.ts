// Code intelligence: processing throughput (occurrences per second) and the coordinator's resident
// memory while it processes a large SCIP upload, and p50/p99 of definitions and references queries.
// Baseline in the same run: decoding the same file alone (gunzip + the same streaming SCIP reader, no
// storage). The index is generated (BENCH_CODEINTEL_DOCUMENTS × BENCH_CODEINTEL_OCCURRENCES per document,
// default 2,000 × 500 = 1,000,000 occurrences), over a real git repository with those files; the
// coordinator is the compiled JavaScript on a scratch PostgreSQL database (and PGlite with
// BENCH_CODEINTEL_PGLITE=1). Targets: ≥ 200,000 occurrences/s, RSS growth ≤ 2× the compressed index +
// 100 MB, query p99 ≤ 20 ms.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { create, toBinary } from '@bufbuild/protobuf';
import { DocumentSchema, IndexSchema, MetadataSchema, OccurrenceSchema, SymbolInformationSchema, ToolInfoSchema } from '@c4312/scip/scip_pb.js';
import { maybeGunzip } from '../src/coordinator/codeintel/scip-importer.js';
import { readScipIndex } from '../src/coordinator/codeintel/scip-stream-reader.js';
import { compileProject } from './lib/compiled.js';
import { startCoordinator } from './lib/coordinator-process.js';
import { printHeader } from './lib/machine.js';
import { readMemoryMib } from './lib/proc-status.js';
import { createScratchDatabase, describeServer } from './lib/scratch-database.js';
import { summarize } from './lib/stats.js';
import { fmt, printTable } from './lib/table.js';

const run = promisify(execFile);
const DOCUMENTS = Number(process.env.BENCH_CODEINTEL_DOCUMENTS ?? 2000);
const OCC_PER_DOC = Number(process.env.BENCH_CODEINTEL_OCCURRENCES ?? 500);
const QUERIES = Number(process.env.BENCH_CODEINTEL_QUERIES ?? 500);
const FUNCTIONS_PER_DOC = 20;
const REPO = 'github.com/bench/generated';

const symbolOf = (doc: number, fn: number) => `scip-typescript npm bench 1.0.0 src/gen/\`f${doc}.ts\`/fn${fn}().`;

/** A generated index: each document defines FUNCTIONS_PER_DOC documented functions and references others. */
function generateIndex(): { bytes: Uint8Array; positions: Array<{ path: string; line: number; character: number }> } {
  let seed = 42;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const positions: Array<{ path: string; line: number; character: number }> = [];
  const documents = [];
  for (let d = 0; d < DOCUMENTS; d++) {
    const occurrences = [];
    const symbols = [];
    for (let f = 0; f < FUNCTIONS_PER_DOC; f++) {
      occurrences.push(create(OccurrenceSchema, { range: [f * 3, 16, 20], symbol: symbolOf(d, f), symbolRoles: 1 }));
      symbols.push(create(SymbolInformationSchema, { symbol: symbolOf(d, f), documentation: [`\`\`\`ts\nfunction fn${f}(): number\n\`\`\``, `Function ${f} of file ${d}.`] }));
    }
    for (let i = FUNCTIONS_PER_DOC; i < OCC_PER_DOC; i++) {
      const line = FUNCTIONS_PER_DOC * 3 + i;
      if (i % 5 === 0) {
        occurrences.push(create(OccurrenceSchema, { range: [line, 4, 9], symbol: `local ${i % 50}`, symbolRoles: i % 50 === 0 ? 1 : 0 }));
      } else {
        occurrences.push(create(OccurrenceSchema, { range: [line, 10, 14], symbol: symbolOf(rand(DOCUMENTS), rand(FUNCTIONS_PER_DOC)), symbolRoles: 8 }));
        if (positions.length < QUERIES * 4 && rand(10) === 0) positions.push({ path: `src/gen/f${d}.ts`, line, character: 11 });
      }
    }
    documents.push(create(DocumentSchema, { relativePath: `src/gen/f${d}.ts`, language: 'typescript', occurrences, symbols }));
  }
  const index = create(IndexSchema, {
    metadata: create(MetadataSchema, { projectRoot: 'file:///bench', toolInfo: create(ToolInfoSchema, { name: 'scip-typescript', version: '0.4.0' }) }),
    documents,
  });
  return { bytes: toBinary(IndexSchema, index), positions };
}

async function decodeAlone(compressed: Buffer): Promise<{ occurrences: number; seconds: number; cpuSeconds: number }> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  let occurrences = 0;
  async function* chunks() {
    for (let i = 0; i < compressed.length; i += 1024 * 1024) yield compressed.subarray(i, i + 1024 * 1024);
  }
  for await (const item of readScipIndex(maybeGunzip(chunks()))) if (item.kind === 'document') occurrences += item.document.occurrences.length;
  const used = process.cpuUsage(cpu);
  return { occurrences, seconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat (100 ticks a second). */
async function cpuSeconds(pid: number): Promise<number> {
  const fields = (await fs.readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Measurement {
  backend: string;
  cpuSeconds: number;
  occurrences: number;
  processingSeconds: number;
  rssBeforeMib: number;
  rssPeakMib: number;
  definitions: ReturnType<typeof summarize>;
  references: ReturnType<typeof summarize>;
}

async function measure(backend: string, databaseUrl: string | undefined, coordinatorJs: string, repoDir: string, commit: string, compressed: Buffer, positions: Array<{ path: string; line: number; character: number }>): Promise<Measurement> {
  const coordinator = await startCoordinator({ databaseUrl, command: [process.execPath, coordinatorJs, 'serve'] });
  try {
    const auth = { authorization: `Bearer ${coordinator.adminToken}` };
    const reg = await fetch(`${coordinator.url}/api/v1/repositories`, { method: 'POST', headers: auth, body: JSON.stringify({ name: REPO, url: repoDir }) });
    if (reg.status !== 201) throw new Error(`registering the repository: ${reg.status} ${await reg.text()}`);
    await new Promise((r) => setTimeout(r, 2000));
    const rssBeforeMib = readMemoryMib(coordinator.pid, 'VmRSS');
    let peak = rssBeforeMib;
    const sampler = setInterval(() => (peak = Math.max(peak, readMemoryMib(coordinator.pid, 'VmRSS') || 0)), 20);
    const cpuBefore = await cpuSeconds(coordinator.pid);
    const up = await fetch(`${coordinator.url}/.api/scip/upload?${new URLSearchParams({ repository: REPO, commit, indexerName: 'scip-typescript' })}`, { method: 'POST', headers: { authorization: `token ${coordinator.adminToken}` }, body: new Uint8Array(compressed) });
    if (up.status !== 202) throw new Error(`upload: ${up.status} ${await up.text()}`);
    const { id } = (await up.json()) as { id: string };
    let upload: { state: string; occurrences: number; startedAt: string; finishedAt: string; failureMessage: string | null };
    for (;;) {
      upload = (await (await fetch(`${coordinator.url}/api/v1/codeintel/uploads/${id}`, { headers: auth })).json()) as typeof upload;
      if (upload.state === 'completed' || upload.state === 'errored') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    clearInterval(sampler);
    const cpu = (await cpuSeconds(coordinator.pid)) - cpuBefore;
    if (upload.state !== 'completed') throw new Error(`upload errored: ${upload.failureMessage}`);
    const timed = async (kind: 'definitions' | 'references') => {
      const samples: number[] = [];
      for (let i = 0; i < QUERIES; i++) {
        const p = positions[i % positions.length]!;
        const url = `${coordinator.url}/api/v1/codeintel/${kind}?${new URLSearchParams({ repository: REPO, commit, path: p.path, line: String(p.line), character: String(p.character), ...(kind === 'references' ? { first: '100' } : {}) })}`;
        const started = performance.now();
        const res = await fetch(url, { headers: auth });
        const body = (await res.json()) as { locations: unknown[] };
        samples.push(performance.now() - started);
        if (res.status !== 200 || body.locations.length === 0) throw new Error(`${kind} at ${JSON.stringify(p)}: ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
      }
      return summarize(samples);
    };
    // A warm-up pass, then the measured ones.
    await timed('definitions');
    return {
      backend,
      cpuSeconds: cpu,
      occurrences: upload.occurrences,
      processingSeconds: (Date.parse(upload.finishedAt) - Date.parse(upload.startedAt)) / 1000,
      rssBeforeMib,
      rssPeakMib: peak,
      definitions: await timed('definitions'),
      references: await timed('references'),
    };
  } finally {
    await coordinator.stop();
  }
}

async function main(): Promise<void> {
  printHeader('code intelligence: SCIP processing and navigation', [await describeServer(), `index: ${DOCUMENTS} documents × ${OCC_PER_DOC} occurrences (generated), ${QUERIES} queries of each kind`]);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-bench-codeintel-'));
  const tree = await compileProject('bin/coordinator.js');
  if (!tree) throw new Error('tsc emitted no bin/coordinator.js');
  try {
    const { bytes, positions } = generateIndex();
    const compressed = gzipSync(bytes);
    // A repository with the index's files (processing drops paths that are not in the commit).
    const repoDir = path.join(work, 'repo');
    await fs.mkdir(path.join(repoDir, 'src/gen'), { recursive: true });
    for (let d = 0; d < DOCUMENTS; d++) await fs.writeFile(path.join(repoDir, `src/gen/f${d}.ts`), `// file ${d}\n`);
    const git = (...args: string[]) => run('git', args, { cwd: repoDir });
    await git('init', '-q', '-b', 'main');
    await git('-c', 'user.email=b@example.com', '-c', 'user.name=bench', 'add', '-A');
    await git('-c', 'user.email=b@example.com', '-c', 'user.name=bench', 'commit', '-qm', 'generated');
    const commit = (await git('rev-parse', 'HEAD')).stdout.trim();

    const baseline = await decodeAlone(compressed);
    const rows: Measurement[] = [];
    const database = await createScratchDatabase('codeintel');
    try {
      rows.push(await measure('PostgreSQL', database.url, path.join(tree.dir, 'bin/coordinator.js'), repoDir, commit, compressed, positions));
    } finally {
      await database.drop();
    }
    if (process.env.BENCH_CODEINTEL_PGLITE === '1') rows.push(await measure('PGlite', undefined, path.join(tree.dir, 'bin/coordinator.js'), repoDir, commit, compressed, positions));

    const compressedMb = compressed.length / 1e6;
    printTable(
      `processing (index: ${(bytes.length / 1e6).toFixed(1)} MB, ${compressedMb.toFixed(1)} MB compressed; targets ≥ 200,000 occ/s, RSS growth ≤ ${fmt(2 * compressedMb + 100, 0)} MB)`,
      ['run', 'occurrences', 'wall s', 'occurrences/s', 'CPU s', 'occurrences/CPU-s', 'RSS before MiB', 'RSS peak MiB', 'growth MB'],
      [
        ['baseline: decode the same file alone', String(baseline.occurrences), fmt(baseline.seconds, 2), fmt(baseline.occurrences / baseline.seconds, 0), fmt(baseline.cpuSeconds, 2), fmt(baseline.occurrences / baseline.cpuSeconds, 0), '-', '-', '-'],
        ...rows.map((r) => [
          `coordinator on ${r.backend}`,
          String(r.occurrences),
          fmt(r.processingSeconds, 2),
          fmt(r.occurrences / r.processingSeconds, 0),
          fmt(r.cpuSeconds, 2),
          fmt(r.occurrences / r.cpuSeconds, 0),
          fmt(r.rssBeforeMib, 0),
          fmt(r.rssPeakMib, 0),
          fmt(((r.rssPeakMib - r.rssBeforeMib) * 2 ** 20) / 1e6, 0),
        ]),
      ],
    );
    process.stdout.write(`(coordinator CPU s: the coordinator process's user + system time from the upload to completed; PostgreSQL's own time is not in it; load average at the end: ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})\n`);
    printTable(
      'queries over HTTP, ms (target p99 ≤ 20)',
      ['query', 'n', 'p50', 'p90', 'p99', 'max'],
      rows.flatMap((r) => [
        [`definitions (${r.backend})`, String(r.definitions.n), fmt(r.definitions.p50, 2), fmt(r.definitions.p90, 2), fmt(r.definitions.p99, 2), fmt(r.definitions.max, 2)],
        [`references, first 100 (${r.backend})`, String(r.references.n), fmt(r.references.p50, 2), fmt(r.references.p90, 2), fmt(r.references.p99, 2), fmt(r.references.max, 2)],
      ]),
    );
  } finally {
    await tree.remove();
    await fs.rm(work, { recursive: true, force: true });
  }
}

await main();
