// Which build of the programs this is: `--version` of both, and whether the code runs from a bundle
// (a release binary or a container image) or from a source checkout (dist/ or tsx).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the release build (scripts/build/bundle.ts) writes into the bundle with esbuild's `define`. */
interface BundledBuild {
  version: string;
  /** The full commit the bundle was built from, `-dirty` appended when the tree had changes. */
  commit: string;
}

declare const __EXECUTORS_BUILD__: BundledBuild | undefined;

/** The bundled build's facts, or undefined when running from a source checkout. */
export const bundledBuild: BundledBuild | undefined = typeof __EXECUTORS_BUILD__ === 'undefined' ? undefined : __EXECUTORS_BUILD__;

export interface BuildInfo {
  version: string;
  /** A commit hash, or `dev` where a source checkout's commit cannot be read (no git, not a repository). */
  commit: string;
  /** `release` for a bundle built by `npm run release` / `npm run images`, `source` otherwise. */
  kind: 'release' | 'source';
}

let cached: BuildInfo | undefined;

/** The version and commit of this build; a source checkout reads package.json and asks git (once). */
export function buildInfo(): BuildInfo {
  if (bundledBuild) return { version: bundledBuild.version, commit: bundledBuild.commit, kind: 'release' };
  if (cached) return cached;
  // src/shared/ and dist/shared/ are both two levels under the repository root.
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  let version = '0.0.0';
  try {
    version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? version;
  } catch {
    // Not beside its package.json (copied elsewhere): the version is unknown, the commit may still be read.
  }
  let commit = 'dev';
  try {
    const head = execFileSync('git', ['-C', root, 'rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    if (/^[0-9a-f]{40}$/.test(head)) {
      const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
      commit = dirty ? `${head}-dirty` : head;
    }
  } catch {
    // No git, or not a repository: `dev`.
  }
  cached = { version, commit, kind: 'source' };
  return cached;
}

/** Whether this process is a single executable application (a release binary, `npm run release`). */
export async function isSingleExecutable(): Promise<boolean> {
  try {
    // node:sea exists from Node 20.12; before it no process is one.
    const sea = await import('node:sea');
    return sea.isSea();
  } catch {
    return false;
  }
}

/** The line `--version` prints: `executor 0.1.0 (commit 1a2b…, release)`. */
export function versionLine(program: string): string {
  const info = buildInfo();
  return `${program} ${info.version} (commit ${info.commit}, ${info.kind === 'release' ? 'release build' : 'source checkout'})`;
}
