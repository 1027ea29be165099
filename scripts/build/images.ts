// `npm run images`: builds executors/executor:latest and executors/coordinator:latest (also tagged with the
// package version) from deploy/docker/*.Dockerfile, with the programs bundled into the build context.
// Usage: npm run images [-- --local-base] [--base-image IMAGE] [--only executor|coordinator]
//   --local-base   first build the base image from Debian's packages (deploy/docker/local-base-image.sh)
//                  and build FROM it: for machines that reach no container registry
//   --base-image   build FROM this image (default the Dockerfiles' ARG BASE_IMAGE, node:20-trixie-slim)
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundlePrograms, PROGRAMS, ROOT, type Program } from './bundle.js';

export interface ImagesOptions {
  /** Keep the builds' output (shown only when one fails). Default false: it goes to the terminal. */
  quiet?: boolean;
  localBase?: boolean;
  baseImage?: string;
  only?: Program[];
  /** Image names: `<repository>/<program>`. Default `executors`. */
  repository?: string;
  /** Tags to give each image. Default `latest` and the package version. */
  tags?: string[];
}

/**
 * Runs a command; its stderr (and stdout, unless captured) goes to ours, or, `quiet`, is kept and its
 * last lines put into the error. Resolves with the captured stdout; rejects naming the command.
 */
function runCommand(command: string, args: string[], options: { captureStdout?: boolean; quiet?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', options.captureStdout || options.quiet ? 'pipe' : 'inherit', options.quiet ? 'pipe' : 'inherit'] });
    let out = '';
    let kept = '';
    child.stdout?.on('data', (d: Buffer) => {
      if (options.captureStdout) out += d.toString();
      else kept = (kept + d.toString()).slice(-8000);
    });
    child.stderr?.on('data', (d: Buffer) => (kept = (kept + d.toString()).slice(-8000)));
    child.on('error', (err) => reject(new Error(`${command}: ${err.message}`)));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited with ${code}${kept ? `:\n${kept}` : ''}`))));
  });
}

/** Builds the images; resolves with the tags made. */
export async function buildImages(options: ImagesOptions = {}): Promise<string[]> {
  // A context of its own per build: builds of two checkouts, or two tests, never share one.
  const context = await fs.mkdtemp(path.join(os.tmpdir(), 'executors-image-context-'));
  try {
    return await buildImagesFrom(context, options);
  } finally {
    await fs.rm(context, { recursive: true, force: true });
  }
}

async function buildImagesFrom(context: string, options: ImagesOptions): Promise<string[]> {
  const repository = options.repository ?? 'executors';
  const bundle = await bundlePrograms(path.join(context, 'bundle'));
  await fs.cp(path.join(ROOT, 'deploy/docker'), path.join(context, 'docker'), { recursive: true });
  let baseImage = options.baseImage;
  if (options.localBase) baseImage = (await runCommand('bash', [path.join(ROOT, 'deploy/docker/local-base-image.sh')], { captureStdout: true, quiet: options.quiet })).trim();
  const tags: string[] = [];
  for (const program of options.only ?? PROGRAMS) {
    const name = `${repository}/${program}`;
    const names = (options.tags ?? ['latest', bundle.version]).map((tag) => `${name}:${tag}`);
    const args = ['build', '-f', path.join(ROOT, `deploy/docker/${program}.Dockerfile`), ...names.flatMap((n) => ['-t', n])];
    if (baseImage) args.push('--build-arg', `BASE_IMAGE=${baseImage}`);
    args.push('--build-arg', `VERSION=${bundle.version}`, '--build-arg', `COMMIT=${bundle.commit}`, context);
    if (!options.quiet) process.stderr.write(`images: building ${names[0]}${baseImage ? ` FROM ${baseImage}` : ''}\n`);
    await runCommand('docker', args, { quiet: options.quiet });
    tags.push(...names);
  }
  return tags;
}

function parseArgs(argv: string[]): ImagesOptions {
  const options: ImagesOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--local-base') options.localBase = true;
    else if (arg === '--base-image' && argv[i + 1]) options.baseImage = argv[++i];
    else if (arg === '--only' && argv[i + 1]) {
      const program = argv[++i] as Program;
      if (!PROGRAMS.includes(program)) throw new Error(`--only: expected one of ${PROGRAMS.join(', ')}, got ${JSON.stringify(program)}`);
      (options.only ??= []).push(program);
    } else throw new Error(`images: unexpected argument ${JSON.stringify(arg)}; usage: npm run images [-- --local-base] [--base-image IMAGE] [--only executor|coordinator]`);
  }
  if (options.localBase && options.baseImage) throw new Error('images: --local-base and --base-image are two answers to one question: pass one');
  return options;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const tags = await buildImages(parseArgs(process.argv.slice(2)));
    process.stdout.write(tags.map((t) => `${t}\n`).join(''));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
}
