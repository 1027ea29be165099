// Site admin › Executors (reference §7.4): the active executors over the last hour or day; one row per
// executor with its queues, platform, running jobs, versions, first and last seen, an active dot (seen
// within 15 s) and compatibility; search, an active filter, and pages of 50, so a thousand stay quick.
import { COORDINATOR_PROTOCOL_VERSION, executorCompatibility } from '../executors/compatibility.js';
import { EXECUTOR_ACTIVE_WITHIN_MS } from '../http/admin-routes.js';
import type { Router } from '../http/router.js';
import type { HttpServices } from '../http/services.js';
import { html } from './html.js';
import { chartRangeOf, executorChart, rangeLinks } from './history-charts.js';
import { page, timeElement } from './layout.js';
import { htmlReply } from './ui-reply.js';
import { requirePageSession } from './ui-session.js';

const PAGE_SIZE = 50;
const COMPATIBILITY_TEXT: Record<string, string> = { UP_TO_DATE: 'up to date', OUTDATED: 'outdated', VERSION_AHEAD: 'ahead' };

export function addExecutorsPage(router: Router, s: HttpServices): void {
  router.add('GET', '/site-admin/executors', 'ui.executors', async (ctx) => {
    const session = await requirePageSession(ctx, s, { siteAdmin: true });
    const query = (ctx.url.searchParams.get('query') ?? '').slice(0, 200);
    const activeParam = ctx.url.searchParams.get('active');
    const active = activeParam === 'true' ? true : activeParam === 'false' ? false : undefined;
    const offset = Math.max(0, Math.min(Number(ctx.url.searchParams.get('offset')) || 0, 1_000_000));
    const range = chartRangeOf(ctx.url.searchParams.get('range'));
    const [{ executors, totalCount }, chart] = await Promise.all([
      s.executors.list({ query: query || undefined, active, activeWithinMs: EXECUTOR_ACTIVE_WITHIN_MS, limit: PAGE_SIZE, offset }),
      executorChart(s.history, range),
    ]);
    const running = new Map<string, Awaited<ReturnType<typeof s.jobs.processingOn>>>();
    for (const job of await s.jobs.processingOn(executors.map((e) => e.hostname))) running.set(job.workerHostname, [...(running.get(job.workerHostname) ?? []), job]);
    const now = Date.now();
    const pageLink = (o: number) => `/site-admin/executors?${new URLSearchParams({ query, ...(activeParam ? { active: activeParam } : {}), offset: String(o) })}`;
    const versions = (...parts: Array<[string, string]>) => parts.filter(([, v]) => v).map(([n, v]) => `${n} ${v}`).join(' · ') || '—';
    const body = html`<h1>Executors</h1>
      ${s.settings.executorsAccessToken
        ? ''
        : html`<div class="notice" role="status"><strong>Executors are not configured.</strong> Set the executors access token under
            <a href="/site-admin/settings">Settings</a> (or <code>COORDINATOR_EXECUTORS_ACCESS_TOKEN</code>), then start executors with
            <code>EXECUTOR_FRONTEND_URL</code> set to this coordinator's URL and <code>EXECUTOR_FRONTEND_PASSWORD</code> set to that token.</div>`}
      <h2>Over time ${rangeLinks(range, (r) => `/site-admin/executors?${new URLSearchParams({ ...(query ? { query } : {}), ...(activeParam ? { active: activeParam } : {}), ...(r === 'day' ? { range: r } : {}) })}`)}</h2>
      <div class="charts">${chart}</div>
      <form class="filters" method="get" action="/site-admin/executors">
        <input type="search" name="query" value="${query}" placeholder="Search hostname or queue" aria-label="Search executors">
        <select name="active" aria-label="Active filter">
          <option value="" ${active === undefined ? html`selected` : ''}>All</option>
          <option value="true" ${active === true ? html`selected` : ''}>Active</option>
          <option value="false" ${active === false ? html`selected` : ''}>Inactive</option>
        </select>
        <button type="submit">Filter</button>
        <span class="muted">${totalCount} executor${totalCount === 1 ? '' : 's'}</span>
      </form>
      <div class="table-wrap"><table id="executors">
        <thead><tr><th>Hostname</th><th>Queues</th><th>OS / arch</th><th>Running jobs</th><th>Versions</th><th>First seen</th><th>Last seen</th><th>Compatibility</th></tr></thead>
        <tbody>${executors.map((e) => {
          const isActive = now - e.lastSeenAt.getTime() <= EXECUTOR_ACTIVE_WITHIN_MS;
          const compatibility = executorCompatibility(e.executorVersion, COORDINATOR_PROTOCOL_VERSION, isActive);
          return html`<tr data-hostname="${e.hostname}" data-active="${String(isActive)}">
            <td><span class="dot ${isActive ? 'active' : ''}" title="${isActive ? 'active' : 'inactive'}"></span>${e.hostname}</td>
            <td>${(e.queueNames ?? [e.queueName ?? '']).join(', ')}</td>
            <td>${e.os} / ${e.architecture}</td>
            <td class="running-jobs">${(running.get(e.hostname) ?? []).map(
              (j, i) => html`${i > 0 ? ', ' : ''}<a href="/jobs/${j.queue}/${j.id}" title="${j.repositoryName || 'no repository'}${j.startedAt ? `, started ${j.startedAt.toISOString()}` : ''}">#${j.id}</a> <span class="muted">${j.queue}</span>`,
            )}${running.has(e.hostname) ? '' : html`<span class="muted">—</span>`}</td>
            <td class="wrap">${versions(['executor', e.executorVersion], ['git', e.gitVersion], ['docker', e.dockerVersion], ['QEMU', e.igniteVersion])}</td>
            <td>${timeElement(e.firstSeenAt, { now })}</td>
            <td>${timeElement(e.lastSeenAt, { now })}</td>
            <td>${compatibility ? COMPATIBILITY_TEXT[compatibility] ?? compatibility : html`<span class="muted">—</span>`}</td>
          </tr>`;
        })}</tbody>
      </table></div>
      ${executors.length === 0 ? html`<p class="muted">No executor${query || active !== undefined ? ' matches' : ' has sent a heartbeat yet'}.</p>` : ''}
      <div class="pager">
        ${offset > 0 ? html`<a href="${pageLink(Math.max(0, offset - PAGE_SIZE))}">← Previous</a>` : ''}
        ${offset + PAGE_SIZE < totalCount ? html`<a href="${pageLink(offset + PAGE_SIZE)}">Next →</a>` : ''}
      </div>`;
    return htmlReply(page({ title: 'Executors', section: 'executors', session, body }));
  });
}
