// Jobs: per queue, a list with state filters and pages, queue sizes at a glance; a job page with its log
// entries (key, command, exit code, duration, the last lines of output) that update live while the job
// runs (server-sent events), a cancel button, and each entry's whole output a page of lines at a time.
import { isJobState, type JobState } from '../queues/job-state.js';
import { HttpError } from '../http/http-error.js';
import type { Reply, RequestContext, Router } from '../http/router.js';
import type { HttpServices } from '../http/services.js';
import type { JobRow, LogEntrySummary } from '../store/job-store.js';
import { chartRangeOf, queueCharts, rangeLinks } from './history-charts.js';
import { jobOverview } from './job-overview.js';
import { html, type Html } from './html.js';
import { page, timeElement } from './layout.js';
import { htmlReply, redirect } from './ui-reply.js';
import { readForm, requirePageSession } from './ui-session.js';

const JOBS_PAGE_SIZE = 50;
/** Lines of each entry shown on the job page (and sent live); the rest is on the entry's own pages. */
export const TAIL_LINES = 500;
/**
 * At most this many characters of each shown tail, and tails of the last TAIL_ENTRIES entries only: the
 * page of a job with thousands of entries of megabytes lists them, their outputs are on their own pages.
 */
export const TAIL_CHARS = 32 * 1024;
export const TAIL_ENTRIES = 20;
/** Lines per page of an entry's whole output. */
export const ENTRY_PAGE_LINES = 1000;
const FINISHED: ReadonlySet<JobState> = new Set(['completed', 'errored', 'failed', 'canceled']);
const STATES: readonly JobState[] = ['queued', 'processing', 'completed', 'errored', 'failed', 'canceled'];

function splitLines(out: string): string[] {
  if (out === '') return [];
  const lines = out.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * The last TAIL_LINES lines of an output of `lineCount` line breaks and `outLength` characters, from
 * `tail`, its last characters (starting mid-line when shorter than the output), and how many lines came
 * before them.
 */
export function tailOf(tail: string, outLength = tail.length, lineCount = (tail.match(/\n/g) ?? []).length): { tail: string; truncatedLines: number } {
  const whole = tail.length >= outLength;
  const lines = splitLines(whole ? tail : tail.slice(tail.indexOf('\n') + 1));
  const kept = lines.slice(-TAIL_LINES);
  const total = whole ? lines.length : Math.max(lineCount, kept.length);
  return { tail: kept.join('\n'), truncatedLines: total - kept.length };
}

const stateBadge = (state: string) => html`<span class="badge state-${state}">${state}</span>`;
const seconds = (ms: number | null) => (ms === null ? '' : `${(ms / 1000).toFixed(1)} s`);

/**
 * Waits `ms`, or until either signal aborts. Both listeners go when it ends: the shutdown signal lives as
 * long as the coordinator, so a listener left on it per poll piled up (MaxListenersExceededWarning after
 * a few seconds of one watched job, and the heap growing about 0.5 KB a poll).
 */
function pollWait(ms: number, request: AbortSignal, shutdown: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      request.removeEventListener('abort', done);
      shutdown.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    request.addEventListener('abort', done, { once: true });
    shutdown.addEventListener('abort', done, { once: true });
  });
}

/**
 * A job's log entries as the job page shows them (each with its last lines), updated live by the page's
 * script from `eventsHref` (server-sent events, see streamJobEvents) until the job finished. Also the
 * log of a batch change's workspace, for its owner.
 */
export function jobLogEntries(
  logEntries: ReadonlyArray<LogEntrySummary & { tail?: string }>,
  /** `entriesHref`: where entry N's whole output is, `${entriesHref}N` (none: not linked). */
  options: { finished: boolean; eventsHref: string; entriesHref?: string },
): Html {
  return html`<div id="entries" ${options.finished ? '' : html`data-job-events="${options.eventsHref}"`} ${options.entriesHref ? html`data-entries-href="${options.entriesHref}"` : ''}>${logEntries.map((e) => {
      const { tail, truncatedLines } = e.tail === undefined ? { tail: '', truncatedLines: 0 } : tailOf(e.tail, e.outLength, e.lineCount);
      // Only the last TAIL_ENTRIES entries show their last lines; the others say where their output is.
      const where = options.entriesHref ? 'on the full log page' : 'not shown';
      const note = e.tail === undefined ? (e.outLength > 0 ? `${e.lineCount} lines ${where}` : '') : truncatedLines > 0 ? `… ${truncatedLines} earlier lines ${where}\n` : '';
      return html`<details class="entry" id="entry-${e.entryId}" open>
        <summary><span data-field="key"><strong>${e.key}</strong></span><span data-field="exit">${e.exitCode === null ? 'running' : `exit code ${e.exitCode}`}</span><span data-field="duration">${seconds(e.durationMs ?? null)}</span>
        ${options.entriesHref ? html`<a href="${options.entriesHref}${e.entryId}">full output</a>` : ''}</summary>
        <code class="command">${e.command.join(' ')}</code>
        <pre class="out">${note}${tail}</pre>
      </details>`;
    })}</div>
    ${logEntries.length === 0 ? html`<p class="muted" id="no-entries">No log entries yet.</p>` : ''}`;
}

/**
 * One page of ENTRY_PAGE_LINES lines of a log entry's whole output, with where it is and links to the
 * pages before and after (`link(n)`: page n's address). 404 for an entry the job does not have.
 */
export async function logEntryOutput(s: Pick<HttpServices, 'jobs'>, jobId: number, entryId: number, pageParam: string | null, link: (pageNo: number) => string): Promise<Html> {
  const out = await s.jobs.logEntryOut(jobId, entryId);
  if (out === null) throw new HttpError(404, `Job ${jobId} has no log entry ${entryId}.`);
  const lines = splitLines(out);
  const pages = Math.max(1, Math.ceil(lines.length / ENTRY_PAGE_LINES));
  const pageNo = Math.min(pages, Math.max(1, Number(pageParam) || 1));
  const shown = lines.slice((pageNo - 1) * ENTRY_PAGE_LINES, pageNo * ENTRY_PAGE_LINES);
  return html`<p class="muted" id="entry-range">Lines ${lines.length === 0 ? 0 : (pageNo - 1) * ENTRY_PAGE_LINES + 1}–${(pageNo - 1) * ENTRY_PAGE_LINES + shown.length} of ${lines.length} · page ${pageNo} of ${pages}</p>
    <pre class="out" id="entry-out">${shown.join('\n')}</pre>
    <div class="pager">${pageNo > 1 ? html`<a href="${link(pageNo - 1)}">← Previous</a>` : ''}${pageNo < pages ? html`<a href="${link(pageNo + 1)}">Next →</a>` : ''}</div>`;
}

export function addJobPages(router: Router, s: HttpServices): void {
  const queueNames = s.config.queues.map((q) => q.name);
  const knownQueue = (ctx: RequestContext) => {
    const queue = ctx.params.queue!;
    if (!queueNames.includes(queue)) throw new HttpError(404, `No queue ${queue}.`);
    return queue;
  };
  const jobIdOf = (ctx: RequestContext) => {
    if (!/^\d{1,15}$/.test(ctx.params.id!)) throw new HttpError(404, 'No such job.');
    return Number(ctx.params.id);
  };

  router.add('GET', '/jobs', 'ui.jobs', async (ctx) => {
    const session = await requirePageSession(ctx, s, { siteAdmin: true });
    const queue = ctx.url.searchParams.get('queue') ?? queueNames[0]!;
    if (!queueNames.includes(queue)) throw new HttpError(404, `No queue ${queue}.`);
    const state = ctx.url.searchParams.get('state') ?? '';
    const states = state && isJobState(state) ? [state] : [];
    const before = /^\d{1,15}$/.test(ctx.url.searchParams.get('before') ?? '') ? Number(ctx.url.searchParams.get('before')) : undefined;
    const range = chartRangeOf(ctx.url.searchParams.get('range'));
    const [rows, stats, charts] = await Promise.all([s.jobs.list(queue, { states, limit: JOBS_PAGE_SIZE, beforeId: before }), s.jobs.stats(), queueCharts(s.history, queue, range)]);
    const count = (q: string, st: string) => stats.find((r) => r.queue === q && r.state === st)?.count ?? 0;
    const link = (params: Record<string, string>) => `/jobs?${new URLSearchParams({ queue, ...(state ? { state } : {}), ...params })}`;
    const now = Date.now();
    const body = html`<h1>Jobs</h1>
      <div class="sizes">${queueNames.map(
        (q) => html`<a class="card" href="/jobs?queue=${q}" ${q === queue ? html`aria-current="page"` : ''}><div class="muted">${q}</div>
          <div class="n">${count(q, 'queued') + count(q, 'processing')}</div><div class="muted">${count(q, 'queued')} queued · ${count(q, 'processing')} processing</div></a>`,
      )}</div>
      <h2>${queue} ${rangeLinks(range, (r) => `/jobs?${new URLSearchParams({ queue, ...(state ? { state } : {}), ...(r === 'day' ? { range: r } : {}) })}`)}</h2>
      ${charts}
      <div class="filters">
        <a href="/jobs?queue=${queue}" ${state === '' ? html`aria-current="page"` : ''}>all</a>
        ${STATES.map((st) => html`<a href="/jobs?${new URLSearchParams({ queue, state: st }).toString()}" ${state === st ? html`aria-current="page"` : ''}>${st} (${count(queue, st)})</a>`)}
      </div>
      <div class="table-wrap"><table id="jobs">
        <thead><tr><th>Job</th><th>State</th><th>Repository</th><th>Queued</th><th>Executor</th><th>Message</th></tr></thead>
        <tbody>${rows.map(
          (j: JobRow) => html`<tr><td><a href="/jobs/${queue}/${j.id}">#${j.id}</a></td><td>${stateBadge(j.state)}</td><td>${j.repositoryName || html`<span class="muted">—</span>`}</td>
            <td>${timeElement(j.queuedAt, { now })}</td><td>${j.workerHostname || ''}</td><td class="wrap message">${j.failureMessage ?? ''}</td></tr>`,
        )}</tbody>
      </table></div>
      ${rows.length === 0 ? html`<p class="muted">No jobs.</p>` : ''}
      <div class="pager">${before !== undefined ? html`<a href="${link({})}">← Newest</a>` : ''}${rows.length === JOBS_PAGE_SIZE ? html`<a href="${link({ before: String(rows[rows.length - 1]!.id) })}">Older →</a>` : ''}</div>`;
    return htmlReply(page({ title: `Jobs · ${queue}`, section: 'jobs', session, body }));
  });

  router.add('GET', '/jobs/:queue/:id', 'ui.job', async (ctx) => {
    const session = await requirePageSession(ctx, s, { siteAdmin: true });
    const queue = knownQueue(ctx);
    const id = jobIdOf(ctx);
    const found = await s.jobs.getSummary(queue, id, { entries: TAIL_ENTRIES, chars: TAIL_CHARS });
    if (!found) throw new HttpError(404, `No job ${id} in queue ${queue}.`);
    const { job, entries: logEntries } = found;
    const finished = FINISHED.has(job.state);
    const body = html`<h1>Job #${job.id} <span id="job-state" class="badge state-${job.state}">${job.state}</span></h1>
      ${jobOverview(job, logEntries, session)}
      <h2>Log</h2>
      ${jobLogEntries(logEntries, { finished, eventsHref: `/jobs/${queue}/${job.id}/events`, entriesHref: `/jobs/${queue}/${job.id}/entries/` })}`;
    return htmlReply(page({ title: `Job #${job.id}`, section: 'jobs', session, body }));
  });

  router.add('GET', '/jobs/:queue/:id/entries/:entryId', 'ui.job.entry', async (ctx) => {
    const session = await requirePageSession(ctx, s, { siteAdmin: true });
    const queue = knownQueue(ctx);
    const id = jobIdOf(ctx);
    const entryId = /^\d{1,9}$/.test(ctx.params.entryId!) ? Number(ctx.params.entryId) : -1;
    if (!(await s.jobs.find(queue, id))) throw new HttpError(404, `No job ${id} in queue ${queue}.`);
    const output = await logEntryOutput(s, id, entryId, ctx.url.searchParams.get('page'), (n) => `/jobs/${queue}/${id}/entries/${entryId}?page=${n}`);
    const body = html`<h1><a href="/jobs/${queue}/${id}">Job #${id}</a> · entry ${entryId}</h1>${output}`;
    return htmlReply(page({ title: `Job #${id} entry ${entryId}`, section: 'jobs', session, body }));
  });

  router.add('POST', '/jobs/:queue/:id/cancel', 'ui.job.cancel', async (ctx) => {
    await readForm(ctx, s, { siteAdmin: true });
    const queue = knownQueue(ctx);
    const id = jobIdOf(ctx);
    if ((await s.jobs.cancel(queue, id)) === 'not-found') throw new HttpError(404, `No job ${id} in queue ${queue}.`);
    return redirect(`/jobs/${queue}/${id}`);
  });

  // Server-sent events: every COORDINATOR_UI_LIVE_INTERVAL (500 ms), the entries whose exit code, duration or output changed
  // (with their last lines) and the job's state; the stream ends once the job finished.
  router.add('GET', '/jobs/:queue/:id/events', 'ui.job.events', async (ctx) => {
    await requirePageSession(ctx, s, { siteAdmin: true });
    const queue = knownQueue(ctx);
    const id = jobIdOf(ctx);
    if (!(await s.jobs.find(queue, id))) throw new HttpError(404, `No job ${id} in queue ${queue}.`);
    return streamJobEvents(ctx, s, queue, id);
  });
}

/**
 * Server-sent events of job `id`: every COORDINATOR_UI_LIVE_INTERVAL (500 ms), the entries whose exit
 * code, duration or output changed (with their last lines) and the job's state; the stream ends once the
 * job finished. The caller checks who may read the job.
 */
export async function streamJobEvents(ctx: RequestContext, s: Pick<HttpServices, 'jobs' | 'config' | 'shutdownSignal'>, queue: string, id: number): Promise<Reply> {
  const { res } = ctx;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no', 'x-content-type-options': 'nosniff' });
  const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const seen = new Map<number, string>();
  let lastState = '';
  const signal = ctx.signal;
  const shutdown = s.shutdownSignal;
  while (!signal.aborted && !shutdown.aborted) {
    const summary = await s.jobs.getSummary(queue, id);
    if (!summary) break;
    const lastWithTail = (summary.entries.at(-1)?.entryId ?? 0) - TAIL_ENTRIES;
    for (const e of summary.entries) {
      const version = `${e.exitCode}:${e.durationMs}:${e.outLength}`;
      if (seen.get(e.entryId) === version) continue;
      seen.set(e.entryId, version);
      const stored = e.entryId > lastWithTail ? await s.jobs.logEntryTail(id, e.entryId, TAIL_CHARS) : null;
      const { tail, truncatedLines } = stored ? tailOf(stored.tail, stored.outLength, stored.lineCount) : { tail: '', truncatedLines: e.lineCount };
      send('entry', { entryId: e.entryId, key: e.key, command: e.command, exitCode: e.exitCode, durationMs: e.durationMs, tail, truncatedLines });
    }
    const finished = FINISHED.has(summary.job.state);
    if (summary.job.state !== lastState) {
      lastState = summary.job.state;
      send('job', { state: summary.job.state, finished });
    }
    if (finished) break;
    await pollWait(s.config.uiLiveIntervalMs, signal, shutdown);
  }
  res.end();
  return undefined;
}
