// The web UI's error pages: a page that does not exist, a job or queue that does not, a form refused —
// an HTML page with the status, what was wrong, and links on, never a JSON body in the browser.
import { STATUS_CODES } from 'node:http';
import type { Reply } from '../http/router.js';
import type { Session } from '../store/session-store.js';
import { html } from './html.js';
import { page } from './layout.js';
import { htmlReply } from './ui-reply.js';

/** An HTML page for `status` saying `message`, with links to the pages there are (the nav, when signed in). */
export function errorPage(status: number, message: string, session?: Session): Reply {
  const title = `${status} ${STATUS_CODES[status] ?? 'Error'}`;
  const links = session
    ? [
        ...(session.user.siteAdmin ? [['/site-admin/executors', 'Executors'], ['/jobs', 'Jobs']] : []),
        ['/batch-changes', 'Batch changes'],
        ['/secrets', 'Secrets'],
        ...(session.user.siteAdmin ? [['/site-admin/settings', 'Settings']] : []),
      ]
    : [
        ['/sign-in', 'Sign in'],
        ['/site-admin/executors', 'Executors'],
        ['/jobs', 'Jobs'],
        ['/secrets', 'Secrets'],
      ];
  const body = html`<h1>${title}</h1>
    <div class="error" role="alert" id="error-message">${message}</div>
    <p>Go to ${links.map(([href, label], i) => html`${i > 0 ? ' · ' : ''}<a href="${href!}">${label!}</a>`)}.</p>`;
  return htmlReply(page({ title, section: 'none', session, body }), status);
}
