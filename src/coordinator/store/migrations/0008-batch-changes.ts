// Server-side batch changes, the execution side: batch changes (a spec in a user's or organization's
// namespace), the workspaces its spec resolved to, executions of it with one row per workspace (each a
// `batches` job, or a result from the step cache), and the per-user step cache. The changesets built from
// the results are 0009's.
export const sql = /* sql */ `
CREATE TABLE batch_changes (
  id                bigserial PRIMARY KEY,
  name              text NOT NULL,
  -- The namespace: exactly one of a user and an organization.
  namespace_user_id bigint REFERENCES users (id) ON DELETE CASCADE,
  namespace_org_id  bigint REFERENCES orgs (id) ON DELETE CASCADE,
  -- Who created it (whose changesets they are when the spec names no author).
  owner_user_id     bigint REFERENCES users (id) ON DELETE SET NULL,
  description       text NOT NULL DEFAULT '',
  -- The YAML as sent, and what parseBatchSpec made of it (BatchSpec).
  spec_yaml         text NOT NULL,
  spec              jsonb NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK ((namespace_user_id IS NULL) <> (namespace_org_id IS NULL))
);
CREATE UNIQUE INDEX batch_changes_name_idx ON batch_changes (COALESCE(namespace_user_id, 0), COALESCE(namespace_org_id, 0), name);

-- What the spec's "on" and "workspaces" resolved to when it was created or replaced: repository × branch ×
-- path, in the order listed (sorted). A skipped one says why and gets no job.
CREATE TABLE batch_workspaces (
  id                   bigserial PRIMARY KEY,
  batch_change_id      bigint NOT NULL REFERENCES batch_changes (id) ON DELETE CASCADE,
  position             integer NOT NULL,
  repository_name      text NOT NULL,
  branch               text NOT NULL,
  -- '' when the branch could not be resolved (then skipped).
  commit               text NOT NULL,
  -- The workspace's directory in the repository, '' for its root.
  path                 text NOT NULL,
  search_result_paths  text[] NOT NULL DEFAULT '{}',
  only_fetch_workspace boolean NOT NULL DEFAULT false,
  skipped              boolean NOT NULL DEFAULT false,
  skipped_reason       text
);
CREATE INDEX batch_workspaces_batch_change_idx ON batch_workspaces (batch_change_id, position);

-- One execution of a batch change's spec (the original's batch spec execution). Its state follows from
-- its workspace executions (batches/execution-state.ts): QUEUED → PROCESSING → COMPLETED | FAILED, or
-- CANCELING → CANCELED; a retry makes a finished one PROCESSING again.
CREATE TABLE batch_executions (
  id              bigserial PRIMARY KEY,
  batch_change_id bigint NOT NULL REFERENCES batch_changes (id) ON DELETE CASCADE,
  state           text NOT NULL CHECK (state IN ('QUEUED', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELING', 'CANCELED')),
  no_cache        boolean NOT NULL DEFAULT false,
  -- Who asked for it: its jobs run as this user (their repositories, secrets and step cache).
  user_id         bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz
);
CREATE INDEX batch_executions_batch_change_idx ON batch_executions (batch_change_id, id);

-- One row per workspace of an execution: the job that runs it (NULL for a cached result), its state
-- (QUEUED | PROCESSING | CANCELING as its job goes, then COMPLETED | FAILED | CANCELED), the result the
-- job uploaded, and the step cache key it was stored under.
CREATE TABLE batch_workspace_executions (
  id              bigserial PRIMARY KEY,
  execution_id    bigint NOT NULL REFERENCES batch_executions (id) ON DELETE CASCADE,
  workspace_id    bigint NOT NULL REFERENCES batch_workspaces (id) ON DELETE CASCADE,
  state           text NOT NULL CHECK (state IN ('QUEUED', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELING', 'CANCELED')),
  job_id          bigint REFERENCES jobs (id) ON DELETE SET NULL,
  cache_key       text NOT NULL,
  cached          boolean NOT NULL DEFAULT false,
  failure_message text,
  result          jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  started_at      timestamptz,
  finished_at     timestamptz,
  UNIQUE (execution_id, workspace_id)
);
CREATE UNIQUE INDEX batch_workspace_executions_job_idx ON batch_workspace_executions (job_id) WHERE job_id IS NOT NULL;
-- What the settling pass looks at: the rows whose job may still change state.
CREATE INDEX batch_workspace_executions_live_idx ON batch_workspace_executions (id) WHERE state IN ('QUEUED', 'PROCESSING', 'CANCELING');

-- Per user: the result of a workspace's steps under a key of what decides it (repository, commit, path,
-- the steps as written, their literal env, the versions of the secrets they use).
CREATE TABLE batch_step_cache (
  user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  cache_key  text NOT NULL,
  result     jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, cache_key)
);
`;
