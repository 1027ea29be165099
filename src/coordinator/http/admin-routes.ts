// The admin API under /api/v1 (bearer COORDINATOR_ADMIN_TOKEN): jobs, executors, repositories, files.
import { z } from 'zod';
import { DockerStepSchema, JobSpecSchema, type JobSpec } from '../../protocol/job.js';
import { AppError } from '../../shared/errors.js';
import { planJobSecrets } from '../secrets/job-secrets.js';
import { COORDINATOR_PROTOCOL_VERSION, executorCompatibility } from '../executors/compatibility.js';
import { mirrorRepository, validateRepositoryName } from '../git/repository-mirror.js';
import { displaySourceUrl, parseRepositorySource, redactSourceUrl, RepositoryUrlError, type RepositorySource } from '../git/repository-url.js';
import { fileKeyProblem, FILE_BUCKET_PATTERN, inlineFilesBytes, jobSpecProblem } from '../queues/job-spec-check.js';
import { isJobState, type JobState } from '../queues/job-state.js';
import type { ExecutorRow } from '../store/executor-store.js';
import type { FileOwner } from '../store/file-store.js';
import { QuotaExceededError, type JobRow } from '../store/job-store.js';
import type { RepositoryRow } from '../store/repository-store.js';
import { authenticateUser, requireSiteAdmin } from './admin-auth.js';
import { fieldError, HttpError } from './http-error.js';
import { readBody, readJson } from './request-body.js';
import type { RequestContext, Router } from './router.js';
import type { HttpServices } from './services.js';

/** An executor counts as active when seen within 3 heartbeats of 5 s (reference §7.4). */
export const EXECUTOR_ACTIVE_WITHIN_MS = 15_000;

const MAX_PAGE_SIZE = 500;

/** Characters of one entry's output per page of `…/logs/{entryId}` (and the most a `limit` may ask for). */
export const LOG_PAGE_CHARS = 1024 * 1024;

/**
 * A job as the admin API creates it: the Job payload without id, token and version, where each docker
 * step may name executor secrets (`secrets`) and the job may run in an organization's namespace
 * (`namespace: {"org": "<name>"}`; default the caller's own). Unknown fields are refused.
 */
const CreateJobSchema = JobSpecSchema.extend({
  dockerSteps: z.array(DockerStepSchema.extend({ secrets: z.array(z.string()).optional() }).strict()).default([]),
  namespace: z.strictObject({ org: z.string() }).optional(),
}).strict();

const VisibilitySchema = z.enum(['public', 'restricted']);

const CreateRepositorySchema = z.strictObject({
  name: z.string(),
  /** A local path or a URL that `git clone --mirror` accepts (https, http, ssh, git, file). */
  url: z.string().min(1),
  /** Default `public` for a new repository; an existing one keeps its own unless given. */
  visibility: VisibilitySchema.optional(),
});

/** `PUT /api/v1/repositories/{name}/access`: the visibility and the whole list of grants. */
const RepositoryAccessSchema = z.strictObject({
  visibility: VisibilitySchema,
  users: z.array(z.string()).max(1000).default([]),
  orgs: z.array(z.string()).max(1000).default([]),
});

/** How long a caller over a quota is told to wait: jobs leave the queue as executors take them. */
export const QUOTA_RETRY_AFTER_SECONDS = 30;

function repositoryView(r: RepositoryRow) {
  return { name: r.name, url: displaySourceUrl(r.sourceUrl, r.hasCredential), visibility: r.visibility, createdAt: r.createdAt.toISOString(), updatedAt: r.updatedAt.toISOString() };
}

/** The status of a failed mirror: the caller's source (400), or the remote that git could not fetch (502). */
function mirrorFailure(err: unknown, source: RepositorySource): HttpError {
  if (!(err instanceof AppError)) throw err;
  const local = source.kind === 'local' || source.kind === 'file';
  switch (err.code) {
    case 'repository.invalid_source_url':
    case 'repository.invalid_name':
      return fieldError(400, err.code === 'repository.invalid_name' ? 'name' : 'url', err.message);
    case 'repository.clone_aborted':
      return fieldError(400, 'url', err.message);
    case 'repository.clone_failed':
      // A local path is the caller's to get right; a remote that fails is upstream's failure.
      return fieldError(local ? 400 : 502, 'url', err.message);
    case 'repository.clone_timeout':
      return fieldError(502, 'url', err.message);
    default:
      throw err;
  }
}

function jobView(job: JobRow) {
  return {
    id: job.id,
    queue: job.queue,
    state: job.state,
    failureMessage: job.failureMessage,
    repositoryName: job.repositoryName,
    commit: job.spec.commit ?? '',
    queuedAt: job.queuedAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    lastHeartbeatAt: job.lastHeartbeatAt?.toISOString() ?? null,
    finishedAt: job.finishedAt?.toISOString() ?? null,
    processAfter: job.processAfter?.toISOString() ?? null,
    numResets: job.numResets,
    numFailures: job.numFailures,
    workerHostname: job.workerHostname || null,
    cancel: job.cancel,
  };
}

function executorView(e: ExecutorRow, now: number) {
  const active = now - e.lastSeenAt.getTime() <= EXECUTOR_ACTIVE_WITHIN_MS;
  return {
    id: e.id,
    hostname: e.hostname,
    queueName: e.queueName,
    queueNames: e.queueNames,
    active,
    os: e.os,
    architecture: e.architecture,
    dockerVersion: e.dockerVersion,
    executorVersion: e.executorVersion,
    gitVersion: e.gitVersion,
    igniteVersion: e.igniteVersion,
    srcCliVersion: e.srcCliVersion,
    firstSeenAt: e.firstSeenAt.toISOString(),
    lastSeenAt: e.lastSeenAt.toISOString(),
    compatibility: executorCompatibility(e.executorVersion, COORDINATOR_PROTOCOL_VERSION, active),
  };
}

function intParam(url: URL, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) > max) throw new HttpError(400, { error: `query parameter ${name}=${JSON.stringify(raw)}: expected an integer from 0 to ${max}` });
  return Number(raw);
}

/** A query parameter that is an integer from `min` to `max`, or `fallback` when absent; else 400 naming it. */
function boundedParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d{1,16}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw fieldError(400, name, `query parameter ${name}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
  }
  return Number(raw);
}

export function addAdminRoutes(router: Router, s: HttpServices): void {
  const queueNames = new Set(s.config.queues.map((q) => q.name));
  const admin = (ctx: RequestContext) => requireSiteAdmin(ctx.req, s);
  const knownQueue = (queue: string) => {
    if (!queueNames.has(queue)) throw new HttpError(404, { error: `unknown queue ${JSON.stringify(queue)}; this coordinator serves: ${[...queueNames].join(', ')}` });
    return queue;
  };
  const jobId = (raw: string) => {
    if (!/^\d{1,15}$/.test(raw)) throw new HttpError(404, { error: `no job ${JSON.stringify(raw)}` });
    return Number(raw);
  };

  router.add('GET', '/api/v1/queues', 'admin.queues', async (ctx) => {
    await admin(ctx);
    const stats = await s.jobs.stats();
    const queues = s.config.queues.map((q) => {
      const counts = Object.fromEntries(stats.filter((r) => r.queue === q.name).map((r) => [r.state, r.count]));
      return { name: q.name, weight: q.weight, limit: q.limit, counts, size: (counts.queued ?? 0) + (counts.processing ?? 0) };
    });
    return { status: 200, body: { queues } };
  });

  // Any user may ask for a job in their own namespace or an organization's they belong to; its secrets
  // come from that namespace (and the global one). The codeintel queue is the site admins'. What the job
  // names is checked before it is stored: its fields (jobSpecProblem), the repository and files the user
  // may use (JobAccess), the secrets that exist, and the user's quotas.
  router.add('POST', '/api/v1/queues/:queue/jobs', 'admin.jobs.create', async (ctx) => {
    const user = await authenticateUser(ctx.req, s);
    const queue = knownQueue(ctx.params.queue!);
    if (queue === 'codeintel' && !user.siteAdmin) throw new HttpError(403, { error: 'only site admins queue codeintel jobs' });
    const { namespace, dockerSteps, ...rest } = await readJson(ctx.req, CreateJobSchema, s.config.maxBodyBytes);
    const spec: JobSpec = { ...rest, dockerSteps: dockerSteps.map(({ secrets: _secrets, ...step }) => step) };
    const stepSecrets = dockerSteps.map((step) => step.secrets ?? []);
    const problem = jobSpecProblem(spec, { siteAdmin: user.siteAdmin, maxInlineFilesBytes: s.config.jobMaxInlineFilesBytes, stepSecrets });
    if (problem) throw fieldError(problem.status, problem.field, problem.message);
    let orgId: number | null = null;
    if (namespace) {
      const org = (await s.users.listOrgs(user.id)).find((o) => o.name === namespace.org);
      if (!org) throw fieldError(403, 'namespace.org', `you are not a member of an organization named ${JSON.stringify(namespace.org)}`);
      orgId = org.id;
    }
    const denied = await s.access.enqueueProblem(user, spec);
    if (denied) throw fieldError(denied.status, denied.field, denied.message);
    const secrets = await planJobSecrets(s.secrets, { userId: user.id, orgId, queue, stepSecrets });
    try {
      const id = await s.jobs.enqueue(queue, spec, {
        secrets,
        creatorId: user.id,
        inlineFilesBytes: inlineFilesBytes(spec),
        // Site admins are exempt: they run the coordinator (and its scripts) and can change the limits anyway.
        quota: user.siteAdmin ? undefined : s.config.quotas,
      });
      return { status: 201, body: { id } };
    } catch (err) {
      if (!(err instanceof QuotaExceededError)) throw err;
      throw new HttpError(429, { error: `${err.message}; try again when some have run`, quota: err.limit }, { 'retry-after': String(QUOTA_RETRY_AFTER_SECONDS) });
    }
  });

  router.add('GET', '/api/v1/queues/:queue/jobs', 'admin.jobs.list', async (ctx) => {
    await admin(ctx);
    const queue = knownQueue(ctx.params.queue!);
    const states: JobState[] = [];
    for (const raw of (ctx.url.searchParams.get('state') ?? '').split(',').filter(Boolean)) {
      if (!isJobState(raw)) throw new HttpError(400, { error: `query parameter state=${JSON.stringify(raw)}: expected queued, processing, completed, errored, failed or canceled` });
      states.push(raw);
    }
    const limit = Math.max(1, intParam(ctx.url, 'limit', 50, MAX_PAGE_SIZE));
    const before = ctx.url.searchParams.has('before') ? intParam(ctx.url, 'before', 0) : undefined;
    const rows = await s.jobs.list(queue, { states, limit, beforeId: before });
    const last = rows.length === limit ? rows[rows.length - 1]?.id : undefined;
    return { status: 200, body: { jobs: rows.map(jobView), nextBefore: last ?? null } };
  });

  // The job and its entries without their output (each entry's `outLength` and `outBytes` instead):
  // the output is paged by the route below, so a job of thousands of big entries stays cheap to view.
  router.add('GET', '/api/v1/queues/:queue/jobs/:id', 'admin.jobs.get', async (ctx) => {
    await admin(ctx);
    const found = await s.jobs.getSummary(knownQueue(ctx.params.queue!), jobId(ctx.params.id!));
    if (!found) throw new HttpError(404, { error: `no job ${ctx.params.id} in queue ${ctx.params.queue}` });
    return { status: 200, body: { ...jobView(found.job), executionLogs: found.entries } };
  });

  // One entry's output, `limit` characters (default and at most LOG_PAGE_CHARS) from character `offset`;
  // `nextOffset` is where the next page starts, null at the end.
  router.add('GET', '/api/v1/queues/:queue/jobs/:id/logs/:entryId', 'admin.jobs.logs.get', async (ctx) => {
    await admin(ctx);
    const queue = knownQueue(ctx.params.queue!);
    const id = jobId(ctx.params.id!);
    const offset = boundedParam(ctx.url, 'offset', 0, 0, 2 ** 31 - 1);
    const limit = boundedParam(ctx.url, 'limit', LOG_PAGE_CHARS, 1, LOG_PAGE_CHARS);
    if (!(await s.jobs.find(queue, id))) throw new HttpError(404, { error: `no job ${ctx.params.id} in queue ${queue}` });
    const raw = ctx.params.entryId!;
    const page = /^\d{1,9}$/.test(raw) ? await s.jobs.logEntryPage(id, Number(raw), offset, limit) : null;
    if (!page) throw fieldError(404, 'entryId', `job ${id} has no log entry ${JSON.stringify(raw)}`);
    const end = offset + page.out.length;
    return { status: 200, body: { ...page, nextOffset: end < page.outLength ? end : null } };
  });

  router.add('POST', '/api/v1/queues/:queue/jobs/:id/cancel', 'admin.jobs.cancel', async (ctx) => {
    await admin(ctx);
    const id = jobId(ctx.params.id!);
    const outcome = await s.jobs.cancel(knownQueue(ctx.params.queue!), id);
    switch (outcome) {
      case 'not-found':
        throw new HttpError(404, { error: `no job ${id} in queue ${ctx.params.queue}` });
      case 'already-finished':
        throw new HttpError(409, { error: `job ${id} has already finished` });
      case 'canceled':
        return { status: 200, body: { id, state: 'canceled' } };
      case 'cancel-requested':
        return { status: 202, body: { id, state: 'processing', cancel: true, message: 'the executor is told at its next heartbeat' } };
    }
  });

  router.add('GET', '/api/v1/executors', 'admin.executors.list', async (ctx) => {
    await admin(ctx);
    const active = ctx.url.searchParams.get('active');
    if (active !== null && active !== 'true' && active !== 'false') throw new HttpError(400, { error: 'query parameter active: expected true or false' });
    const { executors, totalCount } = await s.executors.list({
      query: ctx.url.searchParams.get('query') ?? undefined,
      active: active === null ? undefined : active === 'true',
      activeWithinMs: EXECUTOR_ACTIVE_WITHIN_MS,
      limit: Math.max(1, intParam(ctx.url, 'limit', 50, MAX_PAGE_SIZE)),
      offset: intParam(ctx.url, 'offset', 0),
    });
    const now = Date.now();
    return { status: 200, body: { executors: executors.map((e) => executorView(e, now)), totalCount } };
  });

  router.add('POST', '/api/v1/repositories', 'admin.repositories.create', async (ctx) => {
    await admin(ctx);
    const body = await readJson(ctx.req, CreateRepositorySchema, s.config.maxBodyBytes);
    const problem = validateRepositoryName(body.name);
    if (problem) throw fieldError(400, 'name', problem);
    let source: RepositorySource;
    try {
      source = parseRepositorySource(body.url);
    } catch (err) {
      if (err instanceof RepositoryUrlError) throw fieldError(400, 'url', `invalid source URL ${JSON.stringify(redactSourceUrl(body.url))}: ${err.message}`);
      throw err;
    }
    let mirrored;
    try {
      // The client going away kills git (and its helpers) rather than leave them running.
      mirrored = await mirrorRepository({ repositoriesDir: s.repositoriesDir, name: body.name, sourceUrl: body.url, logger: s.logger, timeoutMs: s.config.mirrorTimeoutMs, signal: ctx.signal });
    } catch (err) {
      throw mirrorFailure(err, source);
    }
    const row = await s.repositories.upsert(body.name, { url: mirrored.source.url, credential: mirrored.source.credential ?? null, visibility: body.visibility });
    return { status: mirrored.created ? 201 : 200, body: repositoryView(row) };
  });

  // Site admins see every repository with its source; other users the repositories they may queue jobs
  // against, by name and visibility only.
  router.add('GET', '/api/v1/repositories', 'admin.repositories.list', async (ctx) => {
    const user = await authenticateUser(ctx.req, s);
    if (user.siteAdmin) return { status: 200, body: { repositories: (await s.repositories.list()).map(repositoryView) } };
    const rows = await s.repositories.list({ readableBy: user.id });
    return { status: 200, body: { repositories: rows.map((r) => ({ name: r.name, visibility: r.visibility })) } };
  });

  const accessView = async (row: RepositoryRow) => {
    const grants = await s.repositories.grants(row.name);
    return { name: row.name, visibility: row.visibility, users: grants.users, orgs: grants.orgs };
  };
  const registered = async (name: string) => {
    const row = await s.repositories.get(name);
    if (!row) throw fieldError(404, 'name', `no repository ${JSON.stringify(name)}`);
    return row;
  };

  router.add('GET', '/api/v1/repositories/*name/access', 'admin.repositories.access.get', async (ctx) => {
    await admin(ctx);
    return { status: 200, body: await accessView(await registered(ctx.params.name!)) };
  });

  // Replaces the visibility and every grant at once; queued jobs of users who lose access fail at dequeue.
  router.add('PUT', '/api/v1/repositories/*name/access', 'admin.repositories.access.put', async (ctx) => {
    await admin(ctx);
    const name = ctx.params.name!;
    const body = await readJson(ctx.req, RepositoryAccessSchema, s.config.maxBodyBytes);
    await registered(name);
    const userIds: number[] = [];
    for (const [i, username] of body.users.entries()) {
      const user = await s.users.getByName(username);
      if (!user) throw fieldError(400, `users.${i}`, `no user ${JSON.stringify(username)}`);
      userIds.push(user.id);
    }
    const orgs = new Map((await s.users.listOrgs()).map((o) => [o.name, o.id]));
    const orgIds: number[] = [];
    for (const [i, orgName] of body.orgs.entries()) {
      const orgId = orgs.get(orgName);
      if (orgId === undefined) throw fieldError(400, `orgs.${i}`, `no organization ${JSON.stringify(orgName)}`);
      orgIds.push(orgId);
    }
    if (!(await s.repositories.setAccess(name, body.visibility, { userIds: [...new Set(userIds)], orgIds: [...new Set(orgIds)] }))) {
      throw fieldError(404, 'name', `no repository ${JSON.stringify(name)}`);
    }
    return { status: 200, body: await accessView(await registered(name)) };
  });

  // Any user may store files for their jobs: as their own, or (`?org=<name>`) as an organization's they
  // belong to. A file another user or organization (or a producer) owns is only replaced by a site admin.
  router.add('PUT', '/api/v1/files/:bucket/*key', 'admin.files.put', async (ctx) => {
    const user = await authenticateUser(ctx.req, s);
    const bucket = ctx.params.bucket!;
    const key = ctx.params.key!;
    if (!FILE_BUCKET_PATTERN.test(bucket)) throw fieldError(400, 'bucket', 'a bucket is one name of letters, digits, ".", "_" and "-", at most 63');
    const keyProblem = fileKeyProblem(key);
    if (keyProblem) throw fieldError(400, 'key', keyProblem);
    let owner: FileOwner = { kind: 'user', userId: user.id };
    const orgName = ctx.url.searchParams.get('org');
    if (orgName !== null) {
      const org = (await s.users.listOrgs(user.id)).find((o) => o.name === orgName);
      if (!org) throw fieldError(403, 'org', `you are not a member of an organization named ${JSON.stringify(orgName)}`);
      owner = { kind: 'org', orgId: org.id };
    }
    const existing = await s.files.owner(bucket, key);
    if (existing && !user.siteAdmin && !(await mayReplace(existing, user.id))) {
      throw fieldError(403, 'key', `file ${bucket}/${key} belongs to another user or organization: choose another key`);
    }
    const content = await readBody(ctx.req, s.config.maxBodyBytes);
    await s.files.put(bucket, key, content, owner);
    return { status: 204 };
  });
  const mayReplace = async (owner: FileOwner, userId: number) =>
    (owner.kind === 'user' && owner.userId === userId) || (owner.kind === 'org' && (await s.users.isMember(owner.orgId, userId)));
}
