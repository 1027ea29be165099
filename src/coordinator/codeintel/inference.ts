// Infers index jobs from a commit's files, as the original's recognizers do (typescript.lua, python.lua):
// TypeScript/JavaScript projects (a job per tsconfig.json, or one at the root with --infer-tsconfig when
// there is only package.json) indexed by scip-typescript after installing dependencies with the package
// manager the lockfile names; Python projects (pyproject.toml, setup.py, requirements.txt) indexed by
// scip-python. Reading is bounded: at most MAX_CANDIDATE_FILES files, each at most MAX_CANDIDATE_BYTES.
import path from 'node:path/posix';
import type { IndexJobConfig, IndexStep } from './index-configuration.js';
import { indexerImage, type IndexerKey, type IndexerMap } from './indexer-map.js';

export const MAX_CANDIDATE_FILES = 100;
export const MAX_CANDIDATE_BYTES = 1024 * 1024;

/** Directories never looked into (the original's shared exclude paths plus node_modules). */
const EXCLUDED_SEGMENTS = new Set(['node_modules', 'vendor', 'third_party', '.git', 'bower_components']);

export interface InferredJob extends IndexJobConfig {
  indexerKey: IndexerKey;
}

export interface InferenceResult {
  jobs: InferredJob[];
  /** Why candidates were left out (a candidate over the limits, a file that does not parse). */
  notes: string[];
}

/** Reads the contents of some of the commit's files (those it can within the limits). */
export type ReadFiles = (paths: readonly string[]) => Promise<Map<string, string>>;

const dirOf = (p: string) => {
  const d = path.dirname(p);
  return d === '.' ? '' : d;
};
const join = (dir: string, name: string) => (dir ? `${dir}/${name}` : name);

/** `dir` and each directory above it, innermost first ('' is the repository root). */
function ancestors(dir: string): string[] {
  const out = [dir];
  let d = dir;
  while (d !== '') {
    d = dirOf(d);
    out.push(d);
  }
  return out;
}

function excluded(p: string): boolean {
  return p.split('/').some((s) => EXCLUDED_SEGMENTS.has(s));
}

function safeJson(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function hasDependencies(pkg: Record<string, unknown> | undefined): boolean {
  return ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'].some((k) => {
    const v = pkg?.[k];
    return v !== null && typeof v === 'object' && Object.keys(v as object).length > 0;
  });
}

export async function inferIndexJobs(files: readonly string[], read: ReadFiles, indexerMap: IndexerMap): Promise<InferenceResult> {
  const notes: string[] = [];
  const present = new Set(files.filter((f) => !excluded(f)));
  const byName = (name: string) => [...present].filter((f) => path.basename(f) === name).sort();

  // --- candidates, bounded ------------------------------------------------------------------------------
  const tsconfigs = byName('tsconfig.json');
  const packageJsons = byName('package.json');
  const pythonMarkers = ['pyproject.toml', 'setup.py', 'setup.cfg', 'requirements.txt'].flatMap(byName);
  const toRead = [...new Set([...packageJsons, ...byName('lerna.json'), ...pythonMarkers])].sort(
    (a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b),
  );
  if (toRead.length > MAX_CANDIDATE_FILES) notes.push(`${toRead.length} candidate files; only the ${MAX_CANDIDATE_FILES} closest to the root were read`);
  const contents = await read(toRead.slice(0, MAX_CANDIDATE_FILES));
  for (const p of toRead.slice(0, MAX_CANDIDATE_FILES)) if (!contents.has(p)) notes.push(`${p} was not read (over ${MAX_CANDIDATE_BYTES} bytes)`);

  const jobs: InferredJob[] = [];

  // --- TypeScript / JavaScript ----------------------------------------------------------------------------
  const typescriptImage = indexerImage('typescript', indexerMap);
  const lernaYarn = (root: string) => ancestors(root).some((a) => safeJson(contents.get(join(a, 'lerna.json')))?.npmClient === 'yarn');
  const typescriptJob = (root: string, inferTsconfig: boolean): InferredJob => {
    const steps: IndexStep[] = [];
    // Outermost package first, as the original installs them.
    for (const dir of ancestors(root).reverse()) {
      const pkgPath = join(dir, 'package.json');
      if (!present.has(pkgPath)) continue;
      const pkg = safeJson(contents.get(pkgPath));
      const yarn = lernaYarn(root) || present.has(join(dir, 'yarn.lock'));
      const npmLock = present.has(join(dir, 'package-lock.json')) || present.has(join(dir, 'npm-shrinkwrap.json'));
      // A lockfile names the package manager; with none and no dependencies there is nothing to install.
      if (!yarn && !npmLock && !hasDependencies(pkg)) continue;
      const suffix = inferTsconfig ? ' --ignore-scripts' : '';
      steps.push({ root: dir, image: typescriptImage, commands: [yarn ? `yarn --ignore-engines${suffix}` : `npm install --no-audit --no-fund${suffix}`] });
    }
    return {
      indexerKey: 'typescript',
      steps,
      local_steps: [],
      root,
      indexer: typescriptImage,
      indexer_args: ['scip-typescript', 'index', ...(inferTsconfig ? ['--infer-tsconfig'] : [])],
      outfile: 'index.scip',
      requestedEnvVars: [],
    };
  };
  if (tsconfigs.length > 0) {
    for (const tsconfig of tsconfigs.slice(0, MAX_CANDIDATE_FILES)) jobs.push(typescriptJob(dirOf(tsconfig), false));
  } else if (packageJsons.length > 0) {
    jobs.push(typescriptJob('', true));
  }

  // --- Python ----------------------------------------------------------------------------------------------
  const pythonImage = indexerImage('python', indexerMap);
  const pythonRoots = [...new Set(pythonMarkers.map(dirOf))].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
  const chosen: string[] = [];
  for (const root of pythonRoots) {
    // A package inside another one is indexed with it.
    if (chosen.some((c) => c === '' || root === c || root.startsWith(`${c}/`))) continue;
    chosen.push(root);
  }
  for (const root of chosen) {
    const meta = pythonMetadata(root, contents);
    const steps: IndexStep[] = [];
    // It is fine if the install fails: the index is then made without the dependencies' types (as the original).
    if (present.has(join(root, 'requirements.txt')) && (contents.get(join(root, 'requirements.txt')) ?? 'x').trim() !== '') {
      steps.push({ root, image: pythonImage, commands: ['pip install -r requirements.txt || true'] });
    } else if (meta.hasDependencies) {
      steps.push({ root, image: pythonImage, commands: ['pip install . || true'] });
    }
    const name = meta.name ?? (path.basename(root) || undefined);
    jobs.push({
      indexerKey: 'python',
      steps,
      local_steps: [],
      root,
      indexer: pythonImage,
      indexer_args: ['scip-python', 'index', '.', ...(name ? ['--project-name', name] : []), ...(meta.version ? ['--project-version', meta.version] : [])],
      outfile: 'index.scip',
      requestedEnvVars: [],
    });
  }
  return { jobs, notes };
}

/** A Python project's name and version (pyproject.toml, setup.cfg, setup.py), and whether it declares dependencies. */
export function pythonMetadata(root: string, contents: ReadonlyMap<string, string>): { name?: string; version?: string; hasDependencies: boolean } {
  const pyproject = contents.get(join(root, 'pyproject.toml'));
  if (pyproject !== undefined) {
    const section = (name: string) => {
      const m = new RegExp(`^\\[${name.replace('.', '\\.')}\\][^\\n]*\\n([\\s\\S]*?)(?=^\\[|$(?![\\s\\S]))`, 'm').exec(pyproject);
      return m?.[1] ?? '';
    };
    for (const s of [section('project'), section('tool.poetry')]) {
      const name = /^name\s*=\s*["']([^"']+)["']/m.exec(s)?.[1];
      if (!name) continue;
      const version = /^version\s*=\s*["']([^"']+)["']/m.exec(s)?.[1];
      const deps = /^dependencies\s*=\s*\[\s*["']/m.test(s) || /^\[tool\.poetry\.dependencies\][^[]*\n\s*(?!python\b)[A-Za-z0-9_.-]+\s*=/m.test(pyproject);
      return { name, version, hasDependencies: deps };
    }
  }
  const cfg = contents.get(join(root, 'setup.cfg'));
  if (cfg !== undefined) {
    const name = /^name\s*=\s*(\S+)/m.exec(cfg)?.[1];
    const version = /^version\s*=\s*([^\s#]+)/m.exec(cfg)?.[1];
    if (name) return { name, version: version?.startsWith('attr:') ? undefined : version, hasDependencies: /^install_requires\s*=/m.test(cfg) };
  }
  const setup = contents.get(join(root, 'setup.py'));
  if (setup !== undefined) {
    const name = /\bname\s*=\s*["']([^"']+)["']/.exec(setup)?.[1];
    const version = /\bversion\s*=\s*["']([^"']+)["']/.exec(setup)?.[1];
    return { name, version, hasDependencies: /\binstall_requires\s*=\s*\[\s*["']/.test(setup) };
  }
  return { hasDependencies: false };
}
