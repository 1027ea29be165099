// The admin API's bearer token (COORDINATOR_ADMIN_TOKEN), compared in constant time.
import type { IncomingMessage } from 'node:http';
import { constantTimeEquals } from './constant-time.js';
import { HttpError } from './http-error.js';

export function requireAdmin(req: IncomingMessage, adminToken: string | undefined): void {
  if (!adminToken) throw new HttpError(503, { error: 'the admin API is disabled: set COORDINATOR_ADMIN_TOKEN (at least 20 characters) and restart' });
  const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (!match || !constantTimeEquals(match[1]!, adminToken)) {
    throw new HttpError(401, { error: 'missing or wrong admin token: send Authorization: Bearer <COORDINATOR_ADMIN_TOKEN>' }, { 'www-authenticate': 'Bearer' });
  }
}
