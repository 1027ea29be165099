// buildChangesetSpecs: templates rendered per changeset with the result's outputs and the changeset's own
// files, transformChanges groups (most specific directory, repository-restricted), published rules, no spec
// for an empty diff, and template errors naming the field and the workspace.
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../shared/errors.js';
import type { CompletedWorkspace } from '../changeset-hook.js';
import type { BatchSpec } from '../spec/batch-spec.js';
import { parseBatchSpec } from '../spec/parse-batch-spec.js';
import { buildChangesetSpecs, groupOf } from './changeset-spec-builder.js';

const spec = (yaml: string): BatchSpec => {
  const parsed = parseBatchSpec(yaml);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.spec;
};

/** A file's section as `git diff` writes it: a one-line change. */
const change = (file: string) => `diff --git a/${file} b/${file}\nindex 1111111..2222222 100644\n--- a/${file}\n+++ b/${file}\n@@ -1 +1 @@\n-old\n+new\n`;
const added = (file: string) => `diff --git a/${file} b/${file}\nnew file mode 100644\nindex 0000000..2222222\n--- /dev/null\n+++ b/${file}\n@@ -0,0 +1,2 @@\n+one\n+two\n`;

const workspace = (diff: string, overrides: Partial<CompletedWorkspace> = {}): CompletedWorkspace => ({
  batchChangeId: 7,
  executionId: 3,
  workspaceId: 11,
  repositoryName: 'github.com/acme/app',
  branch: 'main',
  commit: 'a'.repeat(40),
  path: '',
  cached: false,
  result: { version: 1, diff, outputs: { ticket: 'T-1', meta: { owner: 'ops' } }, steps: [] },
  ...overrides,
});

const SPEC = `name: tidy
description: Tidies up
steps:
  - run: ./tidy
    container: alpine:3
    outputs:
      ticket:
        value: x
transformChanges:
  group:
    - directory: pkg
      branch: tidy-pkg
    - directory: pkg/deep
      branch: tidy-deep
      title: Deep \${{ steps.path }}
    - directory: docs
      branch: tidy-docs
      repository: github.com/acme/other
changesetTemplate:
  title: "\${{ outputs.ticket }}: tidy \${{ repository.name }}"
  body: "\${{ batch_change.description }} (\${{ index outputs.meta \\"owner\\" }}); modified \${{ join steps.modified_files \\",\\" }}; added \${{ join steps.added_files \\",\\" }}; at '\${{ steps.path }}'"
  branch: tidy/\${{ repository.branch }}
  commit:
    message: Tidy \${{ steps.path }}
    author:
      name: \${{ batch_change.name }} bot
      email: bot@example.com
  published:
    - github.com/acme/*: true
    - github.com/acme/app@tidy-deep: false
`;

describe('buildChangesetSpecs', () => {
  it('renders the template per branch, each with its own files, counts, path and published rule', () => {
    const diff = change('README.md') + change('docs/guide.md') + change('pkg/a.go') + added('pkg/deep/b.go') + change('pkgs/c.go');
    const specs = buildChangesetSpecs(spec(SPEC), workspace(diff));
    expect(specs.map((s) => ({ branch: s.headBranch, group: s.groupDirectory, title: s.title, body: s.body, message: s.commitMessage, added: s.addedLines, deleted: s.deletedLines, published: s.published }))).toEqual([
      {
        branch: 'tidy/main',
        group: '',
        title: 'T-1: tidy github.com/acme/app',
        // docs/ is another repository's group, and pkgs/ is not inside pkg/.
        body: "Tidies up (ops); modified README.md,docs/guide.md,pkgs/c.go; added ; at ''",
        message: 'Tidy ',
        added: 3,
        deleted: 3,
        published: 'true',
      },
      { branch: 'tidy-pkg', group: 'pkg', title: 'T-1: tidy github.com/acme/app', body: "Tidies up (ops); modified pkg/a.go; added ; at 'pkg'", message: 'Tidy pkg', added: 1, deleted: 1, published: 'true' },
      { branch: 'tidy-deep', group: 'pkg/deep', title: 'Deep pkg/deep', body: "Tidies up (ops); modified ; added pkg/deep/b.go; at 'pkg/deep'", message: 'Tidy pkg/deep', added: 2, deleted: 0, published: 'false' },
    ]);
    expect(specs[0]!.diff).toBe(change('README.md') + change('docs/guide.md') + change('pkgs/c.go'));
    expect(specs[2]!.diff).toBe(added('pkg/deep/b.go'));
    expect(specs[0]).toMatchObject({ batchChangeId: 7, executionId: 3, workspaceId: 11, repositoryName: 'github.com/acme/app', baseBranch: 'main', baseCommit: 'a'.repeat(40), author: { name: 'tidy bot', email: 'bot@example.com' } });
  });

  it('uses the workspace path as steps.path of its own changeset, and makes nothing of an empty diff', () => {
    const specs = buildChangesetSpecs(spec(SPEC), workspace(change('svc/x.go'), { path: 'svc' }));
    expect(specs.map((s) => [s.headBranch, s.commitMessage])).toEqual([['tidy/main', 'Tidy svc']]);
    expect(buildChangesetSpecs(spec(SPEC), workspace(''))).toEqual([]);
    expect(buildChangesetSpecs(spec(SPEC), workspace('\n'))).toEqual([]);
  });

  it('names the template field and the workspace when a template fails, and refuses a result that is not a diff', () => {
    const broken = spec(SPEC.replace('${{ outputs.ticket }}: tidy', '${{ outputs.missing }}: tidy'));
    const err = (() => {
      try {
        buildChangesetSpecs(broken, workspace(change('README.md')));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('changesets.template_failed');
    expect((err as AppError).message).toMatch(/^workspace 11 \(github\.com\/acme\/app@main\): changesetTemplate\.title: .*no output named "missing"/);
    expect(() => buildChangesetSpecs(spec(SPEC), workspace('not a diff\n'))).toThrow(/workspace 11 .*not a git diff/);
  });
});

describe('groupOf', () => {
  it('picks the most specific directory holding the path, by whole segments', () => {
    const groups = [{ directory: 'pkg', branch: 'p' }, { directory: './pkg/deep/', branch: 'd' }, { directory: 'pk', branch: 'x' }];
    expect(groupOf('pkg/deep/x.go', groups)?.branch).toBe('d');
    expect(groupOf('pkg/x.go', groups)?.branch).toBe('p');
    expect(groupOf('pkgs/x.go', groups)).toBeUndefined();
  });
});
