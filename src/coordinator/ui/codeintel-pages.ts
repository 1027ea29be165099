// Code intelligence: every repository with its index jobs and uploads at a glance; per repository, its
// index jobs (linked to the job page with its live log), its uploads with their states and failures, and
// what scheduling last decided; and a file view of an indexed commit where each identifier links to its
// definition and the selected symbol's hover and references are listed beside the code.
import { repositoryDirFor } from '../git/repository-mirror.js';
import { RepositoryReader } from '../codeintel/repository-reader.js';
import type { Location } from '../codeintel/navigation.js';
import { AppError } from '../../shared/errors.js';
import { HttpError } from '../http/http-error.js';
import type { Router } from '../http/router.js';
import type { HttpServices } from '../http/services.js';
import { readableRepositories } from '../http/readable-repositories.js';
import { html, type Html } from './html.js';
import { csrfField, page, relativeAge } from './layout.js';
import { htmlReply, redirect } from './ui-reply.js';
import { readForm, requirePageSession } from './ui-session.js';

const MAX_FILE_BYTES = 1024 * 1024;
const REFERENCES_SHOWN = 100;

/** Hover markdown as the original shows it: fenced code as code, `---` as a rule, the rest as text (never as markup). */
function hoverHtml(markdown: string): Html {
  return html`${markdown.split(/\n\n---\n\n/).map((part, i) => {
    const fence = /^```[^\n]*\n([\s\S]*?)\n?```$/.exec(part.trim());
    return html`${i > 0 ? html`<hr>` : ''}${fence ? html`<pre class="doc"><code>${fence[1]!}</code></pre>` : html`<p class="doc">${part}</p>`}`;
  })}`;
}

const badge = (state: string | null) => (state ? html`<span class="badge state-${state}">${state}</span>` : html`<span class="muted">—</span>`);
const short = (sha: string) => sha.slice(0, 12);
const repoLink = (name: string) => `/code-intelligence/repository?${new URLSearchParams({ name })}`;
const fileLink = (repository: string, commit: string, path: string, at?: { line: number; character: number }) =>
  `/code-intelligence/file?${new URLSearchParams({ repository, commit, path, ...(at ? { line: String(at.line), character: String(at.character) } : {}) })}${at ? `#L${at.line + 1}` : ''}`;

export function addCodeIntelPages(router: Router, s: HttpServices): void {
  const { store, navigation } = s.codeintel;

  router.add('GET', '/code-intelligence', 'ui.codeintel', async (ctx) => {
    const session = await requirePageSession(ctx, s);
    const [all, policies] = await Promise.all([store.repositorySummaries(), session.user.siteAdmin ? store.listPolicies() : Promise.resolve([])]);
    const readable = await readableRepositories(s, session.user, all.map((r) => r.repositoryName));
    const summaries = all.filter((r) => readable.has(r.repositoryName));
    const statuses = await Promise.all(summaries.map((r) => store.getRepositoryStatus(r.repositoryName)));
    const notice = ctx.url.searchParams.get('notice');
    const now = Date.now();
    const body = html`<h1>Code intelligence</h1>
      ${notice ? html`<div class="notice" role="status">${notice}</div>` : ''}
      <p class="muted">Precise code navigation from SCIP indexes: index jobs run on executors (<code>codeintel</code> queue) and upload with <code>src code-intel upload</code>.
      ${policies.length === 0 && session.user.siteAdmin ? html`No auto-indexing policy yet: repositories are indexed when asked (below, or <code>POST /api/v1/codeintel/index-jobs</code>) until one is added (<code>POST /api/v1/codeintel/policies</code>).` : ''}</p>
      <div class="table-wrap"><table id="codeintel-repositories">
        <thead><tr><th>Repository</th><th>Index jobs</th><th>Uploads</th><th>Indexed</th><th>Last scheduling</th>${session.user.siteAdmin ? html`<th></th>` : ''}</tr></thead>
        <tbody>${summaries.map((r, i) => {
          const st = statuses[i];
          return html`<tr data-repository="${r.repositoryName}">
            <td><a href="${repoLink(r.repositoryName)}">${r.repositoryName}</a></td><td>${r.indexJobs}</td><td>${r.uploads}</td><td>${r.completedUploads}</td>
            <td class="wrap">${st ? html`${badge(st.outcome)} <span class="muted" title="${st.checkedAt.toISOString()}">${relativeAge(st.checkedAt, now)}</span>` : html`<span class="muted">never</span>`}</td>
            ${session.user.siteAdmin
              ? html`<td><form class="inline" method="post" action="/code-intelligence/index">${csrfField(session)}<input type="hidden" name="repository" value="${r.repositoryName}"><button class="secondary" type="submit">Index now</button></form></td>`
              : ''}
          </tr>`;
        })}</tbody>
      </table></div>
      ${summaries.length === 0 ? html`<p class="muted">No repositories yet (<code>POST /api/v1/repositories</code>).</p>` : ''}
      ${policies.length > 0
        ? html`<h2>Policies</h2><div class="table-wrap"><table id="codeintel-policies"><thead><tr><th>Name</th><th>Repositories</th><th>Branch</th><th>Every</th><th>Enabled</th></tr></thead>
            <tbody>${policies.map((p) => html`<tr><td>${p.name}</td><td><code>${p.repositoryPattern}</code></td><td>${p.branch}</td><td>${Math.round(p.intervalMs / 60_000)} min</td><td>${p.enabled ? 'yes' : 'no'}</td></tr>`)}</tbody></table></div>`
        : ''}`;
    return htmlReply(page({ title: 'Code intelligence', section: 'codeintel', session, body }));
  });

  router.add('POST', '/code-intelligence/index', 'ui.codeintel.index', async (ctx) => {
    const { session, form } = await readForm(ctx, s, { siteAdmin: true });
    const repository = form.get('repository') ?? '';
    let notice: string;
    try {
      const result = await s.codeintel.scheduler.scheduleRepository(repository, form.get('revision') || 'HEAD', { userId: session.user.id });
      notice = `${repository}: ${result.message}`;
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      notice = err.message;
    }
    return redirect(`${repoLink(repository)}&${new URLSearchParams({ notice })}`);
  });

  router.add('GET', '/code-intelligence/repository', 'ui.codeintel.repository', async (ctx) => {
    const session = await requirePageSession(ctx, s);
    const name = ctx.url.searchParams.get('name') ?? '';
    // 🚨 A repository the user may not read is shown as one that does not exist.
    if (!(await s.repositories.get(name)) || !(await readableRepositories(s, session.user, [name])).has(name)) throw new HttpError(404, `No repository ${name}.`);
    const [jobs, uploads, status] = await Promise.all([store.listIndexJobs({ repositoryName: name, limit: 50 }), store.listUploads({ repositoryName: name, limit: 50 }), store.getRepositoryStatus(name)]);
    const current = uploads.find((u) => u.state === 'completed' && u.replacedBy === null);
    const paths = current ? await store.listDocumentPaths(current.id, 500) : [];
    const notice = ctx.url.searchParams.get('notice');
    const now = Date.now();
    const jobLink = (id: number): Html => (session.user.siteAdmin ? html`<a href="/jobs/codeintel/${id}">#${id}</a>` : html`#${id}`);
    const body = html`<h1><a href="/code-intelligence">Code intelligence</a> · ${name}</h1>
      ${notice ? html`<div class="notice" role="status" id="notice">${notice}</div>` : ''}
      <div class="card" id="last-scheduling">${status
        ? html`Last scheduling ${badge(status.outcome)} at <code>${short(status.commit)}</code> <span class="muted">${relativeAge(status.checkedAt, now)}</span><div class="wrap">${status.message}</div>`
        : html`<span class="muted">Not scheduled yet.</span>`}
        ${session.user.siteAdmin ? html`<form method="post" action="/code-intelligence/index">${csrfField(session)}<input type="hidden" name="repository" value="${name}">
          <label for="revision">Revision</label><input id="revision" name="revision" type="text" value="HEAD"> <button type="submit">Index now</button></form>` : ''}
      </div>
      <h2>Index jobs</h2>
      <div class="table-wrap"><table id="index-jobs"><thead><tr><th>Job</th><th>State</th><th>Commit</th><th>Root</th><th>Indexer</th><th>From</th><th>Upload</th><th>Queued</th><th>Failure</th></tr></thead>
        <tbody>${jobs.map((j) => html`<tr data-job-id="${j.jobId}"><td>${jobLink(j.jobId)}</td><td>${badge(j.state)}</td><td><code>${short(j.commit)}</code></td><td>${j.root || '.'}</td><td>${j.indexerName}</td><td>${j.source}</td>
          <td>${j.uploadId ? html`<a href="#upload-${j.uploadId}">#${j.uploadId}</a> ${badge(j.uploadState)}` : html`<span class="muted">—</span>`}</td>
          <td title="${j.queuedAt.toISOString()}">${relativeAge(j.queuedAt, now)}</td><td class="wrap">${(j.failureMessage ?? '').slice(0, 300)}</td></tr>`)}</tbody></table></div>
      ${jobs.length === 0 ? html`<p class="muted">No index jobs.</p>` : ''}
      <h2>Uploads</h2>
      <div class="table-wrap"><table id="uploads"><thead><tr><th>Upload</th><th>State</th><th>Commit</th><th>Root</th><th>Indexer</th><th>Documents</th><th>Occurrences</th><th>Uploaded</th><th>By</th><th>Failure</th></tr></thead>
        <tbody>${uploads.map((u) => html`<tr id="upload-${u.id}" data-upload-id="${u.id}"><td>#${u.id}</td><td>${badge(u.state)}${u.replacedBy ? html` <span class="muted">replaced by #${u.replacedBy}</span>` : ''}</td>
          <td><code>${short(u.commit)}</code></td><td>${u.root || '.'}</td><td>${u.indexer} ${u.indexerVersion}</td><td>${u.numDocuments}</td><td>${u.numOccurrences}</td>
          <td title="${u.uploadedAt.toISOString()}">${relativeAge(u.uploadedAt, now)}</td><td>${u.uploadedBy}</td><td class="wrap">${u.failureMessage ?? ''}</td></tr>`)}</tbody></table></div>
      ${uploads.length === 0 ? html`<p class="muted">No uploads.</p>` : ''}
      ${current
        ? html`<h2>Files of <code>${short(current.commit)}</code></h2><ul id="indexed-files" class="files">${paths.map((p) => html`<li><a href="${fileLink(name, current.commit, p)}">${p}</a></li>`)}</ul>`
        : ''}`;
    return htmlReply(page({ title: `Code intelligence · ${name}`, section: 'codeintel', session, body }));
  });

  router.add('GET', '/code-intelligence/file', 'ui.codeintel.file', async (ctx) => {
    const session = await requirePageSession(ctx, s);
    const sp = ctx.url.searchParams;
    const repository = sp.get('repository') ?? '';
    const commit = sp.get('commit') ?? '';
    const path = sp.get('path') ?? '';
    if (!(await s.repositories.get(repository)) || !(await readableRepositories(s, session.user, [repository])).has(repository)) throw new HttpError(404, `No repository ${repository}.`);
    const reader = new RepositoryReader(repositoryDirFor(s.repositoriesDir, repository));
    const text = /^[0-9a-f]{40}$/.test(commit) ? (await reader.readFiles(commit, [path], MAX_FILE_BYTES)).get(path) : undefined;
    if (text === undefined) throw new HttpError(404, `No file ${path} at ${commit} in ${repository} (or it is over 1 MiB).`);
    const doc = await navigation.documentOccurrences(repository, commit, path);
    const selected = sp.has('line') && sp.has('character') ? { line: Number(sp.get('line')), character: Number(sp.get('character')) } : undefined;

    // Where each symbol of the file is defined (one query), for the identifiers' links.
    const definitionOf = new Map<number, { path: string; line: number; character: number }>();
    if (doc) {
      for (const o of doc.occurrences) if (o.definition && !definitionOf.has(o.symbolId)) definitionOf.set(o.symbolId, { path, line: o.startLine, character: o.startCharacter });
      const globals = [...new Set(doc.occurrences.filter((o) => !o.local && !definitionOf.has(o.symbolId)).map((o) => o.symbolId))];
      for (const [id, def] of await navigation.firstDefinitions(doc.upload, globals)) if (!definitionOf.has(id)) definitionOf.set(id, def);
    }
    let selectedSymbol: number | undefined;
    let side: Html = html`<p class="muted">${doc ? 'Select an identifier to see its references.' : 'This file has no precise index at this commit.'}</p>`;
    if (doc && selected) {
      const pos = { repository, commit, path, ...selected };
      const at = doc.occurrences.find((o) => o.startLine === selected.line && o.startCharacter <= selected.character && selected.character < o.endCharacter);
      selectedSymbol = at?.symbolId;
      const [allDefs, allRefs, hover] = await Promise.all([navigation.definitions(pos), navigation.references(pos, { first: REFERENCES_SHOWN }), navigation.hover(pos)]);
      // Other repositories' locations only where the user may read them.
      const shown = await readableRepositories(s, session.user, [...allDefs, ...allRefs.locations].map((l) => l.repository));
      const defs = allDefs.filter((l) => shown.has(l.repository));
      const refs = { ...allRefs, locations: allRefs.locations.filter((l) => shown.has(l.repository)) };
      const item = (l: Location) =>
        html`<li><a href="${fileLink(l.repository, l.commit, l.path, l.range.start)}">${l.repository === repository ? '' : `${l.repository} · `}${l.path}:${l.range.start.line + 1}:${l.range.start.character + 1}</a></li>`;
      side = html`${hover ? html`<div class="card hover" id="hover">${hoverHtml(hover.markdown)}</div>` : ''}
        <h2>Definition</h2><ul id="definitions">${defs.map(item)}</ul>${defs.length === 0 ? html`<p class="muted">None found.</p>` : ''}
        <h2>References</h2><ul id="references">${refs.locations.map(item)}</ul>${refs.next ? html`<p class="muted">First ${REFERENCES_SHOWN} shown; the API pages on (<code>after</code>).</p>` : ''}`;
    }

    // The code, each identifier a link to its definition.
    const byLine = new Map<number, NonNullable<typeof doc>['occurrences']>();
    for (const o of doc?.occurrences ?? []) {
      if (o.startLine !== o.endLine || o.endCharacter <= o.startCharacter) continue;
      const list = byLine.get(o.startLine) ?? [];
      list.push(o);
      byLine.set(o.startLine, list);
    }
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const renderLine = (content: string, n: number): Html => {
      const occs = (byLine.get(n) ?? []).sort((a, b) => a.startCharacter - b.startCharacter);
      const parts: Array<Html | string> = [];
      let pos = 0;
      for (const o of occs) {
        if (o.startCharacter < pos || o.endCharacter > content.length) continue;
        parts.push(content.slice(pos, o.startCharacter));
        const def = definitionOf.get(o.symbolId);
        const target = def ?? { path, line: o.startLine, character: o.startCharacter };
        const cls = `occ${o.symbolId === selectedSymbol ? ' selected' : ''}`;
        parts.push(html`<a class="${cls}" data-line="${o.startLine}" data-character="${o.startCharacter}" href="${fileLink(repository, commit, target.path, { line: target.line, character: target.character })}">${content.slice(o.startCharacter, o.endCharacter)}</a>`);
        pos = o.endCharacter;
      }
      parts.push(content.slice(pos));
      return html`<tr id="L${n + 1}"><td class="ln">${n + 1}</td><td class="code">${parts}</td></tr>`;
    };
    const body = html`<h1><a href="${repoLink(repository)}">${repository}</a> · <code>${short(commit)}</code> · ${path}</h1>
      <div class="code-view"><div class="table-wrap"><table class="source" id="source"><tbody>${lines.map(renderLine)}</tbody></table></div>
      <aside id="side">${side}</aside></div>`;
    return htmlReply(page({ title: `${path} · ${repository}`, section: 'codeintel', session, body }));
  });

  // The link `src code-intel upload` prints: <endpoint>/<repo>/-/code-intelligence/uploads/<base64 "SCIPUpload:<id>">.
  router.add('GET', '/*repo/-/code-intelligence/uploads/:id', 'ui.codeintel.upload_link', async (ctx) => {
    await requirePageSession(ctx, s);
    let id = '';
    try {
      id = Buffer.from(ctx.params.id!, 'base64url').toString('utf8').split(':')[1] ?? '';
    } catch {
      id = '';
    }
    return redirect(`${repoLink(ctx.params.repo!)}${/^\d+$/.test(id) ? `#upload-${id}` : ''}`);
  });
}
