// How a failed call to the coordinator's executor API reaches the executor: unrecoverable (stop and say
// why), retryable (back off), a rejected request (a bug or version skew), or a job that is no longer ours.
import { AppError } from '../../shared/errors.js';

/** What every coordinator error says about the call that failed. */
export interface CoordinatorCallInfo {
  /** `POST /.executors/queue/batches/dequeue`: method and path, never credentials. */
  call: string;
  /** The HTTP status; undefined when no response came (network error, timeout). */
  status?: number;
  cause?: unknown;
}

/** The base of the coordinator errors: the call that failed and its HTTP status. */
export abstract class CoordinatorError extends AppError {
  /** `METHOD /path` of the failed call. */
  readonly call: string;
  /** The HTTP status; undefined when no response came. */
  readonly status: number | undefined;

  constructor(code: string, message: string, info: CoordinatorCallInfo) {
    super(code, message, info.cause === undefined ? undefined : { cause: info.cause });
    this.call = info.call;
    this.status = info.status;
  }
}

/** The message for a refused EXECUTOR_FRONTEND_PASSWORD: says which setting it must equal. */
export const PASSWORD_REFUSED_MESSAGE =
  'the coordinator refused EXECUTOR_FRONTEND_PASSWORD: check that it equals the site setting executors.accessToken';

/**
 * Nothing this executor does can make the coordinator accept it until an operator fixes something (the
 * password, the TLS trust): the executor stops and prints the message. Never retried by `withRetry`.
 */
export abstract class CoordinatorFatalError extends CoordinatorError {}

/** 401/403 for the shared executor token (`token-executor`). */
export class CoordinatorUnauthorizedError extends CoordinatorFatalError {
  /** `reason`: what the coordinator said was wrong, when its answer said (this coordinator does; the original sends no body). */
  constructor(info: CoordinatorCallInfo & { reason?: string }) {
    super('coordinator.unauthorized', `${PASSWORD_REFUSED_MESSAGE} (${info.call}: HTTP ${info.status ?? '?'}${info.reason ? `: ${info.reason}` : ''})`, info);
  }
}

/**
 * The coordinator answered 404 to a queue route (heartbeat, dequeue): it serves no queue of that name.
 * Retrying cannot help until EXECUTOR_QUEUE_NAME(S) or the coordinator's queues change.
 */
export class CoordinatorUnknownQueueError extends CoordinatorFatalError {
  constructor(origin: string, queues: readonly string[], info: CoordinatorCallInfo & { reason?: string }) {
    const which = queues.length === 1 ? `queue ${JSON.stringify(queues[0])}` : `one of the queues ${queues.map((q) => JSON.stringify(q)).join(', ')}`;
    super(
      'coordinator.unknown_queue',
      `the coordinator at ${origin} does not serve ${which} (${info.call}: HTTP 404${info.reason ? `: ${info.reason}` : ''}): check EXECUTOR_QUEUE_NAME / EXECUTOR_QUEUE_NAMES against the queues it serves`,
      info,
    );
  }
}

/**
 * What answered is not a coordinator: an HTML page (a web server, a proxy's sign-in page, the
 * instance's web app behind a wrong path) or a redirect. The page itself is never printed.
 */
export class CoordinatorNotCoordinatorError extends CoordinatorFatalError {
  constructor(origin: string, what: string, info: CoordinatorCallInfo) {
    super(
      'coordinator.not_a_coordinator',
      `EXECUTOR_FRONTEND_URL=${origin} is not a coordinator's executor API: ${info.call} was answered with ${what}; set EXECUTOR_FRONTEND_URL to the URL of the coordinator (or Sourcegraph instance) itself`,
      info,
    );
  }
}

/** EXECUTOR_FRONTEND_URL says https://, but the server there answers plain HTTP. */
export class CoordinatorPlainHttpError extends CoordinatorFatalError {
  constructor(origin: URL, info: CoordinatorCallInfo) {
    const http = `http://${origin.host}`;
    super('coordinator.plain_http', `the server at ${origin.origin} speaks plain HTTP: use http:// (EXECUTOR_FRONTEND_URL=${http}), or serve the coordinator over HTTPS (${info.call})`, info);
  }
}

/**
 * The coordinator's TLS certificate could not be verified (an unknown CA, a wrong host name, an expired
 * certificate), or it does not speak TLS at all. The message names the problem and where CA
 * certificates were searched, so the operator knows where to put theirs.
 */
export class CoordinatorTlsError extends CoordinatorFatalError {
  constructor(origin: string, trust: string, info: CoordinatorCallInfo & { cause: NodeJS.ErrnoException }) {
    const { code, message } = info.cause;
    super(
      'coordinator.tls_failed',
      `TLS with the coordinator at ${origin} failed: ${code ?? 'error'}: ${message} (${info.call}). ${trust}. Add the CA certificate that signed the coordinator's certificate to one of those places (or point SSL_CERT_FILE / SSL_CERT_DIR at it) and restart the executor`,
      info,
    );
  }
}

/**
 * The coordinator could not be reached or could not answer now: a network error, a timeout, a 5xx or
 * a 429. Back off with jitter and try again.
 */
export class CoordinatorRetryableError extends CoordinatorError {
  /** From a `Retry-After` header, in ms; undefined when the server gave none. */
  readonly retryAfterMs: number | undefined;

  constructor(
    message: string,
    info: CoordinatorCallInfo & {
      /** From a `Retry-After` header (429/503), in ms; the retry waits at least this long. */
      retryAfterMs?: number;
    },
  ) {
    super('coordinator.unavailable', message, info);
    this.retryAfterMs = info.retryAfterMs;
  }
}

/**
 * The coordinator rejected the request (a 4xx other than 401/403/429), or answered something that is
 * not what the protocol says (a body that fails the shape check, a response over the size limit).
 * That is a bug or version skew: retrying would get the same answer, so it is not retried.
 */
export class CoordinatorRequestError extends CoordinatorError {
  constructor(message: string, info: CoordinatorCallInfo) {
    super('coordinator.request_failed', message, info);
  }
}

/**
 * A job route refused the job's token because it no longer exists (401 `invalid token`): the job was
 * finished, reset or handed to another executor, so it is no longer ours. The mark calls answer this
 * as `false` instead of throwing; the log entry and file calls throw this, so the caller stops
 * working for the job. Never retried.
 */
export class CoordinatorJobNotHeldError extends CoordinatorError {
  constructor(
    readonly jobId: number,
    info: CoordinatorCallInfo,
  ) {
    super('coordinator.job_not_held', `job ${jobId} is no longer held by this executor (${info.call}: HTTP ${info.status ?? '?'})`, info);
  }
}
