// Turns one completed workspace's result into changeset specs: its diff split by the spec's
// transformChanges groups (each group's files on the group's branch, the rest on the template's branch),
// and for each part the changesetTemplate rendered with the part's files as `steps.*`.
//
// Groups differ from the original's on purpose: a file belongs to a group when it is *inside* the group's
// directory by whole path segments (the original tests a substring, so `pkg/a` also took `vendor/pkg/ab`),
// and the most specific directory wins (the original's last match made the order of the list decide).
import { BatchTemplateError, renderChangesetTemplate, type ChangesetTemplateContext } from '../../../shared/batch-templating/index.js';
import { AppError } from '../../../shared/errors.js';
import type { NewChangesetSpec } from '../../store/changeset-store.js';
import type { CompletedWorkspace } from '../changeset-hook.js';
import type { BatchSpec, TransformGroup } from '../spec/batch-spec.js';
import { resolvePublished } from '../spec/published-rules.js';
import { countLines, filePathOf, isUnderDirectory, joinFileDiffs, normalizeDirectory, parseFileDiffs, type FileDiff } from './file-diffs.js';

/** The transformChanges groups that apply to `repositoryName` (those without `repository`, and its own). */
export function groupsFor(spec: BatchSpec, repositoryName: string): TransformGroup[] {
  return spec.transformChanges.group.filter((g) => g.repository === undefined || g.repository === repositoryName);
}

/** The group `path` belongs to: the one with the longest directory holding it (the later on a tie); undefined: none. */
export function groupOf(path: string, groups: readonly TransformGroup[]): TransformGroup | undefined {
  let best: TransformGroup | undefined;
  let bestLength = -1;
  for (const g of groups) {
    const dir = normalizeDirectory(g.directory);
    if (!isUnderDirectory(path, dir)) continue;
    if (dir.length >= bestLength) {
      best = g;
      bestLength = dir.length;
    }
  }
  return best;
}

/** `steps.*` of a changeset's files: what its diff does, and where (the workspace's or the group's directory). */
function stepsContext(files: readonly FileDiff[], path: string): ChangesetTemplateContext['steps'] {
  const of = (status: FileDiff['status']) => files.filter((f) => f.status === status).map(filePathOf);
  return { modifiedFiles: of('modified'), addedFiles: of('added'), deletedFiles: of('deleted'), renamedFiles: of('renamed'), path };
}

function render(field: string, text: string, ctx: ChangesetTemplateContext, where: string): string {
  try {
    return renderChangesetTemplate(text, ctx);
  } catch (err) {
    if (err instanceof BatchTemplateError) throw new AppError('changesets.template_failed', `${where}: changesetTemplate.${field}: ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * The changeset specs of a completed workspace: none for an empty diff (or a spec without a
 * changesetTemplate), else one per branch its files go to.
 * @throws AppError `changesets.template_failed` naming the template field and the workspace,
 *   `changesets.invalid_diff` when the result's diff is not a git diff.
 */
export function buildChangesetSpecs(spec: BatchSpec, workspace: CompletedWorkspace): NewChangesetSpec[] {
  const template = spec.changesetTemplate;
  if (!template || workspace.result.diff.trim() === '') return [];
  const where = `workspace ${workspace.workspaceId} (${workspace.repositoryName}@${workspace.branch}${workspace.path ? `, ${workspace.path}` : ''})`;
  let files: FileDiff[];
  try {
    files = parseFileDiffs(workspace.result.diff);
  } catch (err) {
    throw new AppError('changesets.invalid_diff', `${where}: the result's diff is not a git diff: ${(err as Error).message}`, { cause: err });
  }
  const groups = groupsFor(spec, workspace.repositoryName);
  // Files in the order of the diff, per part: the workspace's own (key '') and each group's directory.
  const parts = new Map<TransformGroup | undefined, FileDiff[]>();
  for (const file of files) {
    const group = groupOf(filePathOf(file), groups);
    parts.set(group, [...(parts.get(group) ?? []), file]);
  }
  const base: Omit<ChangesetTemplateContext, 'steps'> = {
    repository: { name: workspace.repositoryName, branch: workspace.branch, searchResultPaths: [] },
    batchChange: { name: spec.name, description: spec.description },
    outputs: workspace.result.outputs,
  };
  const specs: NewChangesetSpec[] = [];
  // The workspace's own changeset first, then the groups in the spec's order.
  const order: Array<TransformGroup | undefined> = [undefined, ...groups].filter((g) => parts.has(g));
  for (const group of order) {
    const partFiles = parts.get(group)!;
    const directory = group ? normalizeDirectory(group.directory) : '';
    const ctx: ChangesetTemplateContext = { ...base, steps: stepsContext(partFiles, group ? directory : workspace.path) };
    const partWhere = group ? `${where}, group ${JSON.stringify(group.directory)}` : where;
    const headBranch = render(group ? 'branch (transformChanges group)' : 'branch', group ? group.branch : template.branch, ctx, partWhere).trim();
    if (headBranch === '') throw new AppError('changesets.template_failed', `${partWhere}: changesetTemplate.branch rendered to an empty branch name`);
    const author = template.commit.author
      ? { name: render('commit.author.name', template.commit.author.name, ctx, partWhere), email: render('commit.author.email', template.commit.author.email, ctx, partWhere) }
      : null;
    const published = resolvePublished(template.published, workspace.repositoryName, headBranch);
    specs.push({
      batchChangeId: workspace.batchChangeId,
      executionId: workspace.executionId,
      workspaceId: workspace.workspaceId,
      repositoryName: workspace.repositoryName,
      baseBranch: workspace.branch,
      baseCommit: workspace.commit,
      headBranch,
      groupDirectory: directory,
      title: render('title', group?.title ?? template.title, ctx, partWhere),
      body: render('body', template.body, ctx, partWhere),
      commitMessage: render('commit.message', template.commit.message, ctx, partWhere),
      author,
      diff: joinFileDiffs(partFiles),
      ...countLines(partFiles),
      published: published === true ? 'true' : published === false ? 'false' : 'draft',
    });
  }
  return specs;
}
