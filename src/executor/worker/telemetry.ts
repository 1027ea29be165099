// What every heartbeat tells the coordinator about this executor (reference §4.1 step 2, §7.4): OS and
// architecture as Go names them, and the versions of the executor, git and docker, gathered once.
import { execFile } from 'node:child_process';
import type { Telemetry } from '../../protocol/requests.js';

/**
 * The Sourcegraph release whose executor protocol this executor speaks; the coordinator picks the Job
 * payload encoding from it (v2 from 4.3.0, reference §2.7), so it is not this package's own version.
 */
export const EXECUTOR_VERSION = '5.3.0';

/** The telemetry fields that do not change while the executor runs (all but `prometheusMetrics`). */
export type StaticTelemetry = Omit<Telemetry, 'prometheusMetrics'>;

export interface GatherTelemetryOptions {
  /** Sent as `executorVersion`. Default EXECUTOR_VERSION. */
  executorVersion?: string;
  /** Skip `docker --version` (the original skips it on Kubernetes). Default false. */
  skipDocker?: boolean;
  /** Longest each `--version` command may take, in ms. Default 5000 (reference §4.1). */
  commandTimeoutMs?: number;
}

/** Go's GOOS for a Node `process.platform`: `win32` → `windows`; the others mostly match. */
export function goOs(platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? 'windows' : platform === 'sunos' ? 'solaris' : platform;
}

/** Go's GOARCH for a Node `process.arch`: `x64` → `amd64`, `ia32` → `386`; `arm64`, `arm` match. */
export function goArch(arch: string = process.arch): string {
  const names: Record<string, string> = { x64: 'amd64', ia32: '386', ppc64: 'ppc64le', mipsel: 'mipsle' };
  return names[arch] ?? arch;
}

/** `git version 2.39.5` → `2.39.5`; `Docker version 24.0.7, build afdd53b` → `24.0.7`; else empty. */
export function parseToolVersion(output: string): string {
  return /\bversion\s+v?(\d+(?:\.\d+)*[^\s,]*)/i.exec(output)?.[1] ?? '';
}

/** Runs `<command> --version` and parses it; empty when the tool is missing, fails or is too slow. */
function toolVersion(command: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    execFile(command, ['--version'], { timeout: timeoutMs, windowsHide: true }, (err, stdout) => {
      resolve(err ? '' : parseToolVersion(String(stdout)));
    });
  });
}

/** Gathers the static telemetry once, the tool versions in parallel, each within `commandTimeoutMs`. */
export async function gatherTelemetry(options: GatherTelemetryOptions = {}): Promise<StaticTelemetry> {
  const timeoutMs = options.commandTimeoutMs ?? 5000;
  const [gitVersion, dockerVersion] = await Promise.all([
    toolVersion('git', timeoutMs),
    options.skipDocker ? Promise.resolve('') : toolVersion('docker', timeoutMs),
  ]);
  return {
    os: goOs(),
    architecture: goArch(),
    executorVersion: options.executorVersion ?? EXECUTOR_VERSION,
    gitVersion,
    dockerVersion,
    // No ignite (the vm runtime is QEMU) and no src-cli steps run on the host.
    igniteVersion: '',
    srcCliVersion: '',
  };
}
