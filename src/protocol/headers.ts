// Header names and auth schemes of the executor API (reference §2.2).

/** `Authorization: token-executor <executors.accessToken>` */
export const EXECUTOR_TOKEN_SCHEME = 'token-executor';
/** `Authorization: Bearer <job token>` on job-scoped routes. */
export const JOB_TOKEN_SCHEME = 'Bearer';
export const JOB_ID_HEADER = 'x-sourcegraph-job-id';
export const EXECUTOR_NAME_HEADER = 'x-sourcegraph-executor-name';
export const ACTOR_UID_HEADER = 'x-sourcegraph-actor-uid';
