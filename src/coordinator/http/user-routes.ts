// Users, API tokens and organizations under /api/v1. Site admins manage users; every user sees
// themselves, makes and revokes their own tokens, creates organizations and manages the members of
// those they belong to. A password exchanges for an API token at POST /api/v1/tokens.
import { z } from 'zod';
import type { OrgRow, UserRow } from '../store/user-store.js';
import { accessTokenSha256, ACCESS_TOKEN_PREFIX } from '../users/access-token.js';
import { MAX_PASSWORD_LENGTH } from '../users/password-hash.js';
import { authenticateUser, bearerToken, requireSiteAdmin } from './admin-auth.js';
import { fieldError, HttpError } from './http-error.js';
import { readJson, SIGN_IN_MAX_BODY_BYTES } from './request-body.js';
import type { RequestContext, Router } from './router.js';
import type { HttpServices } from './services.js';

const CreateUserSchema = z.strictObject({
  username: z.string(),
  password: z.string().optional(),
  siteAdmin: z.boolean().optional(),
});
const PasswordLoginSchema = z.strictObject({ username: z.string(), password: z.string(), note: z.string().max(200).optional() });
const TokenSchema = z.strictObject({ note: z.string().max(200).optional() });
const PasswordSchema = z.strictObject({
  password: z.string(),
  /** When users change their own password: keep the API token of this request (default), or end it too (false). */
  keepCallerToken: z.boolean().default(true),
});
const CreateOrgSchema = z.strictObject({ name: z.string() });
const AddMemberSchema = z.strictObject({ username: z.string() });

export function userView(u: UserRow) {
  return { id: u.id, username: u.username, siteAdmin: u.siteAdmin, hasPassword: u.hasPassword, createdAt: u.createdAt.toISOString() };
}

function orgView(o: OrgRow) {
  return { id: o.id, name: o.name, createdAt: o.createdAt.toISOString() };
}

/** A numeric path id, or 404 naming what was not found. */
export function idParam(raw: string, what: string): number {
  if (!/^\d{1,15}$/.test(raw)) throw new HttpError(404, { error: `no ${what} ${JSON.stringify(raw)}` });
  return Number(raw);
}

export function addUserRoutes(router: Router, s: HttpServices): void {
  /** The caller, who must be user `id` or a site admin. */
  const selfOrSiteAdmin = async (ctx: RequestContext, id: number) => {
    const user = await authenticateUser(ctx.req, s);
    if (user.id !== id && !user.siteAdmin) throw new HttpError(403, { error: 'only the user themselves or a site admin may do this' });
    return user;
  };
  /** The organization `id`, when the caller is one of its members (404 otherwise, so non-members learn nothing). */
  const memberOrg = async (ctx: RequestContext) => {
    const user = await authenticateUser(ctx.req, s);
    const orgId = idParam(ctx.params.id!, 'organization');
    const org = await s.users.getOrg(orgId);
    if (!org || !(await s.users.isMember(orgId, user.id))) throw new HttpError(404, { error: `no organization ${orgId} that you belong to` });
    return { user, org };
  };

  // Anyone may try a password here: the body is small, and failures are throttled per user name and per
  // address (429 with Retry-After while locked out, whatever the password).
  router.add('POST', '/api/v1/tokens', 'users.tokens.login', async (ctx) => {
    const body = await readJson(ctx.req, PasswordLoginSchema, SIGN_IN_MAX_BODY_BYTES);
    const address = ctx.req.socket.remoteAddress;
    const retryAfter = await s.signIn.retryAfterSeconds(body.username, address);
    if (retryAfter > 0) {
      throw new HttpError(429, { error: `too many wrong passwords for this user or from this address: try again in ${retryAfter} s` }, { 'retry-after': String(retryAfter) });
    }
    // Never hashed: scrypt's cost grows with the length, and no stored password is this long.
    if (body.password.length > MAX_PASSWORD_LENGTH) throw fieldError(400, 'password', `at most ${MAX_PASSWORD_LENGTH} characters`);
    const user = await s.users.verifyPassword(body.username, body.password);
    if (!user) {
      await s.signIn.failed(body.username, address);
      throw new HttpError(401, { error: 'wrong username or password' });
    }
    await s.signIn.succeeded(body.username);
    const { id, token } = await s.users.createToken(user.id, body.note ?? 'password login');
    return { status: 201, body: { id, token, user: userView(user) } };
  });

  router.add('GET', '/api/v1/users/me', 'users.me', async (ctx) => ({ status: 200, body: userView(await authenticateUser(ctx.req, s)) }));

  router.add('GET', '/api/v1/users', 'users.list', async (ctx) => {
    await requireSiteAdmin(ctx.req, s);
    return { status: 200, body: { users: (await s.users.list()).map(userView) } };
  });

  router.add('POST', '/api/v1/users', 'users.create', async (ctx) => {
    await requireSiteAdmin(ctx.req, s);
    const body = await readJson(ctx.req, CreateUserSchema, s.config.maxBodyBytes);
    return { status: 201, body: userView(await s.users.create(body)) };
  });

  router.add('DELETE', '/api/v1/users/:id', 'users.delete', async (ctx) => {
    const admin = await requireSiteAdmin(ctx.req, s);
    const id = idParam(ctx.params.id!, 'user');
    if (id === admin.id) throw new HttpError(409, { error: 'a site admin cannot delete themselves' });
    // COORDINATOR_ADMIN_TOKEN acts as this user: without it, the token would act as nobody.
    if (s.bootstrapAdmin && id === s.bootstrapAdmin.id) {
      throw new HttpError(409, { error: `the bootstrap site admin ${s.bootstrapAdmin.username} cannot be deleted while COORDINATOR_ADMIN_TOKEN is set: unset it and restart first` });
    }
    const deleted = await s.users.delete(id);
    if (!deleted) throw new HttpError(404, { error: `no user ${id}` });
    s.logger.info('deleted a user; their unfinished jobs are canceled', { userId: id, by: admin.username, canceledJobs: deleted.canceledJobs });
    return { status: 204 };
  });

  // A new password ends every web session and API token of the user — but, when users change their own,
  // the token of this request (unless keepCallerToken is false), so the script doing it goes on.
  router.add('PUT', '/api/v1/users/:id/password', 'users.password', async (ctx) => {
    const id = idParam(ctx.params.id!, 'user');
    const caller = await selfOrSiteAdmin(ctx, id);
    const body = await readJson(ctx.req, PasswordSchema, s.config.maxBodyBytes);
    if (!(await s.users.get(id))) throw new HttpError(404, { error: `no user ${id}` });
    const token = bearerToken(ctx.req);
    const keep = caller.id === id && body.keepCallerToken && token?.startsWith(ACCESS_TOKEN_PREFIX) ? accessTokenSha256(token) : undefined;
    const ended = await s.users.setPassword(id, body.password, { keepTokenSha256: keep });
    s.logger.info('password changed; sessions and API tokens ended', { userId: id, by: caller.username, ...ended });
    return { status: 204 };
  });

  router.add('POST', '/api/v1/users/:id/tokens', 'users.tokens.create', async (ctx) => {
    const id = idParam(ctx.params.id!, 'user');
    await selfOrSiteAdmin(ctx, id);
    const body = await readJson(ctx.req, TokenSchema, s.config.maxBodyBytes);
    if (!(await s.users.get(id))) throw new HttpError(404, { error: `no user ${id}` });
    const { id: tokenId, token } = await s.users.createToken(id, body.note ?? '');
    return { status: 201, body: { id: tokenId, token } };
  });

  router.add('GET', '/api/v1/users/:id/tokens', 'users.tokens.list', async (ctx) => {
    const id = idParam(ctx.params.id!, 'user');
    await selfOrSiteAdmin(ctx, id);
    const tokens = await s.users.listTokens(id);
    return { status: 200, body: { tokens: tokens.map((t) => ({ id: t.id, note: t.note, createdAt: t.createdAt.toISOString() })) } };
  });

  router.add('DELETE', '/api/v1/users/:id/tokens/:tokenId', 'users.tokens.delete', async (ctx) => {
    const id = idParam(ctx.params.id!, 'user');
    await selfOrSiteAdmin(ctx, id);
    if (!(await s.users.deleteToken(id, idParam(ctx.params.tokenId!, 'token')))) throw new HttpError(404, { error: `no token ${ctx.params.tokenId} of user ${id}` });
    return { status: 204 };
  });

  router.add('GET', '/api/v1/orgs', 'orgs.list', async (ctx) => {
    const user = await authenticateUser(ctx.req, s);
    // Site admins see every organization; others those they belong to.
    return { status: 200, body: { orgs: (await s.users.listOrgs(user.siteAdmin ? undefined : user.id)).map(orgView) } };
  });

  router.add('POST', '/api/v1/orgs', 'orgs.create', async (ctx) => {
    const user = await authenticateUser(ctx.req, s);
    const body = await readJson(ctx.req, CreateOrgSchema, s.config.maxBodyBytes);
    return { status: 201, body: orgView(await s.users.createOrg(body.name, user.id)) };
  });

  router.add('GET', '/api/v1/orgs/:id/members', 'orgs.members.list', async (ctx) => {
    const { org } = await memberOrg(ctx);
    return { status: 200, body: { members: (await s.users.listMembers(org.id)).map(userView) } };
  });

  router.add('POST', '/api/v1/orgs/:id/members', 'orgs.members.add', async (ctx) => {
    const { org } = await memberOrg(ctx);
    const body = await readJson(ctx.req, AddMemberSchema, s.config.maxBodyBytes);
    const member = await s.users.getByName(body.username);
    if (!member) throw new HttpError(404, { error: `no user ${JSON.stringify(body.username)}` });
    await s.users.addMember(org.id, member.id);
    return { status: 204 };
  });

  router.add('DELETE', '/api/v1/orgs/:id/members/:userId', 'orgs.members.remove', async (ctx) => {
    const { org } = await memberOrg(ctx);
    if (!(await s.users.removeMember(org.id, idParam(ctx.params.userId!, 'user')))) throw new HttpError(404, { error: `user ${ctx.params.userId} is not a member` });
    return { status: 204 };
  });
}
