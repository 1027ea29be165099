// How UI pages answer: HTML with headers that keep the browser strict (no inline script, no framing),
// and redirects after a form (POST → 303 → GET).
import { AppError } from '../../shared/errors.js';
import type { Reply } from '../http/router.js';

/** script-src 'self' only: the page's script is /assets/app.js; nothing inline runs, whatever a job printed. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

export function htmlReply(body: string, status = 200, headers: Record<string, string> = {}): Reply {
  return { status, body: Buffer.from(body, 'utf8'), headers: { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS, ...headers } };
}

export function redirect(location: string, headers: Record<string, string> = {}): Reply {
  return { status: 303, body: '', headers: { location, 'cache-control': 'no-store', ...headers } };
}

/**
 * A form's action: runs `action` and redirects to `href` with what it says, or with the message of the
 * AppError it throws (a refusal the user can act on), as `?notice=`. Other errors propagate (500).
 */
export async function redirectWithNotice(href: string, action: () => Promise<string>): Promise<Reply> {
  let notice: string;
  try {
    notice = await action();
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    notice = err.message;
  }
  return redirect(`${href}?${new URLSearchParams({ notice })}`);
}

/** Only same-site paths: `next` comes from a query string and must not send a signed-in user elsewhere. */
export function safeNext(next: string | null, fallback: string): string {
  return next && /^\/(?!\/)[^\s\\]*$/.test(next) ? next : fallback;
}
