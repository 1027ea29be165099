// Batch changes' changesets: the changeset specs built from each workspace's result (what a branch
// should hold), and the changesets applied from them (a branch in the coordinator's bare repository
// with its state).
//
// batch_change_id, execution_id and workspace_id refer to migration 0008's batch changes, batch spec
// executions and workspaces. No FOREIGN KEY is declared to them here: 0008 is written on another branch
// and the two land together; the constraints (ON DELETE CASCADE from the batch change) are added when
// they are merged.
export const sql = /* sql */ `
-- One workspace's result as one branch to push: a workspace's diff makes one spec, or one per
-- transformChanges group its files fall in (group_directory '' is the workspace's own). Rendered from
-- changesetTemplate when the result is stored. A new execution of the batch change supersedes the specs
-- of the ones before; replaying a workspace's result replaces its specs.
CREATE TABLE batch_changeset_specs (
  id              bigserial PRIMARY KEY,
  batch_change_id bigint NOT NULL,
  execution_id    bigint NOT NULL,
  workspace_id    bigint NOT NULL,
  repository_name text NOT NULL,
  base_branch     text NOT NULL,
  base_commit     text NOT NULL CHECK (base_commit ~ '^[0-9a-f]{40}$'),
  head_branch     text NOT NULL,
  group_directory text NOT NULL DEFAULT '',
  title           text NOT NULL,
  body            text NOT NULL,
  commit_message  text NOT NULL,
  -- Both NULL: the commit is authored by the batch change's owner.
  author_name     text,
  author_email    text,
  -- The part of the workspace's \`git diff --binary\` this branch carries.
  diff            text NOT NULL,
  added_lines     integer NOT NULL CHECK (added_lines >= 0),
  deleted_lines   integer NOT NULL CHECK (deleted_lines >= 0),
  -- changesetTemplate.published for this repository and branch: whether apply pushes it.
  published       text NOT NULL CHECK (published IN ('true', 'false', 'draft')),
  superseded      boolean NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX batch_changeset_specs_current_idx ON batch_changeset_specs (batch_change_id, repository_name, head_branch) WHERE NOT superseded;
CREATE INDEX batch_changeset_specs_workspace_idx ON batch_changeset_specs (execution_id, workspace_id);

-- The latest execution of each batch change the changeset side has heard of (the largest id): a result
-- of an older execution arriving late (a canceled run's last job) is stored superseded, never current.
CREATE TABLE batch_changeset_executions (
  batch_change_id     bigint PRIMARY KEY,
  latest_execution_id bigint NOT NULL
);

-- A changeset: one branch of one repository, owned by a batch change. state: 'UNPUBLISHED' (applied, never
-- pushed) → 'OPEN' (pushed) → 'MERGED' (its commit reached the base branch; final) or 'CLOSED' (its
-- branch deleted, or the repository left the spec and apply deleted it); a CLOSED one is pushed again
-- (OPEN) when a later spec publishes it.
CREATE TABLE batch_changesets (
  id               bigserial PRIMARY KEY,
  batch_change_id  bigint NOT NULL,
  repository_name  text NOT NULL,
  head_branch      text NOT NULL,
  base_branch      text NOT NULL,
  state            text NOT NULL DEFAULT 'UNPUBLISHED' CHECK (state IN ('UNPUBLISHED', 'OPEN', 'MERGED', 'CLOSED')),
  -- The spec last applied to it; NULL once the repository left the spec (or the spec was replaced).
  current_spec_id  bigint REFERENCES batch_changeset_specs (id) ON DELETE SET NULL,
  -- The spec whose commit the branch holds, and that commit.
  pushed_spec_id   bigint REFERENCES batch_changeset_specs (id) ON DELETE SET NULL,
  pushed_commit    text CHECK (pushed_commit ~ '^[0-9a-f]{40}$'),
  published_at     timestamptz,
  merged_at        timestamptz,
  closed_at        timestamptz,
  state_checked_at timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (batch_change_id, repository_name, head_branch)
);
CREATE INDEX batch_changesets_open_idx ON batch_changesets (batch_change_id) WHERE state = 'OPEN';
`;
