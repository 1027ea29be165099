// The code-intelligence API under /api/v1/codeintel: scheduling index jobs (site admins), index
// configurations, policies and the indexer map (site admins), and for any user: index jobs, uploads,
// and navigation (definitions, references with paging, hover). Errors: {"error", "field"}.
import { z } from 'zod';
import { AppError } from '../../shared/errors.js';
import { parseGoDurationMs } from '../../shared/go-duration.js';
import { repositoryDirFor } from '../git/repository-mirror.js';
import { RepositoryReader } from '../codeintel/repository-reader.js';
import { validateIndexConfiguration } from '../codeintel/index-configuration.js';
import { INDEXER_MAP_SETTING, parseIndexerMap, DEFAULT_INDEXER_IMAGES, DEFAULT_SRC_CLI_IMAGE } from '../codeintel/indexer-map.js';
import type { Position } from '../codeintel/navigation.js';
import type { IndexJobRow, UploadRow, UploadState } from '../store/codeintel-store.js';
import type { UserRow } from '../store/user-store.js';
import { authenticateUser, requireSiteAdmin } from './admin-auth.js';
import { readableRepositories } from './readable-repositories.js';
import { fieldError, HttpError } from './http-error.js';
import { readJson } from './request-body.js';
import type { RequestContext, Router } from './router.js';
import type { HttpServices } from './services.js';

const MAX_PAGE = 500;
const UPLOAD_STATES: readonly UploadState[] = ['uploading', 'queued', 'processing', 'completed', 'errored'];

export function uploadView(u: UploadRow) {
  return {
    id: u.id,
    repository: u.repositoryName,
    commit: u.commit,
    root: u.root,
    indexer: u.indexer,
    indexerVersion: u.indexerVersion,
    state: u.state,
    failureMessage: u.failureMessage,
    associatedIndexId: u.associatedIndexId,
    uploadedBy: u.uploadedBy,
    replacedBy: u.replacedBy,
    numParts: u.numParts,
    uploadedParts: u.uploadedParts.length,
    compressedSize: u.compressedSize,
    uncompressedSize: u.uncompressedSize,
    documents: u.numDocuments,
    occurrences: u.numOccurrences,
    symbols: u.numSymbols,
    droppedPaths: u.numDroppedPaths,
    uploadedAt: u.uploadedAt.toISOString(),
    startedAt: u.startedAt?.toISOString() ?? null,
    finishedAt: u.finishedAt?.toISOString() ?? null,
  };
}

export function indexJobView(j: IndexJobRow) {
  return {
    id: j.jobId,
    repository: j.repositoryName,
    commit: j.commit,
    root: j.root,
    indexer: j.indexer,
    indexerName: j.indexerName,
    outfile: j.outfile,
    source: j.source,
    state: j.state,
    failureMessage: j.failureMessage,
    uploadId: j.uploadId,
    uploadState: j.uploadState,
    queuedAt: j.queuedAt.toISOString(),
    startedAt: j.startedAt?.toISOString() ?? null,
    finishedAt: j.finishedAt?.toISOString() ?? null,
  };
}

const ScheduleSchema = z.strictObject({ repository: z.string().min(1), revision: z.string().min(1).default('HEAD') });
const PolicySchema = z.strictObject({
  name: z.string().min(1).max(200),
  repositoryPattern: z.string().min(1).max(500),
  branch: z.string().min(1).max(255).default('HEAD'),
  /** A Go duration, e.g. `1h`; at least 1m. */
  interval: z.string().default('24h'),
  enabled: z.boolean().default(true),
});

/** Turns the codeintel errors a caller caused into {"error", "field"} answers. */
function asClientError(err: unknown): never {
  if (err instanceof AppError) {
    switch (err.code) {
      case 'codeintel.unknown_repository':
        throw fieldError(404, 'repository', err.message);
      case 'codeintel.unknown_revision':
        throw fieldError(404, 'revision', err.message);
      case 'codeintel.unknown_commit':
      case 'codeintel.no_upload':
        throw fieldError(404, 'commit', err.message);
      case 'codeintel.invalid_cursor':
        throw fieldError(400, 'after', err.message);
      case 'secrets.missing':
        throw fieldError(400, 'requestedEnvVars', err.message);
    }
  }
  throw err;
}

export function addCodeIntelRoutes(router: Router, s: HttpServices): void {
  const { store, scheduler, navigation } = s.codeintel;
  const admin = (ctx: RequestContext) => requireSiteAdmin(ctx.req, s);
  const user = (ctx: RequestContext) => authenticateUser(ctx.req, s);
  // 🚨 Code intelligence shows a repository's code (hover text, symbol names, paths): a caller sees only the
  // repositories they may read — site admins all, others public ones and those granted to them or their
  // organizations (the rule jobs follow). A repository they may not read answers as an unregistered one
  // (404), and is left out of lists and of cross-repository results, so its name does not leak.
  const readable = (caller: UserRow, names: readonly string[]) => readableRepositories(s, caller, names);
  const requireReadable = async (caller: UserRow, name: string) => {
    if (!(await readable(caller, [name])).has(name)) throw fieldError(404, 'repository', `repository ${JSON.stringify(name)} is not registered`);
  };
  const onlyReadable = async <T>(caller: UserRow, rows: T[], nameOf: (row: T) => string): Promise<T[]> => {
    if (caller.siteAdmin) return rows;
    const names = await readable(caller, rows.map(nameOf));
    return rows.filter((row) => names.has(nameOf(row)));
  };
  const param = (ctx: RequestContext, name: string) => ctx.url.searchParams.get(name) ?? '';
  const int = (ctx: RequestContext, name: string, fallback: number | undefined, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = ctx.url.searchParams.get(name);
    if (raw === null || raw === '') {
      if (fallback === undefined) throw fieldError(400, name, `query parameter ${name} is required: a non-negative integer`);
      return fallback;
    }
    if (!/^\d{1,15}$/.test(raw) || Number(raw) > max) throw fieldError(400, name, `query parameter ${name}=${JSON.stringify(raw)}: expected an integer from 0 to ${max}`);
    return Number(raw);
  };
  const repositoryParam = async (ctx: RequestContext, caller: UserRow, required: boolean) => {
    const name = param(ctx, 'repository');
    if (name === '') {
      if (required) throw fieldError(400, 'repository', 'query parameter repository is required (e.g. github.com/acme/app)');
      return undefined;
    }
    if (!(await s.repositories.get(name))) throw fieldError(404, 'repository', `repository ${JSON.stringify(name)} is not registered`);
    await requireReadable(caller, name);
    return name;
  };

  /** The position parameters; `commit` may be any revision of the repository (resolved). */
  const position = async (ctx: RequestContext, caller: UserRow): Promise<Position> => {
    const repository = param(ctx, 'repository');
    if (repository === '') throw fieldError(400, 'repository', 'query parameter repository is required (e.g. github.com/acme/app)');
    if (!caller.siteAdmin) await requireReadable(caller, repository);
    // The repository is looked up only when the commit must be resolved; an unknown one has no uploads
    // (and gets its 404 from the navigation's no-upload answer).
    const rawCommit = param(ctx, 'commit');
    if (rawCommit === '') throw fieldError(400, 'commit', 'query parameter commit is required (a commit sha or revision)');
    const path = param(ctx, 'path').replace(/^\/+/, '');
    if (path === '') throw fieldError(400, 'path', 'query parameter path is required (a file path in the repository)');
    const line = int(ctx, 'line', undefined);
    const character = int(ctx, 'character', undefined);
    let commit: string | null = rawCommit;
    if (!/^[0-9a-f]{40}$/.test(rawCommit)) {
      if (!(await s.repositories.get(repository))) throw fieldError(404, 'repository', `repository ${JSON.stringify(repository)} is not registered`);
      commit = await new RepositoryReader(repositoryDirFor(s.repositoriesDir, repository)).resolveRevision(rawCommit);
    }
    if (!commit) throw fieldError(404, 'commit', `revision ${JSON.stringify(rawCommit)} is not in repository ${repository}`);
    return { repository, commit, path, line, character };
  };

  /** Runs a navigation query; a commit not found is first checked for an unregistered repository. */
  const navigate = async <T>(pos: Position, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof AppError && err.code === 'codeintel.unknown_commit' && !(await s.repositories.get(pos.repository))) {
        throw fieldError(404, 'repository', `repository ${JSON.stringify(pos.repository)} is not registered`);
      }
      asClientError(err);
    }
  };

  // --- scheduling ------------------------------------------------------------------------------------
  router.add('POST', '/api/v1/codeintel/index-jobs', 'codeintel.index_jobs.create', async (ctx) => {
    const caller = await admin(ctx);
    const body = await readJson(ctx.req, ScheduleSchema, s.config.maxBodyBytes);
    try {
      const result = await scheduler.scheduleRepository(body.repository, body.revision, { userId: caller.id });
      const jobs = await Promise.all(result.jobs.map(async (j) => {
        const row = await store.getIndexJob(j.jobId);
        return row ? indexJobView(row) : { id: j.jobId, root: j.root, indexer: j.indexer };
      }));
      return { status: jobs.length > 0 ? 201 : 200, body: { ...result, jobs } };
    } catch (err) {
      asClientError(err);
    }
  });

  router.add('GET', '/api/v1/codeintel/index-jobs', 'codeintel.index_jobs.list', async (ctx) => {
    const caller = await user(ctx);
    const repository = await repositoryParam(ctx, caller, false);
    const limit = Math.max(1, int(ctx, 'limit', 50, MAX_PAGE));
    const before = ctx.url.searchParams.has('before') ? int(ctx, 'before', 0) : undefined;
    // Filtered in the query, so a page holds `limit` rows a caller may read when there are that many.
    const rows = await store.listIndexJobs({ repositoryName: repository, limit, beforeId: before, readableBy: caller.siteAdmin ? undefined : caller.id });
    const status = repository ? await store.getRepositoryStatus(repository) : null;
    return {
      status: 200,
      body: {
        indexJobs: rows.map(indexJobView),
        nextBefore: rows.length === limit ? rows[rows.length - 1]!.jobId : null,
        ...(repository ? { lastScheduling: status ? { commit: status.commit, outcome: status.outcome, message: status.message, checkedAt: status.checkedAt.toISOString() } : null } : {}),
      },
    };
  });

  // --- uploads -----------------------------------------------------------------------------------------
  router.add('GET', '/api/v1/codeintel/uploads', 'codeintel.uploads.list', async (ctx) => {
    const caller = await user(ctx);
    const repository = await repositoryParam(ctx, caller, false);
    const states: UploadState[] = [];
    for (const raw of param(ctx, 'state').split(',').filter(Boolean)) {
      if (!UPLOAD_STATES.includes(raw as UploadState)) throw fieldError(400, 'state', `query parameter state=${JSON.stringify(raw)}: expected ${UPLOAD_STATES.join(', ')}`);
      states.push(raw as UploadState);
    }
    const limit = Math.max(1, int(ctx, 'limit', 50, MAX_PAGE));
    const before = ctx.url.searchParams.has('before') ? int(ctx, 'before', 0) : undefined;
    const rows = await store.listUploads({ repositoryName: repository, states, limit, beforeId: before, readableBy: caller.siteAdmin ? undefined : caller.id });
    return { status: 200, body: { uploads: rows.map(uploadView), nextBefore: rows.length === limit ? rows[rows.length - 1]!.id : null } };
  });

  router.add('GET', '/api/v1/codeintel/uploads/:id', 'codeintel.uploads.get', async (ctx) => {
    const caller = await user(ctx);
    const id = /^\d{1,15}$/.test(ctx.params.id!) ? Number(ctx.params.id) : -1;
    const found = await store.getUpload(id);
    const upload = found && (await onlyReadable(caller, [found], (u) => u.repositoryName))[0];
    if (!upload) throw fieldError(404, 'id', `no upload ${JSON.stringify(ctx.params.id)}`);
    return { status: 200, body: uploadView(upload) };
  });

  // --- navigation --------------------------------------------------------------------------------------
  router.add('GET', '/api/v1/codeintel/definitions', 'codeintel.definitions', async (ctx) => {
    const caller = await user(ctx);
    const pos = await position(ctx, caller);
    const locations = await navigate(pos, () => navigation.definitions(pos));
    return { status: 200, body: { locations: await onlyReadable(caller, locations, (l) => l.repository) } };
  });

  router.add('GET', '/api/v1/codeintel/references', 'codeintel.references', async (ctx) => {
    const caller = await user(ctx);
    const pos = await position(ctx, caller);
    const first = Math.max(1, int(ctx, 'first', 100, 1000));
    const after = param(ctx, 'after') || undefined;
    const found = await navigate(pos, () => navigation.references(pos, { first, after }));
    return { status: 200, body: { ...found, locations: await onlyReadable(caller, found.locations, (l) => l.repository) } };
  });

  router.add('GET', '/api/v1/codeintel/hover', 'codeintel.hover', async (ctx) => {
    const caller = await user(ctx);
    const pos = await position(ctx, caller);
    const hover = await navigate(pos, () => navigation.hover(pos));
    if (!hover) throw new HttpError(404, { error: `no hover information at ${pos.path}:${pos.line}:${pos.character}` });
    return { status: 200, body: hover };
  });

  // --- configuration -------------------------------------------------------------------------------------
  router.add('GET', '/api/v1/codeintel/configuration', 'codeintel.configuration.get', async (ctx) => {
    const caller = await admin(ctx);
    const repository = (await repositoryParam(ctx, caller, true))!;
    const found = await store.getConfiguration(repository);
    return { status: 200, body: { repository, configuration: found?.config ?? null, updatedAt: found?.updatedAt.toISOString() ?? null } };
  });

  router.add('PUT', '/api/v1/codeintel/configuration', 'codeintel.configuration.put', async (ctx) => {
    const caller = await admin(ctx);
    const repository = (await repositoryParam(ctx, caller, true))!;
    const body = await readJson(ctx.req, z.unknown(), s.config.maxBodyBytes);
    const parsed = validateIndexConfiguration(body);
    if (!parsed.ok) throw fieldError(400, 'configuration', `invalid index configuration: ${parsed.error}`);
    await store.setConfiguration(repository, body);
    return { status: 200, body: { repository, configuration: body } };
  });

  router.add('DELETE', '/api/v1/codeintel/configuration', 'codeintel.configuration.delete', async (ctx) => {
    const caller = await admin(ctx);
    const repository = (await repositoryParam(ctx, caller, true))!;
    const deleted = await store.deleteConfiguration(repository);
    return { status: deleted ? 204 : 404, body: deleted ? undefined : { error: `repository ${repository} has no configuration set through the API`, field: 'repository' } };
  });

  // --- policies --------------------------------------------------------------------------------------------
  const policyView = (p: Awaited<ReturnType<typeof store.listPolicies>>[number]) => ({
    id: p.id,
    name: p.name,
    repositoryPattern: p.repositoryPattern,
    branch: p.branch,
    intervalMs: p.intervalMs,
    enabled: p.enabled,
    createdAt: p.createdAt.toISOString(),
  });
  router.add('GET', '/api/v1/codeintel/policies', 'codeintel.policies.list', async (ctx) => {
    await admin(ctx);
    return { status: 200, body: { policies: (await store.listPolicies()).map(policyView) } };
  });
  router.add('POST', '/api/v1/codeintel/policies', 'codeintel.policies.create', async (ctx) => {
    await admin(ctx);
    const body = await readJson(ctx.req, PolicySchema, s.config.maxBodyBytes);
    let intervalMs: number;
    try {
      intervalMs = parseGoDurationMs(body.interval);
    } catch (err) {
      throw fieldError(400, 'interval', `interval ${JSON.stringify(body.interval)}: ${(err as Error).message}`);
    }
    if (intervalMs < 60_000) throw fieldError(400, 'interval', `interval ${JSON.stringify(body.interval)} is under the least of 1m`);
    const row = await store.createPolicy({ name: body.name, repositoryPattern: body.repositoryPattern, branch: body.branch, intervalMs, enabled: body.enabled });
    return { status: 201, body: policyView(row) };
  });
  router.add('DELETE', '/api/v1/codeintel/policies/:id', 'codeintel.policies.delete', async (ctx) => {
    await admin(ctx);
    const id = /^\d{1,15}$/.test(ctx.params.id!) ? Number(ctx.params.id) : -1;
    if (!(await store.deletePolicy(id))) throw fieldError(404, 'id', `no policy ${JSON.stringify(ctx.params.id)}`);
    return { status: 204 };
  });

  // --- the indexer map ----------------------------------------------------------------------------------------
  router.add('GET', '/api/v1/codeintel/indexer-map', 'codeintel.indexer_map.get', async (ctx) => {
    await admin(ctx);
    return {
      status: 200,
      body: { setting: INDEXER_MAP_SETTING, map: s.codeintel.indexerMap(), defaults: DEFAULT_INDEXER_IMAGES, srcCliImage: s.codeintel.config.srcCliImage || DEFAULT_SRC_CLI_IMAGE, fixedByEnvironment: s.codeintel.config.indexerMap !== undefined },
    };
  });
  router.add('PUT', '/api/v1/codeintel/indexer-map', 'codeintel.indexer_map.put', async (ctx) => {
    await admin(ctx);
    if (s.codeintel.config.indexerMap !== undefined) throw fieldError(409, 'map', `${INDEXER_MAP_SETTING} is fixed by COORDINATOR_CODEINTEL_INDEXER_MAP`);
    const body = await readJson(ctx.req, z.unknown(), s.config.maxBodyBytes);
    const raw = JSON.stringify(body);
    const parsed = parseIndexerMap(raw);
    if (!parsed.ok) throw fieldError(400, 'map', parsed.error);
    await s.settings.set('codeIntelIndexerMap', Object.keys(parsed.map).length > 0 ? raw : undefined);
    return { status: 200, body: { setting: INDEXER_MAP_SETTING, map: parsed.map } };
  });
}
