// Web UI sessions (a signed-in browser: only the SHA-256 of its cookie is stored, with its CSRF token)
// and the site settings that the UI changes (the executors access token, the frontend URL).
export const sql = /* sql */ `
CREATE TABLE sessions (
  id_sha256  bytea PRIMARY KEY,
  user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  csrf_token text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE site_settings (
  key        text PRIMARY KEY,
  value      text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
`;
