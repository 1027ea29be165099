// Starts the coordinator as a child process (`node --import tsx src/bin/coordinator.ts serve`), so the
// load generator never shares its event loop, and waits until /healthz answers.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface CoordinatorProcess {
  url: string;
  pid: number;
  executorToken: string;
  adminToken: string;
  dataDir: string;
  /** Milliseconds from spawn until /healthz answered 200. */
  startupMs: number;
  child: ChildProcess;
  /** SIGTERM, then SIGKILL after 10 s; removes the data directory unless `keepDataDir`. Idempotent. */
  stop(options?: { keepDataDir?: boolean }): Promise<void>;
}

export interface StartCoordinatorOptions {
  /** PostgreSQL URL; undefined → embedded PGlite in the data directory. */
  databaseUrl: string | undefined;
  /** Reuse this data directory (PGlite restart); default: a new temporary one. */
  dataDir?: string;
  /** Extra COORDINATOR_* variables. */
  env?: Record<string, string>;
  /** Command to run instead of `node --import tsx src/bin/coordinator.ts` (e.g. compiled JS). */
  command?: readonly string[];
  /** Called every ~`pollMs` while waiting for /healthz (memory sampling during start-up). */
  onWaitTick?: (pid: number) => void;
  pollMs?: number;
  startTimeoutMs?: number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

async function healthy(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startCoordinator(options: StartCoordinatorOptions): Promise<CoordinatorProcess> {
  const port = await freePort();
  const dataDir = options.dataDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'executors-bench-')));
  const executorToken = 'bench-executor-' + randomBytes(16).toString('hex');
  const adminToken = 'bench-admin-' + randomBytes(16).toString('hex');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    COORDINATOR_ADDR: `127.0.0.1:${port}`,
    COORDINATOR_DATA_DIR: dataDir,
    COORDINATOR_EXECUTORS_ACCESS_TOKEN: executorToken,
    COORDINATOR_ADMIN_TOKEN: adminToken,
    COORDINATOR_LOG_LEVEL: 'warn',
    ...options.env,
  };
  delete env.COORDINATOR_DATABASE_URL;
  if (options.databaseUrl) env.COORDINATOR_DATABASE_URL = options.databaseUrl;
  const [cmd, ...args] = options.command ?? [process.execPath, '--import', 'tsx', 'src/bin/coordinator.ts', 'serve'];
  const started = performance.now();
  const child = spawn(cmd!, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] });
  // Never leave a coordinator behind when the bench dies (an exception, a closed stdout pipe).
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      process.off('exit', killOnExit);
      resolve(code);
    }),
  );
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 120_000);
  const pollMs = options.pollMs ?? 50;
  for (;;) {
    if (exitCode !== undefined) throw new Error(`coordinator exited with status ${exitCode} before answering /healthz`);
    options.onWaitTick?.(child.pid!);
    if (await healthy(url)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`coordinator did not answer /healthz within ${options.startTimeoutMs ?? 120_000} ms`);
    }
    await sleep(pollMs);
  }
  const startupMs = performance.now() - started;

  let stopping: Promise<void> | undefined;
  return {
    url,
    pid: child.pid!,
    executorToken,
    adminToken,
    dataDir,
    startupMs,
    child,
    stop: (stopOptions = {}) =>
      (stopping ??= (async () => {
        if (exitCode === undefined) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(timer);
        }
        if (!stopOptions.keepDataDir) await fs.rm(dataDir, { recursive: true, force: true });
      })()),
  };
}
