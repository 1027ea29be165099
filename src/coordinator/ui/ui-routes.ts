// The web UI's entry points: assets, sign-in and sign-out, and the pages' routes (one file per page).
import { randomBytes } from 'node:crypto';
import type { Router } from '../http/router.js';
import type { HttpServices } from '../http/services.js';
import { SCRIPT, STYLESHEET } from './assets.js';
import { addBatchChangesPages } from './batch-changes-pages.js';
import { addBatchPreviewPage } from './batch-preview-page.js';
import { addCodeIntelPages } from './codeintel-pages.js';
import { FAVICON_SVG, faviconIco } from './favicon.js';
import { GLANCE_SCRIPT, GLANCE_STYLESHEET } from './glance-assets.js';
import { addExecutorsPage } from './executors-page.js';
import { html } from './html.js';
import { addJobOverviewRoute } from './job-overview.js';
import { addJobPages } from './jobs-pages.js';
import { page } from './layout.js';
import { addSecretsPage } from './secrets-page.js';
import { addSettingsPage } from './settings-page.js';
import { htmlReply, redirect, safeNext } from './ui-reply.js';
import { constantTimeEquals } from '../http/constant-time.js';
import { SIGN_IN_MAX_BODY_BYTES } from '../http/request-body.js';
import { MAX_PASSWORD_LENGTH } from '../users/password-hash.js';
import { cookieValue, currentSession, readForm, readFormBody, sessionCookie, sessionCookieHeader } from './ui-session.js';

const SESSION_MAX_AGE_SECONDS = 12 * 3600;
const SIGN_IN_CSRF_COOKIE = 'executors_sign_in';

export function addUiRoutes(router: Router, s: HttpServices): void {
  const secure = s.config.tls !== undefined;
  const asset = (body: string, type: string) => () => ({ status: 200, body: Buffer.from(body), headers: { 'content-type': type, 'cache-control': 'public, max-age=300', 'x-content-type-options': 'nosniff' } });
  router.add('GET', '/assets/app.css', 'ui.assets.css', asset(STYLESHEET + GLANCE_STYLESHEET, 'text/css; charset=utf-8'));
  router.add('GET', '/assets/app.js', 'ui.assets.js', asset(SCRIPT + GLANCE_SCRIPT, 'text/javascript; charset=utf-8'));
  const ico = faviconIco();
  const icon = (body: Buffer, type: string) => () => ({ status: 200, body, headers: { 'content-type': type, 'cache-control': 'public, max-age=86400', 'x-content-type-options': 'nosniff' } });
  router.add('GET', '/favicon.ico', 'ui.favicon', icon(ico, 'image/x-icon'));
  router.add('GET', '/favicon.svg', 'ui.favicon', icon(Buffer.from(FAVICON_SVG), 'image/svg+xml'));

  router.add('GET', '/', 'ui.home', async (ctx) => {
    const session = await currentSession(ctx, s);
    if (!session) return redirect('/sign-in');
    return redirect(session.user.siteAdmin ? '/site-admin/executors' : '/secrets');
  });

  // The sign-in form has no session yet: its CSRF token is a double-submit cookie (so another site
  // cannot sign a browser into an account of its choosing).
  // After a wrong password the username stays filled in, and the password field takes the focus.
  const signInPage = (next: string, error?: string, status = 200, username = '') => {
    const csrf = randomBytes(24).toString('base64url');
    return htmlReply(
      page({
        title: 'Sign in',
        section: 'none',
        body: html`<h1>Sign in</h1>
          ${error ? html`<div class="error" role="alert">${error}</div>` : ''}
          <form class="card sign-in" method="post" action="/sign-in">
            <input type="hidden" name="next" value="${next}"><input type="hidden" name="_csrf" value="${csrf}">
            <label for="username">Username</label><input id="username" name="username" type="text" autocomplete="username" value="${username}" required ${username ? '' : html`autofocus`}>
            <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required ${username ? html`autofocus` : ''}>
            <p><button type="submit">Sign in</button></p>
          </form>
          <p class="muted">No password yet? A site admin sets one (<code>PUT /api/v1/users/{id}/password</code>), or <code>bin/coordinator create-user</code> makes a user with one.</p>`,
      }),
      status,
      { 'set-cookie': `${SIGN_IN_CSRF_COOKIE}=${csrf}; Path=/sign-in; HttpOnly; SameSite=Strict; Max-Age=3600${secure ? '; Secure' : ''}` },
    );
  };

  router.add('GET', '/sign-in', 'ui.sign_in', async (ctx) => {
    const next = safeNext(ctx.url.searchParams.get('next'), '/');
    if (await currentSession(ctx, s)) return redirect(next);
    return signInPage(next);
  });

  // The same throttle and limits as POST /api/v1/tokens: a small body, a password maximum, and a
  // lock-out (429 with Retry-After) after repeated wrong passwords for a user name or from an address.
  router.add('POST', '/sign-in', 'ui.sign_in.post', async (ctx) => {
    const form = await readFormBody(ctx.req, SIGN_IN_MAX_BODY_BYTES);
    const cookieToken = cookieValue(ctx.req, SIGN_IN_CSRF_COOKIE) ?? '';
    if (cookieToken.length < 20 || !constantTimeEquals(cookieToken, form.get('_csrf') ?? '')) {
      return signInPage(safeNext(form.get('next'), '/'), 'The sign-in form expired or did not come from this site. Try again.', 403, (form.get('username') ?? '').slice(0, 200));
    }
    const next = safeNext(form.get('next'), '/');
    const username = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    const typedName = username.slice(0, 200);
    const address = ctx.req.socket.remoteAddress;
    const retryAfter = await s.signIn.retryAfterSeconds(username, address);
    if (retryAfter > 0) {
      const page = signInPage(next, `Too many wrong passwords for this user or from this address. Try again in ${Math.ceil(retryAfter / 60)} min.`, 429, typedName)!;
      return { ...page, headers: { ...page.headers, 'retry-after': String(retryAfter) } };
    }
    if (password.length > MAX_PASSWORD_LENGTH) return signInPage(next, `A password has at most ${MAX_PASSWORD_LENGTH} characters.`, 400, typedName);
    const user = await s.users.verifyPassword(username, password);
    if (!user) {
      await s.signIn.failed(username, address);
      return signInPage(next, 'Wrong username or password.', 401, typedName);
    }
    await s.signIn.succeeded(username);
    const { cookie } = await s.sessions.create(user.id);
    return redirect(next, { 'set-cookie': sessionCookieHeader(cookie, secure, SESSION_MAX_AGE_SECONDS) });
  });

  router.add('POST', '/sign-out', 'ui.sign_out', async (ctx) => {
    await readForm(ctx, s);
    const cookie = sessionCookie(ctx);
    if (cookie) await s.sessions.delete(cookie);
    return redirect('/sign-in', { 'set-cookie': sessionCookieHeader('', secure, 0) });
  });

  addExecutorsPage(router, s);
  addJobPages(router, s);
  addCodeIntelPages(router, s);
  addBatchChangesPages(router, s);
  addBatchPreviewPage(router, s);
  addJobOverviewRoute(router, s);
  addSecretsPage(router, s);
  addSettingsPage(router, s);
}
