// Where a vm step's image comes from: the host's docker image store (`docker image inspect`, then `docker
// create` + `docker export` into a directory, never a pull) or a registry (`skopeo inspect`/`skopeo copy`
// into an OCI layout, `umoci raw unpack` into a directory). Each gives the image's config digest and Env
// first, cheaply, so that the cache can answer without touching layers, and the root filesystem on request.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { IMAGE_REFERENCE_FORM, IMAGE_REFERENCE_PATTERN, isImageReference } from '../../../../protocol/image-reference.js';
import type { DockerAuthConfig } from '../../../../protocol/job.js';
import { AppError } from '../../../../shared/errors.js';
import { toProcessEnv, type DockerCliEnv } from '../../docker/docker-cli.js';

export interface ImageReference {
  /** As the step named it. */
  reference: string;
  /** The registry host (`host[:port]`); docker's rule: the first component is one when it has `.` or `:` or is `localhost`. */
  registryHost: string;
  /** The reference for skopeo: containers/image refuses a tag and a digest together, and the digest wins. */
  pullReference: string;
}

/** Parses `reference`; throws `vm.image_reference_invalid` for anything outside docker's grammar. */
export function parseImageReference(reference: string): ImageReference {
  const groups = IMAGE_REFERENCE_PATTERN.exec(reference)?.groups;
  if (!groups || !isImageReference(reference)) {
    throw new AppError('vm.image_reference_invalid', `step image ${JSON.stringify(reference)} is not an image reference: expected ${IMAGE_REFERENCE_FORM}`);
  }
  let domain = groups.domain;
  let repoPath = groups.path!;
  // `foo/bar` names docker.io/foo/bar; the grammar alone would take `foo` for a host.
  if (domain !== undefined && !/[.:]/.test(domain) && domain !== 'localhost' && !domain.startsWith('[')) {
    repoPath = `${domain}/${repoPath}`;
    domain = undefined;
  }
  const registryHost = domain ?? 'docker.io';
  const name = domain ? `${domain}/${repoPath}` : repoPath;
  const pullReference = groups.digest ? `${name}@${groups.digest}` : groups.tag ? `${name}:${groups.tag}` : name;
  return { reference, registryHost, pullReference };
}

/**
 * Whether the docker daemon would talk plain HTTP to `host`: it treats 127.0.0.0/8 (and names that resolve
 * there, such as localhost) and ::1 as insecure registries by default, so a step image that works with the
 * docker runtime works here too. Nothing else is pulled without TLS verification.
 */
export function isLoopbackRegistry(host: string): boolean {
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** What a source knows about an image before its layers are touched. */
export interface ResolvedImage {
  /** `sha256:<hex>` of the image's config blob: docker's image ID. */
  digest: string;
  /** The config's Env (`NAME=value`); [] when it has none. */
  env: string[];
  /** Writes the image's root filesystem into `rootfsDir` (created, empty); `workDir` is scratch space, removed by the caller. */
  unpack(rootfsDir: string, workDir: string, signal: AbortSignal): Promise<void>;
}

export interface ToolBinaries {
  /** Default `skopeo` from PATH (Debian's skopeo). */
  skopeoBinary?: string;
  /** Default `umoci` from PATH (Debian's umoci). */
  umociBinary?: string;
  /** Default `tar` from PATH (GNU tar). */
  tarBinary?: string;
}

const isRoot = (): boolean => process.getuid?.() === 0;

// ---------------------------------------------------------------------------------------------------------
// Child processes

interface ToolResult {
  exitCode: number;
  stdout: Buffer;
  stderr: string;
}

interface ToolOptions {
  signal: AbortSignal;
  env?: Record<string, string>;
  /** Output kept, in bytes; the rest is dropped (stderr keeps its tail). Default 16 MiB. */
  maxOutputBytes?: number;
  /** Piped into stdin when given. */
  stdin?: NodeJS.ReadableStream;
  /** Killed (SIGKILL) past this; the result then has exit code -1. Default none. */
  timeoutMs?: number;
  /** Install hint when the binary is missing: `apt-get install -y …`. */
  debianPackage: string;
}

/**
 * Runs `binary args` in its own process group and resolves with its exit code and output; never rejects for
 * a non-zero exit. Aborting `signal` kills the group (the tool and anything it started) and rejects with
 * `signal.reason` once it is gone. A missing binary rejects with `vm.image_tool_missing`.
 */
export function runTool(binary: string, args: readonly string[], options: ToolOptions): Promise<ToolResult> {
  const { signal } = options;
  if (signal.aborted) return Promise.reject(signal.reason);
  const maxOutputBytes = options.maxOutputBytes ?? 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, {
      stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      detached: true,
      env: options.env,
    });
    const stdout: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => {
      if (stdoutBytes < maxOutputBytes) stdout.push(d);
      stdoutBytes += d.length;
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-64 * 1024);
    });
    if (options.stdin) {
      child.stdin!.on('error', () => {}); // EPIPE when the tool exits early: its exit code tells
      options.stdin.pipe(child.stdin!);
    }
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    let timedOut = false;
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => ((timedOut = true), kill()), options.timeoutMs);
    signal.addEventListener('abort', kill, { once: true });
    const done = () => {
      if (timer) clearTimeout(timer);
      signal.removeEventListener('abort', kill);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      done();
      if (err.code === 'ENOENT') {
        reject(new AppError('vm.image_tool_missing', `${binary} not found; the vm runtime's step images need it: apt-get install -y ${options.debianPackage}`, { cause: err }));
      } else {
        reject(new AppError('vm.image_tool_failed', `cannot run ${binary}: ${err.message}`, { cause: err }));
      }
    });
    child.once('close', (code) => {
      done();
      if (signal.aborted) return reject(signal.reason);
      resolve({ exitCode: timedOut || code === null ? -1 : code, stdout: Buffer.concat(stdout), stderr: stderr.trim() });
    });
  });
}

/** The last line of a tool's stderr that says something, without logrus's `time=… level=fatal msg=` frame. */
function problem(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.trim());
  const last = lines.at(-1) ?? '';
  const msg = /level=\w+ msg="((?:[^"\\]|\\.)*)"/.exec(last)?.[1];
  return (msg ? msg.replace(/\\(.)/g, '$1') : last).trim() || '(no message)';
}

/** `dir` the way GNU tar extracts a container's file system; as non-root, device nodes are skipped. */
async function extractTar(tarBinary: string, input: NodeJS.ReadableStream, dir: string, signal: AbortSignal): Promise<ToolResult> {
  // --numeric-owner: the image's uids, not this host's names for them. As root tar keeps owners and makes
  // device nodes; otherwise files become ours and mknod fails, which is fine: /dev is the guest's devtmpfs.
  // --same-permissions: as non-root tar would apply our umask (a 1777 /tmp would become 1755).
  const args = ['-x', '--numeric-owner', '--same-permissions', '-C', dir, '-f', '-'];
  if (!isRoot()) args.push('--no-same-owner');
  const result = await runTool(tarBinary, args, { signal, stdin: input, debianPackage: 'tar' });
  if (result.exitCode !== 0 && !isRoot()) {
    const errors = result.stderr.split('\n').filter((l) => l.trim() && !/Cannot mknod: Operation not permitted|Exiting with failure status due to previous errors/.test(l));
    if (errors.length === 0) return { ...result, exitCode: 0 };
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------
// The host's docker image store

export interface DockerStoreOptions extends ToolBinaries {
  cliEnv: DockerCliEnv;
  /** Default `docker` from PATH. */
  dockerBinary?: string;
  /** A `docker image inspect` past this means the daemon does not answer; in ms. Default 15 000. */
  inspectTimeoutMs?: number;
}

/** Why the docker store could not answer: it does not hold the image, or there is no daemon to ask. */
export type DockerStoreMiss = 'not_in_store' | 'daemon_unavailable';

/**
 * The image as the host's docker daemon holds it, or why not. Never pulls: a miss goes to the registry.
 * The root filesystem comes from a container created from the image ID (not the name, which could be
 * retagged in between) with `--pull never`, exported, and removed.
 */
export async function resolveFromDockerStore(
  ref: ImageReference,
  options: DockerStoreOptions,
  signal: AbortSignal,
): Promise<ResolvedImage | { miss: DockerStoreMiss; detail: string }> {
  const docker = options.dockerBinary ?? 'docker';
  const env = toProcessEnv(options.cliEnv);
  const run = (args: string[], timeoutMs?: number, stdin?: NodeJS.ReadableStream) =>
    runTool(docker, args, { signal, env, timeoutMs, stdin, debianPackage: 'docker.io' });
  let inspect: ToolResult;
  try {
    inspect = await run(['image', 'inspect', '--format', '{{json .Id}} {{json .Config.Env}}', ref.reference], options.inspectTimeoutMs ?? 15_000);
  } catch (err) {
    if (err instanceof AppError && err.code === 'vm.image_tool_missing') return { miss: 'daemon_unavailable', detail: err.message };
    throw err;
  }
  if (inspect.exitCode !== 0) {
    const detail = problem(inspect.stderr);
    return { miss: /no such image/i.test(inspect.stderr) ? 'not_in_store' : 'daemon_unavailable', detail };
  }
  const [idJson, envJson] = inspect.stdout.toString('utf8').trim().split(' ');
  const digest = JSON.parse(idJson ?? '""') as string;
  if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new AppError('vm.image_export_failed', `docker image inspect ${ref.reference} gave image ID ${JSON.stringify(digest)}, not sha256:<64 hex>`);
  const imageEnv = (JSON.parse(envJson ?? 'null') as string[] | null) ?? [];
  return {
    digest,
    env: imageEnv,
    unpack: async (rootfsDir, _workDir, unpackSignal) => {
      // `/bin/sh` is never run: create needs a command for images that have none. `--pull never`: the CLI
      // pulls, not the daemon, so it holds with a 20.10 daemon too.
      const created = await runTool(docker, ['create', '--pull', 'never', digest, '/bin/sh'], { signal: unpackSignal, env, timeoutMs: 60_000, debianPackage: 'docker.io' });
      const containerId = created.stdout.toString('utf8').trim();
      if (created.exitCode !== 0 || !containerId) {
        throw new AppError('vm.image_export_failed', `cannot create a container from ${ref.reference} (${digest}) to export its file system: ${problem(created.stderr)}`);
      }
      try {
        const exporter = spawn(docker, ['export', containerId], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env });
        let exportStderr = '';
        exporter.stderr.on('data', (d: Buffer) => (exportStderr = (exportStderr + d.toString('utf8')).slice(-16 * 1024)));
        const exported = new Promise<number>((resolve) => {
          exporter.once('error', () => resolve(-1));
          exporter.once('close', (code) => resolve(code ?? -1));
        });
        const killExporter = () => {
          try {
            if (exporter.pid !== undefined) process.kill(-exporter.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        };
        unpackSignal.addEventListener('abort', killExporter, { once: true });
        let tar: ToolResult;
        try {
          tar = await extractTar(options.tarBinary ?? 'tar', exporter.stdout, rootfsDir, unpackSignal);
        } catch (err) {
          killExporter();
          throw err;
        } finally {
          unpackSignal.removeEventListener('abort', killExporter);
        }
        const exportCode = await exported;
        unpackSignal.throwIfAborted();
        if (exportCode !== 0) throw new AppError('vm.image_export_failed', `docker export of ${ref.reference} (${digest}) failed: ${problem(exportStderr)}`);
        if (tar.exitCode !== 0) throw new AppError('vm.image_export_failed', `cannot extract the file system of ${ref.reference} (${digest}) into ${rootfsDir}: ${problem(tar.stderr)}`);
      } finally {
        // Not with unpackSignal: the container goes even when the step was canceled.
        await runTool(docker, ['rm', '-f', containerId], { signal: new AbortController().signal, env, timeoutMs: 30_000, debianPackage: 'docker.io' }).catch(() => undefined);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// A registry

/**
 * The image as `ref`'s registry serves it. `credentials` are written to a 0600 auth file in a private
 * temp dir for the call's duration and never appear in a message. Throws `vm.image_pull_failed` (refused
 * login: "authentication failed"; unreachable registry), `vm.image_not_found`, `vm.image_tool_missing`.
 */
export async function resolveFromRegistry(
  ref: ImageReference,
  credentials: DockerAuthConfig | undefined,
  binaries: ToolBinaries,
  signal: AbortSignal,
): Promise<ResolvedImage> {
  const skopeo = binaries.skopeoBinary ?? 'skopeo';
  const loopback = isLoopbackRegistry(ref.registryHost);
  const source = `docker://${ref.pullReference}`;
  const config = await withAuthFile(credentials, async (authArgs) => {
    // --tls-verify=false only for loopback registries: see isLoopbackRegistry.
    const args = ['inspect', '--config', '--raw', ...authArgs, ...(loopback ? ['--tls-verify=false'] : []), source];
    const result = await runTool(skopeo, args, { signal, timeoutMs: 120_000, debianPackage: 'skopeo' });
    if (result.exitCode !== 0) throw registryError(ref, 'inspect', result.stderr, credentials);
    return result.stdout;
  });
  // The config blob's digest: what docker reports as the image ID for the same image.
  const digest = `sha256:${crypto.createHash('sha256').update(config).digest('hex')}`;
  const parsed = parseConfig(config, ref);
  return {
    digest,
    env: parsed.env,
    unpack: async (rootfsDir, workDir, unpackSignal) => {
      const layout = path.join(workDir, 'oci');
      await withAuthFile(credentials, async (authArgs) => {
        const args = ['copy', '--quiet', ...authArgs, ...(loopback ? ['--src-tls-verify=false'] : []), source, `oci:${layout}:image`];
        const result = await runTool(skopeo, args, { signal: unpackSignal, debianPackage: 'skopeo' });
        if (result.exitCode !== 0) throw registryError(ref, 'copy', result.stderr, credentials);
      });
      // A tag can move between the inspect and the copy. The copy converts the config to OCI (its digest
      // changes) but keeps the layers, so the layers' diff IDs tell whether it is the image inspected.
      const copiedDiffIds = await ociDiffIds(layout);
      if (JSON.stringify(copiedDiffIds) !== JSON.stringify(parsed.diffIds)) {
        throw new AppError('vm.image_pull_failed', `${ref.reference} changed in its registry while it was being pulled (its tag now names another image); run the job again`);
      }
      await fs.rm(rootfsDir, { recursive: true, force: true }); // umoci wants to create it
      const umoci = binaries.umociBinary ?? 'umoci';
      const unpackArgs = ['raw', 'unpack', ...(isRoot() ? [] : ['--rootless']), '--image', `${layout}:image`, rootfsDir];
      const result = await runTool(umoci, unpackArgs, { signal: unpackSignal, debianPackage: 'umoci' });
      if (result.exitCode !== 0) throw new AppError('vm.image_unpack_failed', `cannot unpack the layers of ${ref.reference} into ${rootfsDir}: ${problem(result.stderr)}`);
    },
  };
}

function parseConfig(config: Buffer, ref: ImageReference): { env: string[]; diffIds: string[] } {
  try {
    const json = JSON.parse(config.toString('utf8')) as { config?: { Env?: string[] | null }; rootfs?: { diff_ids?: string[] } };
    return { env: json.config?.Env ?? [], diffIds: json.rootfs?.diff_ids ?? [] };
  } catch (err) {
    throw new AppError('vm.image_pull_failed', `the registry's config blob for ${ref.reference} is not JSON`, { cause: err });
  }
}

async function ociDiffIds(layout: string): Promise<string[]> {
  const blob = async (digest: string) => JSON.parse(await fs.readFile(path.join(layout, 'blobs', ...digest.split(':')), 'utf8')) as unknown;
  const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'image') ?? index.manifests[0];
  if (!entry) throw new AppError('vm.image_pull_failed', `skopeo copy left no image in ${layout}`);
  const manifest = (await blob(entry.digest)) as { config: { digest: string } };
  const config = (await blob(manifest.config.digest)) as { rootfs?: { diff_ids?: string[] } };
  return config.rootfs?.diff_ids ?? [];
}

/** Runs `fn` with `--authfile <file>` arguments for `credentials` (none without), then removes the file. */
async function withAuthFile<T>(credentials: DockerAuthConfig | undefined, fn: (authArgs: string[]) => Promise<T>): Promise<T> {
  // Without credentials an empty file, not the executor user's own ~/.docker/config.json or
  // $XDG_RUNTIME_DIR/containers/auth.json: a job pulls with its own credentials or none.
  const auths = credentials?.auths ?? {};
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'executor-image-auth-')); // 0700
  try {
    const file = path.join(dir, 'auth.json');
    await fs.writeFile(file, JSON.stringify({ auths }), { mode: 0o600 });
    return await fn(['--authfile', file]);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Every form in which `credentials` could show up in a tool's output: the base64 `auth`, `user:password`, the password. */
function secretsOf(credentials: DockerAuthConfig | undefined): string[] {
  const secrets: string[] = [];
  for (const { auth } of Object.values(credentials?.auths ?? {})) {
    if (!auth) continue;
    secrets.push(auth);
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    secrets.push(decoded);
    const password = decoded.slice(decoded.indexOf(':') + 1);
    if (password.length >= 4) secrets.push(password);
  }
  return secrets.filter(Boolean).sort((a, b) => b.length - a.length);
}

function redact(text: string, credentials: DockerAuthConfig | undefined): string {
  let out = text;
  for (const secret of secretsOf(credentials)) out = out.split(secret).join('[REDACTED]');
  return out;
}

/**
 * What a failed `skopeo inspect`/`copy` means, in the shape the docker runtime's pull failures have too:
 * `image "alpine:3" could not be pulled: <why>` (the job's failure message). Credentials are redacted.
 */
export function registryError(ref: ImageReference, step: 'inspect' | 'copy', stderr: string, credentials: DockerAuthConfig | undefined): AppError {
  const detail = redact(problem(stderr), credentials);
  const image = JSON.stringify(ref.reference);
  if (/unauthorized|authentication required|denied|incorrect username or password|\b401\b/i.test(stderr)) {
    const given = credentials?.auths && Object.keys(credentials.auths).some((host) => authKeyMatches(host, ref.registryHost));
    return new AppError(
      'vm.image_pull_failed',
      `image ${image} could not be pulled: authentication failed at ${ref.registryHost} (${given ? 'the job\'s credentials for it were refused' : 'the job has no credentials for it'}); ` +
        `check the docker auth config's entry for ${ref.registryHost} (${detail})`,
    );
  }
  // "no such host" is DNS, not a missing image: that one is a pull failure like any network error.
  if (/manifest unknown|name unknown|not found|no such (?!host)/i.test(stderr)) {
    return new AppError('vm.image_not_found', `image ${image} could not be pulled: it is not in registry ${ref.registryHost} (${detail})`);
  }
  return new AppError('vm.image_pull_failed', `image ${image} could not be pulled from ${ref.registryHost}: skopeo ${step} failed: ${detail}`);
}

/** Whether an `auths` key names `registryHost`: `host[:port]`, or a URL such as `https://index.docker.io/v1/`. */
function authKeyMatches(key: string, registryHost: string): boolean {
  const host = key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (registryHost === 'docker.io') return host === 'docker.io' || host === 'index.docker.io' || host === 'registry-1.docker.io';
  return host === registryHost;
}
