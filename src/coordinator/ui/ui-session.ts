// The web UI's session cookie and CSRF protection. The cookie is HttpOnly, SameSite=Strict, Secure when
// the coordinator serves HTTPS; every form carries the session's CSRF token, and a POST is accepted only
// with that token and, when the browser sends one, an Origin of this coordinator.
import type { IncomingMessage } from 'node:http';
import type { Session } from '../store/session-store.js';
import { constantTimeEquals } from '../http/constant-time.js';
import { HttpError } from '../http/http-error.js';
import { readBody } from '../http/request-body.js';
import type { RequestContext } from '../http/router.js';
import type { HttpServices } from '../http/services.js';

export const SESSION_COOKIE = 'executors_session';
/** Form bodies are small: a secret value is the largest thing a form sends. */
const MAX_FORM_BYTES = 256 * 1024;

export function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

export function sessionCookieHeader(value: string, secure: boolean, maxAgeSeconds: number): string {
  return `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

/** The signed-in session, or undefined. */
export async function currentSession(ctx: RequestContext, s: Pick<HttpServices, 'sessions'>): Promise<Session | undefined> {
  const cookie = cookieValue(ctx.req, SESSION_COOKIE);
  if (!cookie || !/^[A-Za-z0-9_-]{20,100}$/.test(cookie)) return undefined;
  return (await s.sessions.get(cookie)) ?? undefined;
}

export function sessionCookie(ctx: RequestContext): string | undefined {
  return cookieValue(ctx.req, SESSION_COOKIE);
}

/** A redirect to the sign-in page that comes back to this page afterwards. */
export function signInRedirect(ctx: RequestContext): HttpError {
  const next = ctx.url.pathname + ctx.url.search;
  return new HttpError(303, '', { location: `/sign-in?next=${encodeURIComponent(next)}` });
}

/** The session of a page that needs one (a redirect to sign in otherwise); `siteAdmin` pages 403 others. */
export async function requirePageSession(ctx: RequestContext, s: Pick<HttpServices, 'sessions'>, options: { siteAdmin?: boolean } = {}): Promise<Session> {
  const session = await currentSession(ctx, s);
  if (!session) throw signInRedirect(ctx);
  if (options.siteAdmin && !session.user.siteAdmin) throw new HttpError(403, 'This page is for site admins.');
  return session;
}

/**
 * A POSTed form of a signed-in session: checks the Origin (when sent) and the CSRF token, then returns
 * the fields. 403 for a missing or wrong token.
 */
export async function readForm(ctx: RequestContext, s: Pick<HttpServices, 'sessions'>, options: { siteAdmin?: boolean; maxBytes?: number } = {}): Promise<{ session: Session; form: URLSearchParams }> {
  const session = await requirePageSession(ctx, s, options);
  const origin = ctx.req.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    const host = ctx.req.headers.host;
    let originHost: string | undefined;
    try {
      originHost = new URL(origin).host;
    } catch {
      originHost = undefined;
    }
    if (!host || originHost !== host) throw new HttpError(403, 'Cross-origin form submission refused.');
  }
  const form = await readFormBody(ctx.req, options.maxBytes);
  const token = form.get('_csrf') ?? '';
  if (!constantTimeEquals(token, session.csrfToken)) throw new HttpError(403, 'The form is stale or did not come from this site (CSRF token mismatch). Reload the page and try again.');
  return { session, form };
}

export async function readFormBody(req: IncomingMessage, maxBytes = MAX_FORM_BYTES): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
  if (type !== 'application/x-www-form-urlencoded') throw new HttpError(415, 'Expected a form (application/x-www-form-urlencoded).');
  return new URLSearchParams((await readBody(req, maxBytes)).toString('utf8'));
}
