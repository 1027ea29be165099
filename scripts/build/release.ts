// `npm run release`: the two release binaries, release/executor-linux-amd64 and
// release/coordinator-linux-amd64 — Node single executable applications (this Node's binary with the
// program's bundle injected by postject), so a host needs neither Node.js nor npm. PGlite's WebAssembly and
// data files go into the coordinator as SEA assets (src/coordinator/store/pglite-assets.ts): one file each.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { bundlePrograms, PGLITE_FILES, PROGRAMS, ROOT, type Program } from './bundle.js';

const run = promisify(execFile);

/** The fuse string Node's binary carries for postject to flip (Node's single-executable docs). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export interface ReleaseInfo {
  version: string;
  commit: string;
  binaries: Record<Program, string>;
}

export function releaseBinaryName(program: Program): string {
  return `${program}-linux-amd64`;
}

/** Builds both release binaries into `outDir` (default release/) from this checkout. */
export async function buildRelease(outDir = path.join(ROOT, 'release')): Promise<ReleaseInfo> {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`release binaries embed the Node.js binary that builds them: build on linux amd64 (this is ${process.platform} ${process.arch})`);
  }
  const nodeBinary = await fs.readFile(process.execPath);
  if (!nodeBinary.includes(SEA_FUSE)) throw new Error(`${process.execPath} was built without single executable application support (no ${SEA_FUSE})`);
  const bundle = await bundlePrograms(path.join(outDir, 'bundle'));
  const work = path.join(outDir, '.sea');
  await fs.rm(work, { recursive: true, force: true });
  await fs.mkdir(work, { recursive: true });
  const binaries = {} as Record<Program, string>;
  const sums: string[] = [];
  for (const program of PROGRAMS) {
    const config = {
      main: path.join(bundle.dir, `${program}.cjs`),
      output: path.join(work, `${program}.blob`),
      disableExperimentalSEAWarning: true,
      // The coordinator's embedded database; the executor has no use for it.
      assets: program === 'coordinator' ? Object.fromEntries(PGLITE_FILES.map((f) => [f, path.join(bundle.dir, f)])) : {},
    };
    const configFile = path.join(work, `${program}.json`);
    await fs.writeFile(configFile, JSON.stringify(config, null, 2));
    await run(process.execPath, ['--experimental-sea-config', configFile], { cwd: work });
    const binary = path.join(outDir, releaseBinaryName(program));
    await fs.rm(binary, { force: true });
    await fs.writeFile(binary, nodeBinary, { mode: 0o755 });
    const postject = path.join(ROOT, 'node_modules/postject/dist/cli.js');
    // postject prints a warning per ELF note section it cannot name; only a failure matters.
    await run(process.execPath, [postject, binary, 'NODE_SEA_BLOB', config.output, '--sentinel-fuse', SEA_FUSE], { maxBuffer: 16 * 1024 * 1024 });
    binaries[program] = binary;
    sums.push(`${createHash('sha256').update(await fs.readFile(binary)).digest('hex')}  ${path.basename(binary)}`);
  }
  await fs.writeFile(path.join(outDir, 'SHA256SUMS'), sums.join('\n') + '\n');
  await fs.rm(work, { recursive: true, force: true });
  return { version: bundle.version, commit: bundle.commit, binaries };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const info = await buildRelease();
  for (const binary of Object.values(info.binaries)) {
    const { size } = await fs.stat(binary);
    process.stdout.write(`${path.relative(process.cwd(), binary)}  ${(size / 1024 / 1024).toFixed(1)} MiB\n`);
  }
  process.stdout.write(`executors ${info.version} (commit ${info.commit})\n`);
}
