// Resolves a batch spec's `on` and `workspaces` into workspaces (repository × branch × path) over the
// coordinator's repositories, with git on their bare clones: `on.repository` at its branches (default:
// the default branch), `repositoriesMatchingQuery` (repositories-query.ts) on each default branch with
// `git ls-tree` / `git grep`, then per repository the `workspaces` rule whose `in` glob matches it (one
// workspace per directory holding `rootAtLocationOf`), or its root. A repository with `.batchignore` at
// its root is listed as skipped, with why. Only repositories the actor may read are looked at: a
// restricted one never appears, and one named in `on.repository` that they may not read is told apart
// from an unregistered one by nothing.
import { AppError } from '../../../shared/errors.js';
import { matchesGlob } from '../../../shared/batch-templating/index.js';
import { repositoryDirFor } from '../../git/repository-mirror.js';
import type { NewBatchWorkspace } from '../../store/batch-store.js';
import type { RepositoryStore } from '../../store/repository-store.js';
import type { BatchSpec } from '../spec/batch-spec.js';
import { runBareGit } from '../bare-git.js';
import { parseRepositoriesQuery, pathMatches, repositoryMatches, type RepositoriesQuery } from './repositories-query.js';

/** The file at a repository's root that keeps batch changes out of it (the original's). */
export const BATCH_IGNORE_FILE = '.batchignore';
/** At most this many matching paths are kept per repository (`repository.search_result_paths`). */
export const MAX_SEARCH_RESULT_PATHS = 10_000;
/** Repositories looked at with git at once. */
const GIT_CONCURRENCY = 4;

/** A spec that cannot be resolved: names the field (`on[0].repositoriesMatchingQuery`, `workspaces`) and why. */
export class WorkspaceResolutionError extends AppError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('batches.resolution_failed', `${field}: ${message}`);
  }
}

export interface WorkspaceResolverDeps {
  repositories: Pick<RepositoryStore, 'get' | 'list' | 'readableBy'>;
  repositoriesDir: string;
}

export interface ResolutionActor {
  id: number;
  siteAdmin: boolean;
}

/** One repository at one branch, before workspaces. */
interface Target {
  repositoryName: string;
  branch: string;
  commit: string;
  searchResultPaths: Set<string>;
  skippedReason?: string;
}

/** Runs `fn` over `items`, at most `limit` at once, keeping the order of the results. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Reads one bare repository. */
class BareRepository {
  constructor(readonly dir: string) {}

  /** The default branch's name (HEAD's target), or undefined for an empty repository. */
  async defaultBranch(): Promise<string | undefined> {
    const { code, stdout } = await runBareGit(this.dir, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
    const name = stdout.toString('utf8').trim();
    return code === 0 && name !== '' ? name : undefined;
  }

  /** The commit at the tip of branch `branch`, or undefined when there is no such branch. */
  async branchCommit(branch: string): Promise<string | undefined> {
    if (branch === '' || branch.startsWith('-') || /[\s\0]/.test(branch)) return undefined;
    const { code, stdout } = await runBareGit(this.dir, ['rev-parse', '--verify', '--quiet', '--end-of-options', `refs/heads/${branch}^{commit}`]);
    const sha = stdout.toString('utf8').trim();
    return code === 0 && /^[0-9a-f]{40}$/.test(sha) ? sha : undefined;
  }

  async listFiles(commit: string): Promise<string[]> {
    const { code, stdout, stderr } = await runBareGit(this.dir, ['ls-tree', '-r', '-z', '--name-only', '--full-tree', commit]);
    if (code !== 0) throw new AppError('batches.git_failed', `git ls-tree ${commit}: ${stderr || `exit ${code}`}`);
    return stdout.toString('utf8').split('\0').filter(Boolean);
  }

  async hasFile(commit: string, path: string): Promise<boolean> {
    return (await runBareGit(this.dir, ['cat-file', '-e', `${commit}:${path}`])).code === 0;
  }

  /** The files of `commit` whose content matches (git grep -l), binary files left out. */
  async grepFiles(commit: string, content: { pattern: string; regexp: boolean }, caseSensitive: boolean): Promise<string[]> {
    const args = ['grep', '-l', '-z', '-I', '--no-color', ...(caseSensitive ? [] : ['-i']), content.regexp ? '-E' : '-F', '-e', content.pattern, commit, '--'];
    const { code, stdout, stderr } = await runBareGit(this.dir, args);
    if (code === 1) return [];
    if (code !== 0) throw new AppError('batches.git_failed', `git grep: ${stderr || `exit ${code}`}`);
    const prefix = `${commit}:`;
    return stdout
      .toString('utf8')
      .split('\0')
      .filter(Boolean)
      .map((p) => (p.startsWith(prefix) ? p.slice(prefix.length) : p));
  }
}

export class WorkspaceResolver {
  constructor(private readonly deps: WorkspaceResolverDeps) {}

  private repository(name: string): BareRepository {
    return new BareRepository(repositoryDirFor(this.deps.repositoriesDir, name));
  }

  /** The workspaces of `spec` for `actor`, sorted by repository, branch and path. Throws WorkspaceResolutionError. */
  async resolve(spec: BatchSpec, actor: ResolutionActor): Promise<NewBatchWorkspace[]> {
    const targets = new Map<string, Target>();
    const add = (t: Target) => {
      const key = `${t.repositoryName}\0${t.branch}`;
      const existing = targets.get(key);
      if (!existing) targets.set(key, t);
      else if (existing.skippedReason && !t.skippedReason) targets.set(key, t);
      else for (const p of t.searchResultPaths) existing.searchResultPaths.add(p);
    };
    const readable: (names: string[]) => Promise<Set<string>> = actor.siteAdmin ? async (names) => new Set(names) : (names) => this.deps.repositories.readableBy(actor.id, names);

    for (const [i, on] of spec.on.entries()) {
      if (on.kind === 'repository') {
        for (const t of await this.repositoryTargets(on.repository, on.branches, readable)) add(t);
      } else {
        let query: RepositoriesQuery;
        try {
          query = parseRepositoriesQuery(on.repositoriesMatchingQuery);
        } catch (err) {
          if (err instanceof AppError) throw new WorkspaceResolutionError(`on[${i}].repositoriesMatchingQuery`, err.message);
          throw err;
        }
        for (const t of await this.queryTargets(query, actor)) add(t);
      }
    }

    const ordered = [...targets.values()].sort((a, b) => compare(a.repositoryName, b.repositoryName) || compare(a.branch, b.branch));
    const perTarget = await mapLimit(ordered, GIT_CONCURRENCY, (t) => this.workspacesOf(t, spec));
    return perTarget.flat().sort((a, b) => compare(a.repositoryName, b.repositoryName) || compare(a.branch, b.branch) || compare(a.path, b.path));
  }

  private async repositoryTargets(name: string, branches: readonly string[], readable: (names: string[]) => Promise<Set<string>>): Promise<Target[]> {
    const skipped = (branch: string, reason: string): Target => ({ repositoryName: name, branch, commit: '', searchResultPaths: new Set(), skippedReason: reason });
    // Unregistered and restricted read the same, so nothing is learnt of restricted names.
    if (!(await this.deps.repositories.get(name)) || !(await readable([name])).has(name)) {
      return [skipped(branches[0] ?? '', `no repository ${JSON.stringify(name)} that you may use (it is not registered, or restricted to other users)`)];
    }
    const repo = this.repository(name);
    const wanted = branches.length > 0 ? [...branches] : [await repo.defaultBranch()];
    const out: Target[] = [];
    for (const branch of wanted) {
      if (branch === undefined) {
        out.push(skipped('', 'the repository is empty: it has no default branch'));
        continue;
      }
      const commit = await repo.branchCommit(branch);
      if (commit) out.push({ repositoryName: name, branch, commit, searchResultPaths: new Set() });
      else if (branches.length === 0) out.push(skipped(branch, `the repository is empty: its default branch ${branch} has no commits`));
      else out.push(skipped(branch, `branch ${JSON.stringify(branch)} does not exist in ${name}`));
    }
    return out;
  }

  private async queryTargets(query: RepositoriesQuery, actor: ResolutionActor): Promise<Target[]> {
    const candidates = (await this.deps.repositories.list(actor.siteAdmin ? {} : { readableBy: actor.id })).filter((r) => repositoryMatches(query, r.name));
    const found = await mapLimit(candidates, GIT_CONCURRENCY, async (row): Promise<Target | undefined> => {
      const repo = this.repository(row.name);
      const branch = await repo.defaultBranch();
      const commit = branch === undefined ? undefined : await repo.branchCommit(branch);
      // An empty repository has nothing to match.
      if (branch === undefined || commit === undefined) return undefined;
      const narrowed = query.file.length > 0 || query.notFile.length > 0;
      if (!query.content && !narrowed) return { repositoryName: row.name, branch, commit, searchResultPaths: new Set() };
      const files = query.content ? await repo.grepFiles(commit, query.content, query.caseSensitive) : await repo.listFiles(commit);
      const paths = files.filter((p) => pathMatches(query, p)).sort(compare).slice(0, MAX_SEARCH_RESULT_PATHS);
      return paths.length > 0 ? { repositoryName: row.name, branch, commit, searchResultPaths: new Set(paths) } : undefined;
    });
    return found.filter((t): t is Target => t !== undefined);
  }

  private async workspacesOf(t: Target, spec: BatchSpec): Promise<NewBatchWorkspace[]> {
    const base = { repositoryName: t.repositoryName, branch: t.branch, commit: t.commit, onlyFetchWorkspace: false };
    const skipped = (reason: string, path = ''): NewBatchWorkspace => ({ ...base, path, searchResultPaths: [...t.searchResultPaths].sort(compare), skipped: true, skippedReason: reason });
    if (t.skippedReason) return [skipped(t.skippedReason)];
    const repo = this.repository(t.repositoryName);
    if (await repo.hasFile(t.commit, BATCH_IGNORE_FILE)) return [skipped(`the repository has a ${BATCH_IGNORE_FILE} file at its root`)];

    const rules = spec.workspaces.map((rule, index) => ({ rule, index })).filter(({ rule }) => matchesGlob(t.repositoryName, rule.in));
    if (rules.length > 1) {
      throw new WorkspaceResolutionError(
        'workspaces',
        `repository ${t.repositoryName} is matched by more than one workspaces[].in glob (${rules.map(({ rule, index }) => `workspaces[${index}].in ${JSON.stringify(rule.in)}`).join(', ')}): make them exclusive`,
      );
    }
    const paths = [...t.searchResultPaths].sort(compare);
    const rule = rules[0]?.rule;
    if (!rule) return [{ ...base, path: '', searchResultPaths: paths, skipped: false, skippedReason: null }];

    const marker = rule.rootAtLocationOf.replace(/^\/+/, '');
    const dirs = new Set<string>();
    for (const file of await repo.listFiles(t.commit)) {
      if (file === marker) dirs.add('');
      else if (file.endsWith(`/${marker}`)) dirs.add(file.slice(0, -marker.length - 1));
    }
    if (dirs.size === 0) return [skipped(`no file ${JSON.stringify(marker)} in the repository (workspaces[${rules[0]!.index}].rootAtLocationOf)`)];
    return [...dirs].sort(compare).map((dir) => ({
      ...base,
      path: dir,
      onlyFetchWorkspace: rule.onlyFetchWorkspace,
      searchResultPaths: dir === '' ? paths : paths.filter((p) => p.startsWith(`${dir}/`)),
      skipped: false,
      skippedReason: null,
    }));
  }
}

/** Code-unit order, the same on every machine (no locale). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
