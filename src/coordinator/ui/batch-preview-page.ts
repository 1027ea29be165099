// A batch change's preview and changesets: what apply would do with each current changeset spec (title,
// repository, branch, operation, +/− counts, the diff rendered per file), an Apply button, and the
// changesets with their states (UNPUBLISHED, OPEN, MERGED, CLOSED), each unpublished one with a Publish
// button. The same ChangesetService as GET …/preview, POST …/apply and …/changesets/{id}/publish.
import type { PlannedChangeset } from '../batches/changesets/changeset-service.js';
import { HttpError } from '../http/http-error.js';
import type { Router } from '../http/router.js';
import type { HttpServices } from '../http/services.js';
import type { ChangesetRouteServices } from '../http/changeset-routes.js';
import { batchChangeHref, batchChangeOfPage, batchChangeRef } from './batch-change-access.js';
import { stateBadge } from './batch-changes-pages.js';
import { diffView } from './diff-view.js';
import { html, type Html } from './html.js';
import { csrfField, page } from './layout.js';
import { htmlReply, redirectWithNotice } from './ui-reply.js';
import { readForm, requirePageSession } from './ui-session.js';

function plannedChangeset(p: PlannedChangeset, index: number, publishButton: (changesetId: number) => Html): Html {
  const spec = p.spec;
  const repository = spec?.repositoryName ?? p.changeset!.repositoryName;
  const branch = spec?.headBranch ?? p.changeset!.headBranch;
  return html`<section class="changeset" id="planned-${index}" data-repository="${repository}" data-branch="${branch}" data-operation="${p.operation}">
    <div class="card">
      <div><span class="badge operation" data-field="operation">${p.operation}</span> <strong data-field="title">${spec?.title ?? '(no spec: its repository left the batch spec)'}</strong></div>
      <div class="muted">${repository} · <code data-field="branch">${branch}</code> → <code>${spec?.baseBranch ?? p.changeset!.baseBranch}</code>
        · <span class="added" data-field="added">+${spec?.addedLines ?? 0}</span> <span class="deleted" data-field="deleted">−${spec?.deletedLines ?? 0}</span>
        ${p.changeset ? html` · now ${stateBadge(p.changeset.state)}` : ''}${p.push ? html` · <span>apply pushes the branch</span>` : ''}</div>
      ${p.changeset && spec && p.operation === 'none' && (p.changeset.state === 'UNPUBLISHED' || p.changeset.state === 'CLOSED') ? html`<div class="actions">${publishButton(p.changeset.id)}</div>` : ''}
      ${spec?.body ? html`<p class="wrap">${spec.body}</p>` : ''}
    </div>
    ${spec && p.operation !== 'close' ? html`<details open><summary>Diff</summary><div class="diff-view">${diffView(spec.diff)}</div></details>` : ''}
  </section>`;
}

export function addBatchPreviewPage(router: Router, s: HttpServices): void {
  const service = (): ChangesetRouteServices => {
    if (!s.changesets) throw new HttpError(404, 'Changesets are not served by this coordinator.');
    return s.changesets;
  };

  router.add('GET', '/batch-changes/:namespace/:name/preview', 'ui.batch_change.preview', async (ctx) => {
    const session = await requirePageSession(ctx, s);
    const b = await batchChangeOfPage(ctx, s, session);
    const { changesets } = service();
    const ref = batchChangeRef(b);
    const plan = await changesets.preview(ref);
    const rows = await changesets.list(ref);
    const specs = await changesets.specsOf(rows);
    const notice = ctx.url.searchParams.get('notice');
    const publishButton = (id: number) =>
      html`<form class="inline" method="post" action="${batchChangeHref(b, `/changesets/${id}/publish`)}">${csrfField(session)}<button class="secondary" type="submit">Publish</button></form>`;
    const changes = plan.filter((p) => p.operation !== 'none');
    const body = html`<h1><a href="/batch-changes">Batch changes</a> · <a href="${batchChangeHref(b)}">${b.namespace.name} / ${b.name}</a> · Preview</h1>
      ${notice ? html`<div class="notice" role="status" id="notice">${notice}</div>` : ''}
      <div class="actions">
        <form class="inline" method="post" action="${batchChangeHref(b, '/apply')}">${csrfField(session)}<button type="submit" id="apply" ${changes.length === 0 ? html`disabled` : ''}>Apply ${changes.length} change${changes.length === 1 ? '' : 's'}</button></form>
        <span class="muted">Apply creates or updates a changeset per spec (pushing the branches <code>published</code> asks for) and closes those whose repository left the spec.</span>
      </div>
      <h2>Changesets</h2>
      <div class="table-wrap"><table id="changesets">
        <thead><tr><th>Changeset</th><th>State</th><th>Repository</th><th>Branch</th><th>Title</th><th>Commit</th><th></th></tr></thead>
        <tbody>${rows.map((c) => {
          const title = c.currentSpecId !== null ? (specs.get(c.currentSpecId)?.title ?? '') : '';
          return html`<tr data-changeset-id="${c.id}" data-repository="${c.repositoryName}" data-state="${c.state}">
            <td>#${c.id}</td><td data-field="state">${stateBadge(c.state)}</td><td>${c.repositoryName}</td><td><code>${c.headBranch}</code></td><td class="wrap">${title}</td>
            <td>${c.pushedCommit ? html`<code>${c.pushedCommit.slice(0, 12)}</code>` : ''}</td>
            <td>${(c.state === 'UNPUBLISHED' || c.state === 'CLOSED') && c.currentSpecId !== null ? publishButton(c.id) : ''}</td>
          </tr>`;
        })}</tbody>
      </table>${rows.length === 0 ? html`<p class="muted" id="no-changesets">No changesets yet: apply the preview.</p>` : ''}</div>
      <h2>Preview</h2>
      <div id="preview">${plan.map((p, i) => plannedChangeset(p, i, publishButton))}</div>
      ${plan.length === 0 ? html`<p class="muted" id="no-preview">Nothing to preview: no workspace of the latest execution has a diff yet.</p>` : ''}`;
    return htmlReply(page({ title: `Preview · ${b.name}`, section: 'batches', session, body }));
  });

  router.add('POST', '/batch-changes/:namespace/:name/apply', 'ui.batch_change.apply', async (ctx) => {
    const { session } = await readForm(ctx, s);
    const b = await batchChangeOfPage(ctx, s, session);
    const { changesets } = service();
    return redirectWithNotice(batchChangeHref(b, '/preview'), async () => {
      const applied = await changesets.apply(batchChangeRef(b));
      const by = new Map<string, number>();
      for (const a of applied) by.set(a.operation, (by.get(a.operation) ?? 0) + 1);
      return `Applied: ${[...by].map(([op, n]) => `${n} ${op}`).join(', ') || 'nothing to do'}.`;
    });
  });

  router.add('POST', '/batch-changes/:namespace/:name/changesets/:id/publish', 'ui.batch_change.publish', async (ctx) => {
    const { session } = await readForm(ctx, s);
    const b = await batchChangeOfPage(ctx, s, session);
    const { changesets } = service();
    const id = /^\d{1,15}$/.test(ctx.params.id!) ? Number(ctx.params.id) : -1;
    return redirectWithNotice(batchChangeHref(b, '/preview'), async () => {
      const row = await changesets.publish(batchChangeRef(b), id);
      return `Published changeset #${row.id}: branch ${row.headBranch} of ${row.repositoryName} is ${row.state}.`;
    });
  });
}
