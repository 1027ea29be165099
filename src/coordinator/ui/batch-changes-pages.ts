// Batch changes: the list of those the user may see (the latest execution's state, workspaces and
// changesets counted by state); a new batch change from the spec editor; a batch change's page with its
// spec in the editor (problems marked at their lines), its resolved workspaces (skipped ones with their
// reason) and the latest execution's state of each, updated while it runs; Execute (with or without the
// step cache), Cancel, Retry all failed or one workspace; and a workspace's page with its result and its
// job's log, live while the job runs, for whoever may see the batch change (job pages are for site admins).
import { AppError } from '../../shared/errors.js';
import { saveBatchChange } from '../batches/save-batch-change.js';
import type { BatchSpecError } from '../batches/spec/batch-spec.js';
import { parseBatchSpec } from '../batches/spec/parse-batch-spec.js';
import { MAX_BATCH_SPEC_BYTES } from '../http/batch-change-routes.js';
import { HttpError } from '../http/http-error.js';
import type { Router } from '../http/router.js';
import type { HttpServices } from '../http/services.js';
import { LIVE_EXECUTION_STATES, type BatchChangeRow, type BatchExecutionState, type BatchExecutionRow, type BatchWorkspaceRow, type WorkspaceExecutionRow } from '../store/batch-store.js';
import type { Session } from '../store/session-store.js';
import { batchChangeHref, batchChangeNamed, batchChangeOfPage, batchChangeRef, readableWorkspaces, workspaceOfPage } from './batch-change-access.js';
import { specEditor, type SpecProblem } from './batch-spec-editor.js';
import { diffView } from './diff-view.js';
import { html, type Html } from './html.js';
import { jobLogEntries, logEntryOutput, streamJobEvents, TAIL_CHARS, TAIL_ENTRIES } from './jobs-pages.js';
import { csrfField, page, timeElement } from './layout.js';
import { htmlReply, redirect, redirectWithNotice } from './ui-reply.js';
import { readForm, requirePageSession } from './ui-session.js';

const BATCHES_QUEUE = 'batches';
/** How often a batch change's page re-reads its workspaces while an execution runs. */
const LIVE_REFRESH_MS = 1_000;
const FINISHED_JOB_STATES = new Set(['completed', 'errored', 'failed', 'canceled']);

const NEW_SPEC = `version: 2
name: my-batch-change
description: What this batch change does
on:
  - repository: github.com/example/repository
steps:
  - run: sed -i 's/old/new/g' README.md
    container: alpine:3
changesetTemplate:
  title: Replace old with new
  body: Made by a batch change
  branch: batch/my-batch-change
  commit:
    message: Replace old with new
`;

export const stateBadge = (state: string, id?: string) => html`<span class="badge state-${state}" ${id ? html`id="${id}"` : ''}>${state}</span>`;

/** A workspace's state as the API shows it: SKIPPED and PENDING (not executed yet) have no execution. */
const workspaceState = (w: BatchWorkspaceRow, e: WorkspaceExecutionRow | undefined) => (w.skipped ? 'SKIPPED' : (e?.state ?? 'PENDING'));

function counts(states: readonly string[]): Html {
  const by = new Map<string, number>();
  for (const st of states) by.set(st, (by.get(st) ?? 0) + 1);
  if (by.size === 0) return html`<span class="muted">—</span>`;
  return html`${[...by].map(([st, n], i) => html`${i > 0 ? ' ' : ''}<span class="badge state-${st}" data-state="${st}">${n} ${st.toLowerCase()}</span>`)}`;
}

/** The form fields of the editor: the namespace, and Validate / Save. */
function editorForm(session: Session, options: { text: string; problems: readonly SpecProblem[]; namespaces: readonly string[]; namespace: string; from?: BatchChangeRow; notice?: string }): Html {
  return html`<form method="post" action="/batch-changes" id="spec-form">${csrfField(session)}
    ${options.from ? html`<input type="hidden" name="from" value="${options.from.name}">` : ''}
    ${options.notice ? html`<div class="notice" role="status" id="spec-notice">${options.notice}</div>` : ''}
    ${specEditor({ text: options.text, problems: options.problems })}
    <div class="actions">
      <label for="namespace">Namespace</label>
      <select id="namespace" name="namespace">${options.namespaces.map((n) => html`<option value="${n}" ${n === options.namespace ? html`selected` : ''}>${n}</option>`)}</select>
      <button class="secondary" type="submit" name="intent" value="validate" id="validate-spec">Validate</button>
      <button type="submit" name="intent" value="save" id="save-spec">${options.from ? 'Save and resolve workspaces' : 'Create batch change'}</button>
    </div>
    <p class="muted">Saving a spec whose <code>name</code> is another batch change's replaces that one (as <code>POST /api/v1/batch-changes</code> does); its workspaces are resolved again and earlier executions forgotten.</p>
  </form>`;
}

async function namespacesOf(s: HttpServices, session: Session): Promise<string[]> {
  return [session.user.username, ...(await s.users.listOrgs(session.user.id)).map((o) => o.name)];
}

export function addBatchChangesPages(router: Router, s: HttpServices): void {
  const { store, execution: executions } = s.batches;

  router.add('GET', '/batch-changes', 'ui.batch_changes', async (ctx) => {
    const session = await requirePageSession(ctx, s);
    const rows = await store.listBatchChanges(session.user.siteAdmin ? undefined : session.user.id);
    const now = Date.now();
    const items: Html[] = [];
    for (const b of rows) {
      const latest = await store.latestExecution(b.id);
      const workspaces = await readableWorkspaces(s, session, b);
      const byWorkspace = new Map((latest ? await store.listWorkspaceExecutions(latest.id) : []).map((e) => [e.workspaceId, e]));
      const changesets = s.changesets ? await s.changesets.changesets.list(batchChangeRef(b)) : [];
      items.push(html`<tr data-batch-change="${b.name}" data-namespace="${b.namespace.name}">
        <td><a href="${batchChangeHref(b)}">${b.name}</a>${b.description ? html`<div class="muted wrap">${b.description}</div>` : ''}</td>
        <td>${b.namespace.name}</td>
        <td data-field="state">${stateBadge(latest?.state ?? 'PENDING')}</td>
        <td data-field="workspaces" class="wrap">${counts(workspaces.map((w) => workspaceState(w, byWorkspace.get(w.id))))}</td>
        <td data-field="changesets" class="wrap">${counts(changesets.map((c) => c.state))}</td>
        <td>${timeElement(b.updatedAt, { now })}</td>
      </tr>`);
    }
    const body = html`<h1>Batch changes</h1>
      <p class="muted">A batch spec says what to change (steps run in containers by executors, <code>batches</code> queue) and where (repositories, branches, paths); each workspace's diff becomes a changeset, pushed as a branch to the coordinator's git when published.</p>
      <p><a class="button" href="/batch-changes/new" id="new-batch-change">New batch change</a></p>
      <div class="table-wrap"><table id="batch-changes">
        <thead><tr><th>Name</th><th>Namespace</th><th>Execution</th><th>Workspaces</th><th>Changesets</th><th>Updated</th></tr></thead>
        <tbody>${items}</tbody>
      </table></div>
      ${rows.length === 0 ? html`<p class="muted" id="no-batch-changes">No batch changes yet.</p>` : ''}`;
    return htmlReply(page({ title: 'Batch changes', section: 'batches', session, body }));
  });

  const newPage = async (session: Session, text: string, problems: readonly SpecProblem[], namespace: string, status = 200, notice?: string) => {
    const body = html`<h1><a href="/batch-changes">Batch changes</a> · New</h1>
      ${editorForm(session, { text, problems, namespaces: await namespacesOf(s, session), namespace, notice })}`;
    return htmlReply(page({ title: 'New batch change', section: 'batches', session, body }), status);
  };

  router.add('GET', '/batch-changes/new', 'ui.batch_changes.new', async (ctx) => {
    const session = await requirePageSession(ctx, s);
    return newPage(session, NEW_SPEC, [], session.user.username);
  });

  /** A batch change's page: the editor (with `edit`'s text and problems, or the saved spec), its workspaces and their states. */
  const batchChangePage = async (session: Session, b: BatchChangeRow, options: { text?: string; problems?: readonly SpecProblem[]; status?: number; notice?: string; editNotice?: string } = {}) => {
    const latest = await store.latestExecution(b.id);
    const workspaces = await readableWorkspaces(s, session, b);
    const byWorkspace = new Map((latest ? await store.listWorkspaceExecutions(latest.id) : []).map((e) => [e.workspaceId, e]));
    const live = latest !== null && LIVE_EXECUTION_STATES.includes(latest.state);
    const now = Date.now();
    const action = (path: string, label: string, options: { cls?: string; id?: string; extra?: Html } = {}) =>
      html`<form class="inline" method="post" action="${batchChangeHref(b, path)}">${csrfField(session)}${options.extra ?? ''}<button ${options.cls ? html`class="${options.cls}"` : ''} ${options.id ? html`id="${options.id}"` : ''} type="submit">${label}</button></form>`;
    const failedCount = workspaces.filter((w) => ['FAILED', 'CANCELED'].includes(workspaceState(w, byWorkspace.get(w.id)))).length;
    const executionCard = html`<div class="card" id="execution" ${live ? html`data-refresh-while-live="${LIVE_REFRESH_MS}"` : ''}>
      ${latest ? executionSummary(latest, now) : html`<span class="muted">Not executed yet.</span>`}
      <div class="actions">
        ${live
          ? action('/cancel', 'Cancel', { cls: 'danger', id: 'cancel-execution' })
          : html`<form class="inline" method="post" action="${batchChangeHref(b, '/execute')}">${csrfField(session)}<button type="submit" id="execute">Execute</button>
              <label><input type="checkbox" name="noCache" value="true" id="no-cache"> without the step cache</label></form>`}
        ${!live && failedCount > 0 ? action('/retry', `Retry ${failedCount} failed`, { cls: 'secondary', id: 'retry-failed' }) : ''}
        ${s.changesets ? html`<a href="${batchChangeHref(b, '/preview')}" id="preview-link">Preview and changesets →</a>` : ''}
      </div>
    </div>`;
    const workspaceRows = workspaces.map((w) => {
      const e = byWorkspace.get(w.id);
      const state = workspaceState(w, e);
      return html`<tr data-workspace-id="${w.id}" data-repository="${w.repositoryName}" data-state="${state}">
        <td>${w.repositoryName}</td><td>${w.branch}</td><td>${w.path || html`<span class="muted">(root)</span>`}</td>
        <td data-field="state">${stateBadge(state)}${e?.cached ? html` <span class="muted">cached</span>` : ''}</td>
        <td>${e ? html`<a href="${batchChangeHref(b, `/workspaces/${w.id}`)}" class="workspace-log">${e.jobId !== null ? `job #${e.jobId} · log` : 'result'}</a>` : ''}</td>
        <td class="wrap" data-field="message">${w.skipped ? html`<span class="muted">${w.skippedReason ?? 'skipped'}</span>` : (e?.failureMessage ?? '').slice(0, 500)}</td>
        <td>${e?.result ? html`${Buffer.byteLength(e.result.diff)} B` : ''}</td>
        <td>${!live && (state === 'FAILED' || state === 'CANCELED') ? action(`/workspaces/${w.id}/retry`, 'Retry', { cls: 'secondary' }) : ''}</td>
      </tr>`;
    });
    const body = html`<h1><a href="/batch-changes">Batch changes</a> · ${b.namespace.name} / ${b.name}</h1>
      ${options.notice ? html`<div class="notice" role="status" id="notice">${options.notice}</div>` : ''}
      ${b.description ? html`<p>${b.description}</p>` : ''}
      <h2>Execution</h2>
      ${executionCard}
      <h2>Workspaces</h2>
      <div class="table-wrap" id="workspaces" ${live ? html`data-refresh-while-live="${LIVE_REFRESH_MS}"` : ''}><table>
        <thead><tr><th>Repository</th><th>Branch</th><th>Path</th><th>State</th><th>Log</th><th>Failure / reason</th><th>Diff</th><th></th></tr></thead>
        <tbody>${workspaceRows}</tbody>
      </table>${workspaces.length === 0 ? html`<p class="muted" id="no-workspaces">No workspaces: the spec's <code>on</code> matched nothing you may read.</p>` : ''}</div>
      <h2>Batch spec</h2>
      ${editorForm(session, { text: options.text ?? b.specYaml, problems: options.problems ?? [], namespaces: [b.namespace.name], namespace: b.namespace.name, from: b, notice: options.editNotice })}
      <p class="muted">Updated ${timeElement(b.updatedAt, { now, format: 'absolute' })}.</p>`;
    return htmlReply(page({ title: `${b.name} · Batch changes`, section: 'batches', session, body }), options.status ?? 200);
  };

  router.add('GET', '/batch-changes/:namespace/:name', 'ui.batch_change', async (ctx) => {
    const session = await requirePageSession(ctx, s);
    const b = await batchChangeOfPage(ctx, s, session);
    return batchChangePage(session, b, { notice: ctx.url.searchParams.get('notice') ?? undefined });
  });

  // Validate or save the editor's spec: problems come back on the same page, marked at their lines.
  router.add('POST', '/batch-changes', 'ui.batch_changes.save', async (ctx) => {
    // A spec as big as the API takes, form-encoded (up to three bytes per byte).
    const { session, form } = await readForm(ctx, s, { maxBytes: 3 * MAX_BATCH_SPEC_BYTES + 4096 });
    const text = (form.get('spec') ?? '').replace(/\r\n/g, '\n');
    const namespace = form.get('namespace') || session.user.username;
    const fromName = form.get('from');
    // The page the form came from, to show problems on: the batch change it edits, or the new one.
    const from = fromName ? await batchChangeNamed(s, session, namespace, fromName) : undefined;
    const again = (problems: readonly BatchSpecError[], status: number, notice?: string) =>
      from ? batchChangePage(session, from, { text, problems, status, editNotice: notice }) : newPage(session, text, problems, namespace, status, notice);
    if (text.trim() === '') return again([{ field: '(root)', message: 'the batch spec is empty' }], 400);
    if (text.length > MAX_BATCH_SPEC_BYTES) return again([{ field: '(root)', message: `the batch spec is over ${MAX_BATCH_SPEC_BYTES} characters` }], 400);
    if (form.get('intent') === 'validate') {
      const parsed = parseBatchSpec(text);
      return parsed.ok ? again([], 200, `The spec is valid (batch change ${parsed.spec.name}). It is not saved yet.`) : again(parsed.errors, 400);
    }
    let saved;
    try {
      saved = await saveBatchChange({ batches: s.batches, users: s.users, logger: s.logger }, session.user, text, namespace);
    } catch (err) {
      if (err instanceof AppError && err.code === 'batches.unknown_namespace') return again([{ field: 'namespace', message: err.message }], 400);
      throw err;
    }
    if (!saved.ok) return again(saved.errors, 400);
    const n = (await store.listWorkspaces(saved.batchChange.id)).length;
    return redirect(`${batchChangeHref(saved.batchChange)}?${new URLSearchParams({ notice: `${saved.created ? 'Created' : 'Saved'}: ${n} workspace${n === 1 ? '' : 's'} resolved.` })}`);
  });

  const asNotice = (b: BatchChangeRow, action: () => Promise<string>) => redirectWithNotice(batchChangeHref(b), action);

  router.add('POST', '/batch-changes/:namespace/:name/execute', 'ui.batch_change.execute', async (ctx) => {
    const { session, form } = await readForm(ctx, s);
    const b = await batchChangeOfPage(ctx, s, session);
    const noCache = form.get('noCache') === 'true';
    return asNotice(b, async () => {
      const e = await executions.execute(b, session.user, { noCache });
      return `Execution ${e.id} started${noCache ? ' without the step cache' : ''}.`;
    });
  });

  router.add('POST', '/batch-changes/:namespace/:name/cancel', 'ui.batch_change.cancel', async (ctx) => {
    const { session } = await readForm(ctx, s);
    const b = await batchChangeOfPage(ctx, s, session);
    return asNotice(b, async () => {
      const outcome = await executions.cancel(b);
      if (!outcome.execution) return 'Nothing to cancel: the batch change has not been executed.';
      return `Canceled ${outcome.canceled} workspace${outcome.canceled === 1 ? '' : 's'}${outcome.canceling > 0 ? `; ${outcome.canceling} running, canceling` : ''}.`;
    });
  });

  router.add('POST', '/batch-changes/:namespace/:name/retry', 'ui.batch_change.retry', async (ctx) => {
    const { session } = await readForm(ctx, s);
    const b = await batchChangeOfPage(ctx, s, session);
    return asNotice(b, async () => `Retrying ${(await executions.retry(b, session.user)).retried} workspace(s).`);
  });

  router.add('POST', '/batch-changes/:namespace/:name/workspaces/:id/retry', 'ui.batch_change.workspace.retry', async (ctx) => {
    const { session } = await readForm(ctx, s);
    const b = await batchChangeOfPage(ctx, s, session);
    const w = await workspaceOfPage(ctx, s, session, b);
    return asNotice(b, async () => {
      await executions.retry(b, session.user, [w.id]);
      return `Retrying the workspace of ${w.repositoryName}${w.path ? ` (${w.path})` : ''}.`;
    });
  });

  const workspaceExecution = async (b: BatchChangeRow, w: BatchWorkspaceRow) => {
    const latest = await store.latestExecution(b.id);
    return latest ? (await store.listWorkspaceExecutions(latest.id)).find((e) => e.workspaceId === w.id) : undefined;
  };

  // A workspace: its state, failure, result (diff, outputs) and its job's log, live while the job runs.
  router.add('GET', '/batch-changes/:namespace/:name/workspaces/:id', 'ui.batch_change.workspace', async (ctx) => {
    const session = await requirePageSession(ctx, s);
    const b = await batchChangeOfPage(ctx, s, session);
    const w = await workspaceOfPage(ctx, s, session, b);
    const e = await workspaceExecution(b, w);
    const job = e?.jobId != null ? await s.jobs.getSummary(BATCHES_QUEUE, e.jobId, { entries: TAIL_ENTRIES, chars: TAIL_CHARS }) : undefined;
    const state = workspaceState(w, e);
    const outputs = e?.result ? Object.entries(e.result.outputs) : [];
    // While the workspace runs, its state and result re-read themselves (the log below is live on its own).
    const live = LIVE_EXECUTION_STATES.includes(state as BatchExecutionState);
    const body = html`<div id="workspace-summary" ${live ? html`data-refresh-while-live="${LIVE_REFRESH_MS}"` : ''}><h1><a href="${batchChangeHref(b)}">${b.name}</a> · ${w.repositoryName}${w.path ? ` / ${w.path}` : ''} ${stateBadge(state, 'workspace-state')}</h1>
      <div class="card"><div>Branch <code>${w.branch}</code> at <code>${w.commit.slice(0, 12)}</code>${e?.cached ? html` · <span class="muted">result from the step cache (no job)</span>` : ''}</div>
        ${w.skipped ? html`<div class="muted">Skipped: ${w.skippedReason ?? ''}</div>` : ''}
        ${e?.failureMessage ? html`<div class="error" id="workspace-failure">${e.failureMessage}</div>` : ''}
        ${job ? html`<div>Job #${job.job.id} ${stateBadge(job.job.state, 'job-state')}${session.user.siteAdmin ? html` · <a href="/jobs/${BATCHES_QUEUE}/${job.job.id}">job page</a>` : ''}</div>` : ''}
      </div>
      ${e?.result
        ? html`<h2>Diff</h2><div id="workspace-diff">${diffView(e.result.diff)}</div>
          ${outputs.length > 0 ? html`<h2>Outputs</h2><div class="table-wrap"><table id="outputs"><tbody>${outputs.map(([k, v]) => html`<tr><td><code>${k}</code></td><td class="wrap"><pre class="doc">${typeof v === 'string' ? v : JSON.stringify(v, null, 2)}</pre></td></tr>`)}</tbody></table></div>` : ''}`
        : ''}</div>
      <h2>Log</h2>
      ${job
        ? jobLogEntries(job.entries, { finished: FINISHED_JOB_STATES.has(job.job.state), eventsHref: batchChangeHref(b, `/workspaces/${w.id}/events`), entriesHref: batchChangeHref(b, `/workspaces/${w.id}/entries/`) })
        : html`<p class="muted">${e ? 'No job: nothing to log.' : 'Not executed yet.'}</p>`}`;
    return htmlReply(page({ title: `${w.repositoryName} · ${b.name}`, section: 'batches', session, body }));
  });

  // One log entry's whole output, a page of lines at a time (the job page's entry pages are for site admins).
  router.add('GET', '/batch-changes/:namespace/:name/workspaces/:id/entries/:entryId', 'ui.batch_change.workspace.entry', async (ctx) => {
    const session = await requirePageSession(ctx, s);
    const b = await batchChangeOfPage(ctx, s, session);
    const w = await workspaceOfPage(ctx, s, session, b);
    const e = await workspaceExecution(b, w);
    if (e?.jobId == null) throw new HttpError(404, `The workspace of ${w.repositoryName} has no job.`);
    const entryId = /^\d{1,9}$/.test(ctx.params.entryId!) ? Number(ctx.params.entryId) : -1;
    const href = batchChangeHref(b, `/workspaces/${w.id}`);
    const output = await logEntryOutput(s, e.jobId, entryId, ctx.url.searchParams.get('page'), (n) => `${href}/entries/${entryId}?page=${n}`);
    const body = html`<h1><a href="${batchChangeHref(b)}">${b.name}</a> · <a href="${href}">${w.repositoryName}${w.path ? ` / ${w.path}` : ''}</a> · log entry ${entryId}</h1>${output}`;
    return htmlReply(page({ title: `Log entry ${entryId} · ${w.repositoryName} · ${b.name}`, section: 'batches', session, body }));
  });

  router.add('GET', '/batch-changes/:namespace/:name/workspaces/:id/events', 'ui.batch_change.workspace.events', async (ctx) => {
    const session = await requirePageSession(ctx, s);
    const b = await batchChangeOfPage(ctx, s, session);
    const w = await workspaceOfPage(ctx, s, session, b);
    const e = await workspaceExecution(b, w);
    if (e?.jobId == null) throw new HttpError(404, `The workspace of ${w.repositoryName} has no job.`);
    return streamJobEvents(ctx, s, BATCHES_QUEUE, e.jobId);
  });
}

function executionSummary(e: BatchExecutionRow, now: number): Html {
  return html`<div>Execution #${e.id} ${stateBadge(e.state, 'execution-state')}${e.noCache ? html` <span class="muted">without the step cache</span>` : ''}
    · started ${timeElement(e.createdAt, { now })}${e.finishedAt ? html` · finished ${timeElement(e.finishedAt, { now })}` : ''}</div>`;
}
