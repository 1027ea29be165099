// The page shell: navigation for the signed-in user, the main content, the stylesheet and script.
import type { Session } from '../store/session-store.js';
import { html, type Html } from './html.js';

export type Section = 'executors' | 'jobs' | 'codeintel' | 'batches' | 'secrets' | 'settings' | 'none';

export function page(options: { title: string; section: Section; session?: Session; body: Html }): string {
  const { session, section } = options;
  const link = (href: string, label: string, name: Section) => html`<a href="${href}" ${name === section ? html`aria-current="page"` : ''}>${label}</a>`;
  const nav = session
    ? html`<nav>
        ${session.user.siteAdmin ? link('/site-admin/executors', 'Executors', 'executors') : ''}
        ${session.user.siteAdmin ? link('/jobs', 'Jobs', 'jobs') : ''}
        ${link('/code-intelligence', 'Code intelligence', 'codeintel')}
        ${link('/batch-changes', 'Batch changes', 'batches')}
        ${link('/secrets', 'Secrets', 'secrets')}
        ${session.user.siteAdmin ? link('/site-admin/settings', 'Settings', 'settings') : ''}
        <span class="muted">${session.user.username}</span>
        <form class="inline" method="post" action="/sign-out"><input type="hidden" name="_csrf" value="${session.csrfToken}"><button class="secondary" type="submit">Sign out</button></form>
      </nav>`
    : '';
  return `<!doctype html>${html`<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Executors</title><link rel="icon" href="/favicon.svg" type="image/svg+xml"><link rel="stylesheet" href="/assets/app.css"></head>
<body><header><span class="brand">Executors</span>${nav}</header><main>${options.body}</main><script src="/assets/app.js" defer></script></body></html>`}`;
}

/** A CSRF hidden field for forms of `session`. */
export function csrfField(session: Session): Html {
  return html`<input type="hidden" name="_csrf" value="${session.csrfToken}">`;
}

export function relativeAge(date: Date, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - date.getTime()) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86_400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86_400)} d ago`;
}

/**
 * A time as a `<time>` element: relative (`3 min ago`) by default, or `absolute` (`2026-12-02 14:20:00 UTC
 * (3 min ago)`). The page's script rewrites both into the viewer's time zone and keeps the relative part
 * current; without script the text stays in UTC.
 */
export function timeElement(date: Date, options: { format?: 'relative' | 'absolute'; now?: number } = {}): Html {
  const iso = date.toISOString();
  const relative = relativeAge(date, options.now);
  const utc = `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
  return options.format === 'absolute'
    ? html`<time datetime="${iso}" data-format="absolute" title="${utc}">${utc} (${relative})</time>`
    : html`<time datetime="${iso}" data-format="relative" title="${utc}">${relative}</time>`;
}
