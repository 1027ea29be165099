// The top of a job's page: where it runs, its times (in the viewer's time zone, with relative times),
// its failure message in full, the cancel button, and the timeline of its log entries. The live page
// fetches it again (`…/overview`) at each change, so a job that ends while watched shows its finished
// time and message; it reads no log output, whatever the page does with outputs.
import type { Router } from '../http/router.js';
import type { HttpServices } from '../http/services.js';
import { HttpError } from '../http/http-error.js';
import type { JobState } from '../queues/job-state.js';
import type { JobRow } from '../store/job-store.js';
import type { Session } from '../store/session-store.js';
import { html, type Html } from './html.js';
import { formatDurationMs, jobTimeline, type TimelineEntry } from './job-timeline.js';
import { csrfField, timeElement } from './layout.js';
import { htmlReply } from './ui-reply.js';
import { requirePageSession } from './ui-session.js';

const FINISHED: ReadonlySet<JobState> = new Set(['completed', 'errored', 'failed', 'canceled']);

/** The overview of `job` with the timeline of `entries` (their output is not needed). */
export function jobOverview(job: JobRow, entries: readonly TimelineEntry[], session: Session, nowMs = Date.now()): Html {
  const finished = FINISHED.has(job.state);
  const took = job.startedAt && job.finishedAt ? formatDurationMs(job.finishedAt.getTime() - job.startedAt.getTime()) : job.startedAt ? `${formatDurationMs(nowMs - job.startedAt.getTime())} so far` : '';
  const at = (date: Date | null) => (date ? timeElement(date, { format: 'absolute', now: nowMs }) : html`<span class="muted">—</span>`);
  return html`<div id="job-overview" data-overview="/jobs/${job.queue}/${job.id}/overview" data-finished="${String(finished)}" data-state="${job.state}">
    <div class="card">
      <div>Queue <strong>${job.queue}</strong>${job.repositoryName ? html` · repository <strong>${job.repositoryName}</strong>` : ''}${job.workerHostname ? html` · executor <strong>${job.workerHostname}</strong>` : ''}</div>
      <dl class="times">
        <div><dt>Queued</dt><dd id="job-queued">${at(job.queuedAt)}</dd></div>
        <div><dt>Started</dt><dd id="job-started">${at(job.startedAt)}</dd></div>
        <div><dt>Finished</dt><dd id="job-finished">${at(job.finishedAt)}</dd></div>
        ${took ? html`<div><dt>Took</dt><dd id="job-took">${took}</dd></div>` : ''}
        <div><dt>Resets</dt><dd>${job.numResets}</dd></div>
      </dl>
      ${job.failureMessage ? html`<div class="error failure-message" id="job-failure">${job.failureMessage}</div>` : ''}
      ${finished ? '' : html`<form id="cancel-form" method="post" action="/jobs/${job.queue}/${job.id}/cancel">${csrfField(session)}<button class="danger" type="submit">Cancel job</button></form>`}
    </div>
    ${entries.length > 0 ? html`<h2>Timeline</h2><div class="card timeline-card">${jobTimeline(entries, { nowMs, startMs: job.startedAt?.getTime() })}</div>` : ''}
  </div>`;
}

/** `GET /jobs/:queue/:id/overview`: the overview alone, for the live page to swap in. */
export function addJobOverviewRoute(router: Router, s: HttpServices): void {
  const queueNames = new Set(s.config.queues.map((q) => q.name));
  router.add('GET', '/jobs/:queue/:id/overview', 'ui.job.overview', async (ctx) => {
    const session = await requirePageSession(ctx, s, { siteAdmin: true });
    const queue = ctx.params.queue!;
    if (!queueNames.has(queue) || !/^\d{1,15}$/.test(ctx.params.id!)) throw new HttpError(404, 'No such job.');
    const found = await s.jobs.getSummary(queue, Number(ctx.params.id));
    if (!found) throw new HttpError(404, `No job ${ctx.params.id} in queue ${queue}.`);
    return htmlReply(jobOverview(found.job, found.entries, session).value);
  });
}
