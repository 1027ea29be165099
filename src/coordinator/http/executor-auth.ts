// Authentication of the executor API, exactly as reference §2.2: the shared `token-executor` secret
// for queue-wide routes, per-job bearer tokens (or the shared secret, for old executors) for job routes.
import type { IncomingMessage } from 'node:http';
import { EXECUTOR_NAME_HEADER, EXECUTOR_TOKEN_SCHEME, JOB_ID_HEADER, JOB_TOKEN_SCHEME } from '../../protocol/headers.js';
import { jobTokenSha256 } from '../queues/job-token.js';
import type { SiteSettings } from '../settings/site-settings.js';
import type { JobStore } from '../store/job-store.js';
import { constantTimeEquals } from './constant-time.js';
import { HttpError } from './http-error.js';

export const EXECUTORS_NOT_CONFIGURED = 'Executors are not configured on this instance';

/** What a job route may act on. `executor` = the shared secret was used: no per-job scope. */
export type JobAuth =
  | { kind: 'executor'; jobId: number; executorName: string }
  | { kind: 'job'; jobId: number; executorName: string; queue: string; repositoryName: string };

/** What the headers of a job route say; `tokenSha256` is null for the shared executor token. */
export type JobCredentials =
  | { kind: 'executor'; jobId: number; executorName: string; tokenSha256: null }
  | { kind: 'job'; jobId: number; executorName: string; tokenSha256: Buffer };

/** The resource a job route touches, checked against the token's scope. */
export type JobRouteScope = { queue: string } | { repositoryName: string } | { files: true };

/**
 * A 401 that says what was wrong. The original answers these with no body; old executors read only the
 * status, so a body costs them nothing and tells a person with curl (or this executor's log) the fix.
 */
function unauthorized(why: string): HttpError {
  return new HttpError(401, { error: why });
}

const EXPECTED_HEADER = `expected "Authorization: ${EXECUTOR_TOKEN_SCHEME} <executors.accessToken>"`;

function splitAuthorization(req: IncomingMessage, expected = EXPECTED_HEADER): [string, string] {
  const header = req.headers.authorization;
  if (header === undefined) throw unauthorized(`no Authorization header: ${expected}`);
  const parts = header.split(' ');
  // HTTP servers trim trailing spaces: "token-executor " arrives as "token-executor".
  if (parts.length === 1 && (parts[0] === EXECUTOR_TOKEN_SCHEME || parts[0] === JOB_TOKEN_SCHEME)) throw unauthorized(`no token after ${parts[0]}: ${expected}`);
  if (parts.length !== 2) throw unauthorized(`the Authorization header is not "<scheme> <token>": ${expected}`);
  return [parts[0]!, parts[1]!];
}

export class ExecutorAuth {
  constructor(
    private readonly settings: SiteSettings,
    private readonly jobs: JobStore,
  ) {}

  private configuredToken(): string {
    const token = this.settings.executorsAccessToken;
    if (!token) throw new HttpError(500, EXECUTORS_NOT_CONFIGURED);
    return token;
  }

  /** Queue-wide routes (dequeue, heartbeat, test/auth): `Authorization: token-executor <secret>`. */
  requireExecutorToken(req: IncomingMessage): void {
    const expected = this.configuredToken();
    const [scheme, token] = splitAuthorization(req);
    if (scheme !== EXECUTOR_TOKEN_SCHEME) throw unauthorized(`the Authorization scheme ${JSON.stringify(scheme.slice(0, 40))} is not accepted here: ${EXPECTED_HEADER}`);
    if (token === '') throw unauthorized(`no token after ${EXECUTOR_TOKEN_SCHEME}: ${EXPECTED_HEADER}`);
    if (!constantTimeEquals(token, expected)) throw unauthorized(`the ${EXECUTOR_TOKEN_SCHEME} token does not match the site setting executors.accessToken`);
  }

  /**
   * The header checks of a job route (`jobAuthMiddleware` of the original), without the database.
   * The token itself is checked by the statement that acts (see JobClaim), or by `requireJobToken`.
   */
  jobCredentials(req: IncomingMessage): JobCredentials {
    // HTTP servers trim trailing spaces, so "Bearer " arrives as "Bearer": say what is missing.
    const header = req.headers.authorization ?? '';
    if (header === JOB_TOKEN_SCHEME || header === EXECUTOR_TOKEN_SCHEME) throw new HttpError(401, 'no token value in the HTTP Authorization request header');
    const jobExpected = `expected "Authorization: ${JOB_TOKEN_SCHEME} <the job's token>"`;
    const [scheme, token] = splitAuthorization(req, jobExpected);
    if (scheme !== JOB_TOKEN_SCHEME && scheme !== EXECUTOR_TOKEN_SCHEME) throw unauthorized(`the Authorization scheme ${JSON.stringify(scheme.slice(0, 40))} is not accepted here: ${jobExpected}`);
    if (token === '') throw new HttpError(401, 'no token value in the HTTP Authorization request header');
    if (scheme === EXECUTOR_TOKEN_SCHEME && !constantTimeEquals(token, this.configuredToken())) {
      throw new HttpError(403, { error: `the ${EXECUTOR_TOKEN_SCHEME} token does not match the site setting executors.accessToken` });
    }

    const rawJobId = req.headers[JOB_ID_HEADER];
    if (typeof rawJobId !== 'string' || !/^\d{1,15}$/.test(rawJobId)) throw new HttpError(400, `${JOB_ID_HEADER} must be a decimal job id`);
    const jobId = Number(rawJobId);
    const executorName = req.headers[EXECUTOR_NAME_HEADER];
    if (typeof executorName !== 'string' || executorName === '') throw new HttpError(400, 'worker hostname cannot be empty');
    if (scheme === EXECUTOR_TOKEN_SCHEME) return { kind: 'executor', jobId, executorName, tokenSha256: null };
    const tokenSha256 = jobTokenSha256(token);
    if (!tokenSha256) throw new HttpError(401, 'invalid token');
    return { kind: 'job', jobId, executorName, tokenSha256 };
  }

  /**
   * Job routes that read (git proxy, files store): headers, then the token looked up and scoped, and
   * the executor named in the headers must be the one that holds the job — as the acting routes' own
   * statement requires. (The original accepts any heartbeating executor's name here.)
   */
  async requireJobToken(req: IncomingMessage, scope: JobRouteScope): Promise<JobAuth> {
    const credentials = this.jobCredentials(req);
    if (credentials.kind === 'executor') return { kind: 'executor', jobId: credentials.jobId, executorName: credentials.executorName };
    return this.checkToken(credentials, scope, { requireHolder: true });
  }

  /**
   * Looks the token up and throws the status the original gives for what is wrong with it (reference
   * §2.2). Used directly by reading routes, and by acting routes to explain a statement that matched
   * nothing; returns the token's scope when nothing is wrong with it.
   */
  async checkToken(credentials: JobCredentials & { kind: 'job' }, scope: JobRouteScope, options: { requireHolder?: boolean } = {}): Promise<JobAuth & { kind: 'job' }> {
    const found = await this.jobs.lookupToken(credentials.tokenSha256, credentials.executorName);
    if (!found) throw new HttpError(401, 'invalid token');
    if (found.jobId !== credentials.jobId) throw new HttpError(403, 'invalid token');
    if ('queue' in scope && found.queue !== scope.queue) throw new HttpError(403, 'invalid token: it belongs to another queue');
    if ('repositoryName' in scope && found.repositoryName !== scope.repositoryName) throw new HttpError(403, 'invalid token: it belongs to another repository');
    if (!found.executorKnown) throw new HttpError(401, 'invalid token');
    if (options.requireHolder && !found.heldByExecutor) throw new HttpError(403, 'invalid token: the job is held by another executor');
    return { kind: 'job', jobId: found.jobId, executorName: credentials.executorName, queue: found.queue, repositoryName: found.repositoryName };
  }
}
