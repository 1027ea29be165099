// Who may put what in a job, and how much: owners of stored files, visibility of repositories and their
// grants, repository credentials encrypted like secrets, the inline-file bytes each job holds (for the
// per-user quota), and the sign-in failures that throttle password guessing.
export const sql = /* sql */ `
-- Whose a file is: the user or organization that stored it, or the producer (batches, codeintel) that
-- did. A user may name in a job only files they or one of their organizations own; site admins any.
-- Files stored before owners existed (by site admins, the only ones who could) have none: site admins only.
ALTER TABLE files ADD COLUMN owner_user_id bigint REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE files ADD COLUMN owner_org_id bigint REFERENCES orgs (id) ON DELETE CASCADE;
ALTER TABLE files ADD COLUMN owner_producer text;
ALTER TABLE files ADD CONSTRAINT files_one_owner
  CHECK (num_nonnulls(owner_user_id, owner_org_id, owner_producer) <= 1);

-- public: every user may queue jobs against it; restricted: only the users and organizations granted.
-- Repositories registered before this keep what they had: everyone's.
ALTER TABLE repositories ADD COLUMN visibility text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'restricted'));
-- The userinfo of the source URL (user:password), encrypted as executor secrets are; source_url keeps
-- the URL without it.
ALTER TABLE repositories ADD COLUMN source_credential bytea;
ALTER TABLE repositories ADD COLUMN source_credential_key_id text;
ALTER TABLE repositories ADD CONSTRAINT repositories_credential_key
  CHECK ((source_credential IS NULL) = (source_credential_key_id IS NULL));

CREATE TABLE repository_grants (
  repository_name text NOT NULL REFERENCES repositories (name) ON DELETE CASCADE ON UPDATE CASCADE,
  user_id         bigint REFERENCES users (id) ON DELETE CASCADE,
  org_id          bigint REFERENCES orgs (id) ON DELETE CASCADE,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CHECK (num_nonnulls(user_id, org_id) = 1)
);
CREATE UNIQUE INDEX repository_grants_idx ON repository_grants (repository_name, COALESCE(user_id, 0), COALESCE(org_id, 0));

-- Bytes of the job's inline file contents, counted against its creator's quota while it waits.
ALTER TABLE jobs ADD COLUMN inline_files_bytes integer NOT NULL DEFAULT 0;
-- The quota check counts a user's waiting jobs (queued, or errored until retried) per queue.
CREATE INDEX jobs_creator_waiting_idx ON jobs (creator_id, queue) WHERE state IN ('queued', 'errored');

-- Failed sign-ins per user name ('user:<name>') and per client address ('address:<ip>') within the
-- current window; locked_until is set once a key reached its limit.
CREATE TABLE sign_in_failures (
  key             text PRIMARY KEY,
  failures        integer NOT NULL,
  first_failed_at timestamptz NOT NULL,
  locked_until    timestamptz
);
`;
