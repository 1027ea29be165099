// People and their secrets (reference §7.5): users with hashed passwords and API tokens, organizations
// with members, executor secrets per namespace (global, user, organization) encrypted at rest, the
// access log of every read of a secret's value, and the secrets a job asked for.
export const sql = /* sql */ `
CREATE TABLE users (
  id            bigserial PRIMARY KEY,
  username      text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
  -- scrypt, self-describing (password-hash.ts); NULL: this user cannot sign in with a password.
  password_hash text,
  site_admin    boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now()
);

-- API tokens: only the SHA-256 of the token is stored; the token itself is shown once, at creation.
CREATE TABLE access_tokens (
  id           bigserial PRIMARY KEY,
  user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  token_sha256 bytea NOT NULL UNIQUE,
  note         text NOT NULL DEFAULT '',
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX access_tokens_user_id_idx ON access_tokens (user_id);

CREATE TABLE orgs (
  id         bigserial PRIMARY KEY,
  name       text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$'),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE org_members (
  org_id     bigint NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
  user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user_id_idx ON org_members (user_id);

CREATE TABLE executor_secrets (
  id                bigserial PRIMARY KEY,
  key               text NOT NULL CHECK (key ~ '^[A-Za-z_][A-Za-z0-9_]{0,127}$'),
  -- AES-256-GCM: 12-byte nonce, then ciphertext, then the 16-byte tag (secret-encryption.ts).
  value             bytea NOT NULL,
  encryption_key_id text NOT NULL,
  scope             text NOT NULL CHECK (scope IN ('batches', 'codeintel')),
  namespace_user_id bigint REFERENCES users (id) ON DELETE CASCADE,
  namespace_org_id  bigint REFERENCES orgs (id) ON DELETE CASCADE,
  creator_id        bigint REFERENCES users (id) ON DELETE SET NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK (namespace_user_id IS NULL OR namespace_org_id IS NULL)
);
-- One secret per key, scope and namespace (global = neither namespace column set).
CREATE UNIQUE INDEX executor_secrets_key_idx
  ON executor_secrets (key, scope, COALESCE(namespace_user_id, 0), COALESCE(namespace_org_id, 0));

-- Who read which secret's value, and when. No foreign key to users: the log outlives a deleted user.
CREATE TABLE executor_secret_access_logs (
  id                 bigserial PRIMARY KEY,
  executor_secret_id bigint NOT NULL REFERENCES executor_secrets (id) ON DELETE CASCADE,
  user_id            bigint,
  machine_user       text,
  job_id             bigint,
  created_at         timestamptz NOT NULL DEFAULT now(),
  CHECK ((user_id IS NULL) <> (machine_user IS NULL))
);
CREATE INDEX executor_secret_access_logs_secret_idx ON executor_secret_access_logs (executor_secret_id, id);

-- The secrets a job asked for, resolved into its payload at each dequeue (never stored decrypted):
-- {"userId": n, "orgId": n|null, "scope": "batches"|"codeintel", "steps": [["KEY", …], …], "dockerAuthConfig": bool}.
ALTER TABLE jobs ADD COLUMN secret_refs jsonb;
-- Who asked for the job (NULL for jobs from before users existed).
ALTER TABLE jobs ADD COLUMN creator_id bigint;
`;
