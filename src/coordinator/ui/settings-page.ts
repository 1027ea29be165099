// Site admin › Settings: the executors access token (set or rotated here; shown redacted, a generated one
// shown once so it can be copied to the executors) and the frontend URL that executors use. A setting
// fixed by a COORDINATOR_* variable is shown read-only.
import { randomBytes } from 'node:crypto';
import { MIN_ACCESS_TOKEN_LENGTH } from '../config.js';
import type { Router } from '../http/router.js';
import type { HttpServices } from '../http/services.js';
import type { Session } from '../store/session-store.js';
import { html } from './html.js';
import { csrfField, page } from './layout.js';
import { htmlReply, redirect } from './ui-reply.js';
import { readForm, requirePageSession } from './ui-session.js';

/** `••••abcd`: enough to tell two tokens apart, never enough to use one. */
export function redactToken(token: string): string {
  return `••••${token.slice(-4)}`;
}

export function addSettingsPage(router: Router, s: HttpServices): void {
  const render = (session: Session, notice?: { error?: string; newToken?: string }, status = 200) => {
    const token = s.settings.executorsAccessToken;
    const tokenFixed = s.settings.isFixed('executorsAccessToken');
    const body = html`<h1>Settings</h1>
      ${notice?.error ? html`<div class="error" role="alert">${notice.error}</div>` : ''}
      ${notice?.newToken
        ? html`<div class="notice" role="status">New executors access token, shown once: copy it to every executor's <code>EXECUTOR_FRONTEND_PASSWORD</code> now.
            <pre class="out" id="new-token">${notice.newToken}</pre></div>`
        : ''}
      <section class="card" id="access-token"><h2>Executors access token</h2>
        <p>Executors authenticate with this shared secret (<code>executors.accessToken</code>). Current: <strong id="token-state">${token ? redactToken(token) : 'not set'}</strong></p>
        ${tokenFixed
          ? html`<p class="muted">Set by <code>COORDINATOR_EXECUTORS_ACCESS_TOKEN</code>; change it there and restart the coordinator.</p>`
          : html`<form method="post" action="/site-admin/settings/access-token" class="filters">${csrfField(session)}
              <input type="password" name="token" placeholder="At least ${MIN_ACCESS_TOKEN_LENGTH} characters" aria-label="New access token" autocomplete="off" minlength="${MIN_ACCESS_TOKEN_LENGTH}">
              <button type="submit" name="action" value="set">Set</button>
              <button class="secondary" type="submit" name="action" value="generate">Generate a new one</button>
            </form>
            <p class="muted">Changing it stops every executor that still uses the old one at its next request.</p>`}
      </section>
      <section class="card" id="frontend-url"><h2>Frontend URL</h2>
        <p>The URL executors reach this coordinator at (their <code>EXECUTOR_FRONTEND_URL</code>).</p>
        <form method="post" action="/site-admin/settings/frontend-url" class="filters">${csrfField(session)}
          <input type="url" name="url" value="${s.settings.frontendUrl ?? ''}" placeholder="https://executors.example.com" aria-label="Frontend URL" size="40">
          <button type="submit">Save</button>
        </form>
      </section>`;
    return htmlReply(page({ title: 'Settings', section: 'settings', session, body }), status);
  };

  router.add('GET', '/site-admin/settings', 'ui.settings', async (ctx) => render(await requirePageSession(ctx, s, { siteAdmin: true })));

  router.add('POST', '/site-admin/settings/access-token', 'ui.settings.access_token', async (ctx) => {
    const { session, form } = await readForm(ctx, s, { siteAdmin: true });
    if (s.settings.isFixed('executorsAccessToken')) return render(session, { error: 'The token is set by COORDINATOR_EXECUTORS_ACCESS_TOKEN.' }, 409);
    if (form.get('action') === 'generate') {
      const token = randomBytes(24).toString('hex');
      await s.settings.set('executorsAccessToken', token);
      return render(session, { newToken: token });
    }
    const token = (form.get('token') ?? '').trim();
    if (token.length < MIN_ACCESS_TOKEN_LENGTH) return render(session, { error: `The token must be at least ${MIN_ACCESS_TOKEN_LENGTH} characters long.` }, 400);
    await s.settings.set('executorsAccessToken', token);
    return redirect('/site-admin/settings');
  });

  router.add('POST', '/site-admin/settings/frontend-url', 'ui.settings.frontend_url', async (ctx) => {
    const { session, form } = await readForm(ctx, s, { siteAdmin: true });
    const raw = (form.get('url') ?? '').trim();
    if (raw === '') {
      await s.settings.set('frontendUrl', undefined);
      return redirect('/site-admin/settings');
    }
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {
      url = undefined;
    }
    if (!url || !['http:', 'https:'].includes(url.protocol) || url.pathname !== '/' || url.search || url.hash || url.username) {
      return render(session, { error: 'The frontend URL is scheme://host[:port] (http or https), with nothing after the host.' }, 400);
    }
    await s.settings.set('frontendUrl', url.origin);
    return redirect('/site-admin/settings');
  });
}
