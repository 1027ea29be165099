// Bundles bin/executor and bin/coordinator with esbuild into one CommonJS file each (what a Node single
// executable application can run, and what the container images run with their node), with the version
// and commit written in, and PGlite's WebAssembly and data files beside them.
// Usage: node --import tsx scripts/build/bundle.ts [--out DIR]   (default release/bundle)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The programs a release has: the bundle `<name>.cjs` from `src/bin/<name>.ts`. */
export const PROGRAMS = ['executor', 'coordinator'] as const;
export type Program = (typeof PROGRAMS)[number];

/** PGlite's files that its code loads at run time (see src/coordinator/store/pglite-assets.ts). */
export const PGLITE_FILES = ['pglite.wasm', 'initdb.wasm', 'pglite.data'] as const;

export interface BundleInfo {
  dir: string;
  version: string;
  commit: string;
}

/** The commit of the checkout (`-dirty` when tracked files changed), or `dev` without git. */
export function sourceCommit(): string {
  try {
    const head = execFileSync('git', ['-C', ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head}-dirty` : head;
  } catch {
    return 'dev';
  }
}

export async function packageVersion(): Promise<string> {
  return (JSON.parse(await fs.readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Bundles both programs into `outDir` (emptied first). */
export async function bundlePrograms(outDir = path.join(ROOT, 'release/bundle')): Promise<BundleInfo> {
  const version = await packageVersion();
  const commit = sourceCommit();
  await fs.rm(outDir, { recursive: true, force: true });
  await fs.mkdir(outDir, { recursive: true });
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: Object.fromEntries(PROGRAMS.map((p) => [p, `src/bin/${p}.ts`])),
    outdir: outDir,
    outExtension: { '.js': '.cjs' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    // CommonJS: a Node 20 single executable runs only a CommonJS script.
    format: 'cjs',
    // import.meta.url is each bundle's own file, so PGlite finds its files beside it (pglite-assets.ts).
    define: {
      'import.meta.url': '__executorsImportMetaUrl',
      __EXECUTORS_BUILD__: JSON.stringify({ version, commit }),
    },
    banner: { js: "const __executorsImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    // pg's optional native binding is never used (pure JavaScript client).
    external: ['pg-native'],
    // Stack traces and log lines keep the source's function and class names.
    keepNames: true,
    legalComments: 'linked',
    logLevel: 'warning',
    metafile: true,
  });
  if (result.errors.length > 0) throw new Error(`esbuild failed: ${result.errors.map((e) => e.text).join('; ')}`);
  const pgliteDist = path.join(ROOT, 'node_modules/@electric-sql/pglite/dist');
  for (const file of PGLITE_FILES) await fs.copyFile(path.join(pgliteDist, file), path.join(outDir, file));
  await fs.writeFile(path.join(outDir, 'VERSION'), `${version}\n${commit}\n`);
  return { dir: outDir, version, commit };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--out');
  const info = await bundlePrograms(i > 0 ? path.resolve(process.argv[i + 1] ?? '') : undefined);
  process.stdout.write(`bundled executors ${info.version} (commit ${info.commit}) into ${path.relative(process.cwd(), info.dir) || '.'}\n`);
}
