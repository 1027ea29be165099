// Code intelligence (auto-indexing): index configurations per repository, scheduling policies, the index
// jobs the coordinator queued (one row per codeintel job it built), what the scheduler last decided per
// repository, SCIP uploads with their states, and the processed index: documents with their occurrences,
// symbols with documentation, definition and reference ranges per symbol and document, and the packages
// an upload defines (cross-repository definitions).
export const sql = /* sql */ `
-- An explicit configuration set through the API ({"shared_steps": [...], "index_jobs": [...]}); wins over
-- the repository's sourcegraph.yaml and over inference.
CREATE TABLE codeintel_index_configurations (
  repository_name text PRIMARY KEY,
  config          jsonb NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Auto-indexing policies: repositories whose name matches the glob get their branch's head indexed every
-- interval. Nothing is scheduled until an admin adds one.
CREATE TABLE codeintel_policies (
  id                 bigserial PRIMARY KEY,
  name               text NOT NULL,
  repository_pattern text NOT NULL,
  branch             text NOT NULL,
  interval_ms        bigint NOT NULL CHECK (interval_ms >= 60000),
  enabled            boolean NOT NULL DEFAULT true,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- When a policy last scheduled a repository (its interval counts from here).
CREATE TABLE codeintel_policy_runs (
  policy_id       bigint NOT NULL REFERENCES codeintel_policies (id) ON DELETE CASCADE,
  repository_name text NOT NULL,
  last_run_at     timestamptz NOT NULL,
  PRIMARY KEY (policy_id, repository_name)
);

-- One row per codeintel job the coordinator built from an index record (reference §3.4); the job itself
-- is in jobs. config_hash identifies the index record's configuration: a (repository, root, indexer)
-- that failed N times in a row with one configuration is not scheduled again until it changes.
CREATE TABLE codeintel_index_jobs (
  job_id             bigint PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
  repository_name    text NOT NULL,
  commit             text NOT NULL,
  root               text NOT NULL,
  indexer            text NOT NULL,
  indexer_name       text NOT NULL,
  outfile            text NOT NULL,
  -- 'inferred' | 'sourcegraph.yaml' | 'api': where the index record came from.
  source             text NOT NULL,
  config_hash        text NOT NULL,
  requested_env_vars text[] NOT NULL DEFAULT '{}',
  created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX codeintel_index_jobs_repository_idx ON codeintel_index_jobs (repository_name, job_id);
CREATE INDEX codeintel_index_jobs_key_idx ON codeintel_index_jobs (repository_name, root, indexer_name, job_id);

-- What the last scheduling of a repository decided, so that "why was nothing indexed" is answered in
-- the API and the UI, not only in a log: outcome 'queued' | 'up_to_date' | 'no_indexer' |
-- 'config_error' | 'capped' | 'blocked' | 'error'.
CREATE TABLE codeintel_repository_status (
  repository_name text PRIMARY KEY,
  commit          text NOT NULL,
  outcome         text NOT NULL,
  message         text NOT NULL,
  checked_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE codeintel_uploads (
  id                  bigserial PRIMARY KEY,
  repository_name     text NOT NULL,
  commit              text NOT NULL,
  -- '' for the repository's root, else 'dir/' (the original's sanitizeRoot).
  root                text NOT NULL,
  indexer             text NOT NULL,
  indexer_version     text NOT NULL,
  -- The codeintel job whose upload step sent it (a job id), or NULL for uploads from outside executors.
  associated_index_id bigint,
  uploaded_by         text NOT NULL,
  -- uploading (multipart, parts arriving) → queued → processing → completed | errored; processing goes
  -- back to queued when the coordinator processing it stopped (see codeintel-store.ts).
  state               text NOT NULL CHECK (state IN ('uploading', 'queued', 'processing', 'completed', 'errored')),
  num_parts           integer NOT NULL,
  uploaded_parts      integer[] NOT NULL DEFAULT '{}',
  uncompressed_size   bigint,
  compressed_size     bigint NOT NULL DEFAULT 0,
  failure_message     text,
  -- A newer completed upload for the same (repository, commit, root, indexer) replaces this one; its
  -- processed data is deleted then.
  replaced_by         bigint,
  uploaded_at         timestamptz NOT NULL DEFAULT now(),
  started_at          timestamptz,
  finished_at         timestamptz,
  last_heartbeat_at   timestamptz,
  num_resets          integer NOT NULL DEFAULT 0,
  num_documents       integer NOT NULL DEFAULT 0,
  num_occurrences     bigint NOT NULL DEFAULT 0,
  num_symbols         integer NOT NULL DEFAULT 0,
  num_dropped_paths   integer NOT NULL DEFAULT 0
);
CREATE INDEX codeintel_uploads_repository_idx ON codeintel_uploads (repository_name, id);
CREATE INDEX codeintel_uploads_commit_idx ON codeintel_uploads (repository_name, commit) WHERE state = 'completed' AND replaced_by IS NULL;
CREATE INDEX codeintel_uploads_queued_idx ON codeintel_uploads (id) WHERE state = 'queued';
CREATE INDEX codeintel_uploads_processing_idx ON codeintel_uploads (last_heartbeat_at) WHERE state = 'processing';

-- One row per document of an upload: its occurrences packed (occurrence-codec.ts) in position order.
-- Packing makes a document one row instead of one row per occurrence: processing writes ~100 times fewer
-- rows, and a position lookup reads one row (the original does the same with SCIP payloads).
CREATE TABLE codeintel_documents (
  upload_id   bigint NOT NULL,
  id          integer NOT NULL,
  path        text NOT NULL,
  occurrences bytea NOT NULL,
  PRIMARY KEY (upload_id, id)
);
CREATE UNIQUE INDEX codeintel_documents_path_idx ON codeintel_documents (upload_id, path);

-- The global symbols an upload uses (and document-local ones that have documentation: document_id set),
-- with their hover documentation.
CREATE TABLE codeintel_symbols (
  upload_id     bigint NOT NULL,
  id            integer NOT NULL,
  name          text NOT NULL,
  document_id   integer,
  documentation text,
  PRIMARY KEY (upload_id, id)
);
-- Symbol names can be longer than a btree entry allows: look them up by their md5.
CREATE INDEX codeintel_symbols_name_idx ON codeintel_symbols (md5(name), upload_id) WHERE document_id IS NULL;

-- Where a global symbol is defined and referenced in the upload: (document, range) lists packed
-- (occurrence-codec.ts), one row per symbol and segment (a segment is what processing buffered before
-- writing; most uploads have one). A row per symbol instead of per occurrence: a million occurrences are
-- ~40,000 rows. Local symbols need none: their occurrences are all in their document's row.
CREATE TABLE codeintel_symbol_locations (
  upload_id    bigint NOT NULL,
  symbol_id    integer NOT NULL,
  segment      integer NOT NULL,
  definitions  bytea,
  "references" bytea,
  PRIMARY KEY (upload_id, symbol_id, segment)
);

-- The packages an upload defines symbols of (SCIP package: manager, name, version): how a symbol another
-- repository's index references is found.
CREATE TABLE codeintel_packages (
  upload_id bigint NOT NULL,
  manager   text NOT NULL,
  name      text NOT NULL,
  version   text NOT NULL,
  PRIMARY KEY (upload_id, manager, name, version)
);
CREATE INDEX codeintel_packages_lookup_idx ON codeintel_packages (manager, name, version);
`;
