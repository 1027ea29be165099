// The initial schema: the job queue (reference §7.1) with its job tokens (§7.2), the executor registry (§7.4),
// the repositories jobs clone and the files store (§2.5, §2.6).
export const sql = /* sql */ `
CREATE TABLE jobs (
  id                bigserial PRIMARY KEY,
  queue             text NOT NULL,
  -- queued → processing → completed | errored | failed | canceled; see job-state.ts for the transitions.
  state             text NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'processing', 'completed', 'errored', 'failed', 'canceled')),
  -- The Job payload without id, token and version, as the admin API accepted it.
  spec              jsonb NOT NULL,
  repository_name   text NOT NULL DEFAULT '',
  failure_message   text,
  queued_at         timestamptz NOT NULL DEFAULT now(),
  started_at        timestamptz,
  last_heartbeat_at timestamptz,
  finished_at       timestamptz,
  process_after     timestamptz,
  num_resets        integer NOT NULL DEFAULT 0,
  num_failures      integer NOT NULL DEFAULT 0,
  worker_hostname   text NOT NULL DEFAULT '',
  cancel            boolean NOT NULL DEFAULT false,
  -- Entries of the current attempt; the next entry id is this + 1.
  log_entry_count   integer NOT NULL DEFAULT 0,
  -- SHA-256 of the current job token's bytes (reference §7.2); NULL once the job finished or was reset.
  -- The original keeps tokens in a table of their own; on the job row, issuing and deleting a token
  -- costs no extra row writes, and job routes check it inside the statement that acts (one round trip).
  token_sha256      bytea
);
CREATE UNIQUE INDEX jobs_token_sha256_idx ON jobs (token_sha256) WHERE token_sha256 IS NOT NULL;
-- Dequeue reads the head of one queue's queued rows in order; a partial index keeps that O(log n)
-- however many rows are queued or finished.
CREATE INDEX jobs_dequeue_idx ON jobs (queue, queued_at, id) WHERE state = 'queued';
-- The stalled-job resetter and heartbeats look only at processing rows.
CREATE INDEX jobs_processing_idx ON jobs (last_heartbeat_at) WHERE state = 'processing';
-- No index on state: every state change would add an entry to it. Listing newest first walks the
-- primary key; the partial indexes above serve the queued and processing rows.

-- One row per log entry (the original keeps a json[] column; a table makes an update of one entry
-- cost one row, not a rewrite of the whole log).
CREATE TABLE job_log_entries (
  job_id      bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  entry_id    integer NOT NULL,
  key         text NOT NULL,
  command     text[] NOT NULL,
  start_time  timestamptz NOT NULL,
  exit_code   integer,
  out         text,
  duration_ms integer,
  PRIMARY KEY (job_id, entry_id)
);

-- One row per executor process (reference §7.4).
CREATE TABLE executors (
  id                 bigserial PRIMARY KEY,
  hostname           text NOT NULL UNIQUE,
  queue_name         text,
  queue_names        text[],
  os                 text NOT NULL DEFAULT '',
  architecture       text NOT NULL DEFAULT '',
  docker_version     text NOT NULL DEFAULT '',
  executor_version   text NOT NULL DEFAULT '',
  git_version        text NOT NULL DEFAULT '',
  ignite_version     text NOT NULL DEFAULT '',
  src_cli_version    text NOT NULL DEFAULT '',
  -- The executor's own metrics, already labelled with sg_instance, as the last heartbeat sent them.
  prometheus_metrics text NOT NULL DEFAULT '',
  first_seen_at      timestamptz NOT NULL DEFAULT now(),
  last_seen_at       timestamptz NOT NULL DEFAULT now(),
  CHECK ((queue_name IS NULL) <> (queue_names IS NULL))
);
CREATE INDEX executors_last_seen_at_idx ON executors (last_seen_at);

CREATE TABLE repositories (
  name       text PRIMARY KEY,
  source_url text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE files (
  bucket     text NOT NULL,
  key        text NOT NULL,
  content    bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (bucket, key)
);
`;
