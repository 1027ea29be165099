// `npm run indexer-images`: builds the images the docker and vm runtimes run index jobs in — the ones the
// default indexer map names — from deploy/docker/codeintel/*.Dockerfile:
//   executors-scip-typescript:<scip-typescript version>  scip-typescript, npm, git, src
//   executors-scip-python:<scip-python version>          scip-python, python3, pip, git, src
//   executors-src-cli:<package version>                  src and git (the upload step, the batch helper steps)
// The npm packages are installed into the build context here (the npm registry, or npm's cache), and
// `src` is bundled with esbuild, so the image builds need no registry.
// Usage: npm run indexer-images [-- --local-base] [--base-image IMAGE] [--only scip-typescript|scip-python|src-cli]
//   --local-base   build FROM a Node base image made from Debian's packages (deploy/docker/local-base-image.sh,
//                  the same one `npm run images -- --local-base` uses): for machines that reach no registry
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { DEFAULT_INDEXER_IMAGES, DEFAULT_SRC_CLI_IMAGE, SCIP_PYTHON_VERSION, SCIP_TYPESCRIPT_VERSION } from '../../src/coordinator/codeintel/indexer-map.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const INDEXER_IMAGES = {
  'scip-typescript': { tag: DEFAULT_INDEXER_IMAGES.typescript, packages: { '@sourcegraph/scip-typescript': SCIP_TYPESCRIPT_VERSION }, npm: true },
  'scip-python': { tag: DEFAULT_INDEXER_IMAGES.python, packages: { '@sourcegraph/scip-python': SCIP_PYTHON_VERSION }, npm: false },
  'src-cli': { tag: DEFAULT_SRC_CLI_IMAGE, packages: {}, npm: false },
} as const;
export type IndexerImage = keyof typeof INDEXER_IMAGES;

function run(command: string, args: string[], options: { cwd?: string; capture?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? ROOT, stdio: ['ignore', options.capture ? 'pipe' : 'inherit', 'inherit'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', (err) => reject(new Error(`${command}: ${err.message}`)));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
}

export async function buildIndexerImages(options: { localBase?: boolean; baseImage?: string; only?: IndexerImage[]; /** docker build -q (tests) */ quiet?: boolean } = {}): Promise<string[]> {
  const contextRoot = path.join(ROOT, 'release/indexer-images');
  await fs.mkdir(contextRoot, { recursive: true });
  // One build at a time per checkout: two (the docker and vm code-intel tests, run side by side) would
  // rewrite the shared build contexts under each other's docker build.
  return withBuildLock(path.join(contextRoot, '.build.lock'), () => buildIndexerImagesLocked(options, contextRoot));
}

async function buildIndexerImagesLocked(options: Parameters<typeof buildIndexerImages>[0] & object, contextRoot: string): Promise<string[]> {
  let baseImage = options.baseImage;
  if (options.localBase) baseImage = (await run('bash', [path.join(ROOT, 'deploy/docker/local-base-image.sh')], { capture: true })).trim();
  // One bundle of src for every image: what the upload step runs.
  const srcBundle = path.join(contextRoot, 'src.cjs');
  await esbuild.build({ absWorkingDir: ROOT, entryPoints: ['src/bin/src.ts'], outfile: srcBundle, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'warning' });
  const npmDir = path.join(execFileSync('npm', ['root', '-g'], { encoding: 'utf8' }).trim(), 'npm');
  const tags: string[] = [];
  for (const name of options.only ?? (Object.keys(INDEXER_IMAGES) as IndexerImage[])) {
    const spec = INDEXER_IMAGES[name];
    const context = path.join(contextRoot, name);
    await fs.mkdir(path.join(context, 'src'), { recursive: true });
    await fs.copyFile(srcBundle, path.join(context, 'src/src.cjs'));
    await fs.mkdir(path.join(context, 'tools'), { recursive: true });
    if (Object.keys(spec.packages).length > 0) {
      const pkg = JSON.stringify({ name: `executors-${name}-image`, private: true, dependencies: spec.packages }, null, 2);
      const pkgPath = path.join(context, 'tools/package.json');
      const old = await fs.readFile(pkgPath, 'utf8').catch(() => '');
      // Unchanged inputs keep the context byte-identical, so docker's layer cache holds.
      if (old !== pkg || !(await fs.stat(path.join(context, 'tools/node_modules')).catch(() => null))) {
        await fs.writeFile(pkgPath, pkg);
        process.stderr.write(`indexer-images: npm install ${Object.entries(spec.packages).map(([p, v]) => `${p}@${v}`).join(' ')}\n`);
        await run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', '--no-package-lock'], { cwd: path.join(context, 'tools') });
      }
    }
    if (spec.npm) await run('rsync', ['-a', '--delete', `${npmDir}/`, path.join(context, 'npm/')]).catch(async () => {
      await fs.rm(path.join(context, 'npm'), { recursive: true, force: true });
      await fs.cp(npmDir, path.join(context, 'npm'), { recursive: true, verbatimSymlinks: true });
    });
    const args = ['build', ...(options.quiet ? ['-q'] : []), '-f', path.join(ROOT, `deploy/docker/codeintel/${name}.Dockerfile`), '-t', spec.tag, '--build-arg', `VERSION=${spec.tag.split(':').pop()}`];
    if (baseImage) args.push('--build-arg', `BASE_IMAGE=${baseImage}`);
    args.push(context);
    process.stderr.write(`indexer-images: building ${spec.tag}${baseImage ? ` FROM ${baseImage}` : ''}\n`);
    await run('docker', args, { capture: options.quiet });
    tags.push(spec.tag);
  }
  return tags;
}

/**
 * Runs `fn` holding `lockFile` (created exclusively, holding this pid); waits while another live process
 * holds it, and takes over one whose process is gone.
 */
async function withBuildLock<T>(lockFile: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      await fs.writeFile(lockFile, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number((await fs.readFile(lockFile, 'utf8').catch(() => '')).trim());
    // An empty file is a lock being written: held.
    if (Number.isInteger(holder) && holder > 0 && !processAlive(holder)) await fs.rm(lockFile, { force: true });
    else await new Promise((resolve) => setTimeout(resolve, 500));
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lockFile, { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseArgs(argv: string[]): Parameters<typeof buildIndexerImages>[0] {
  const options: { localBase?: boolean; baseImage?: string; only?: IndexerImage[] } = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--local-base') options.localBase = true;
    else if (arg === '--base-image' && argv[i + 1]) options.baseImage = argv[++i];
    else if (arg === '--only' && argv[i + 1]) {
      const name = argv[++i] as IndexerImage;
      if (!(name in INDEXER_IMAGES)) throw new Error(`--only: expected one of ${Object.keys(INDEXER_IMAGES).join(', ')}, got ${JSON.stringify(name)}`);
      (options.only ??= []).push(name);
    } else throw new Error(`indexer-images: unexpected argument ${JSON.stringify(arg)}; usage: npm run indexer-images [-- --local-base] [--base-image IMAGE] [--only scip-typescript|scip-python|src-cli]`);
  }
  if (options.localBase && options.baseImage) throw new Error('indexer-images: pass --local-base or --base-image, not both');
  return options;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const tags = await buildIndexerImages(parseArgs(process.argv.slice(2)));
    process.stdout.write(tags.map((t) => `${t}\n`).join(''));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
}
