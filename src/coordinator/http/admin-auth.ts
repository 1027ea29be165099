// Who is calling the admin API: `Authorization: Bearer <token>`, where the token is a user's API token
// (found by its SHA-256) or COORDINATOR_ADMIN_TOKEN (compared in constant time), which acts as the
// bootstrap site admin `admin`. Site-wide routes need a site admin; a user's own routes any user.
import type { IncomingMessage } from 'node:http';
import type { UserRow } from '../store/user-store.js';
import { ACCESS_TOKEN_PREFIX } from '../users/access-token.js';
import { constantTimeEquals } from './constant-time.js';
import { HttpError } from './http-error.js';
import type { HttpServices } from './services.js';

const UNAUTHENTICATED = 'missing or unknown token: send Authorization: Bearer <an API token, or COORDINATOR_ADMIN_TOKEN>';

/** The token of `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(req: IncomingMessage): string | undefined {
  return /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
}

/** The calling user; 401 without a known token. */
export async function authenticateUser(req: IncomingMessage, s: Pick<HttpServices, 'config' | 'users' | 'bootstrapAdmin'>): Promise<UserRow> {
  const token = bearerToken(req);
  if (token !== undefined) {
    const { adminToken } = s.config;
    if (adminToken && s.bootstrapAdmin && constantTimeEquals(token, adminToken)) return s.bootstrapAdmin;
    if (token.startsWith(ACCESS_TOKEN_PREFIX)) {
      const user = await s.users.userForToken(token);
      if (user) return user;
    }
  }
  throw new HttpError(401, { error: UNAUTHENTICATED }, { 'www-authenticate': 'Bearer' });
}

/** The calling user, who must be a site admin (403 otherwise). */
export async function requireSiteAdmin(req: IncomingMessage, s: Pick<HttpServices, 'config' | 'users' | 'bootstrapAdmin'>): Promise<UserRow> {
  const user = await authenticateUser(req, s);
  if (!user.siteAdmin) throw new HttpError(403, { error: 'this needs a site admin' });
  return user;
}
