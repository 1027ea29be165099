// Executor secrets under /api/v1 (reference §7.5): global ones (site admins), a user's own, and an
// organization's (its members). A value goes in and never comes out: listings carry key, scope,
// namespace, creator and dates; the access log says who read a value for which job.
import { z } from 'zod';
import { canManageSecrets } from '../secrets/secret-access.js';
import type { SecretAccessLogRow, SecretNamespace, SecretRow } from '../store/secret-store.js';
import type { UserRow } from '../store/user-store.js';
import { authenticateUser } from './admin-auth.js';
import { HttpError } from './http-error.js';
import { readJson } from './request-body.js';
import type { RequestContext, Router } from './router.js';
import type { HttpServices } from './services.js';
import { idParam } from './user-routes.js';

const ScopeSchema = z.enum(['batches', 'codeintel']);
const CreateSecretSchema = z.strictObject({ key: z.string(), value: z.string(), scope: ScopeSchema });
const UpdateSecretSchema = z.strictObject({ value: z.string() });

function namespaceView(ns: SecretNamespace) {
  return ns.kind === 'global' ? { type: 'global' } : ns.kind === 'user' ? { type: 'user', userId: ns.userId } : { type: 'org', orgId: ns.orgId };
}

function secretView(secret: SecretRow) {
  return {
    id: secret.id,
    key: secret.key,
    scope: secret.scope,
    namespace: namespaceView(secret.namespace),
    creatorId: secret.creatorId,
    createdAt: secret.createdAt.toISOString(),
    updatedAt: secret.updatedAt.toISOString(),
  };
}

function accessLogView(row: SecretAccessLogRow) {
  return { id: row.id, secretId: row.secretId, userId: row.userId, machineUser: row.machineUser, jobId: row.jobId, createdAt: row.createdAt.toISOString() };
}

export function addSecretRoutes(router: Router, s: HttpServices): void {
  /**
   * The caller, when they may manage secrets of `ns`: site admins the global namespace, a user their
   * own, members their organization's. Anyone else gets 404, which tells nothing about what exists.
   */
  const authorize = async (user: UserRow, ns: SecretNamespace) => {
    if (!(await canManageSecrets(s.users, user, ns))) {
      if (ns.kind === 'global') throw new HttpError(403, { error: 'only site admins manage global executor secrets' });
      throw new HttpError(404, { error: `no ${ns.kind === 'user' ? 'user' : 'organization'} namespace ${ns.kind === 'user' ? ns.userId : ns.orgId} of yours` });
    }
    return user;
  };
  /**
   * The secret of path parameter `id`, when the caller may manage its namespace (404 otherwise). The
   * caller is authenticated before anything is looked up, so a 401 tells nothing of which ids exist.
   */
  const ownedSecret = async (ctx: RequestContext) => {
    const user = await authenticateUser(ctx.req, s);
    const id = idParam(ctx.params.id!, 'secret');
    const secret = await s.secrets.get(id);
    // Someone else's secret does not exist, as far as this caller can tell.
    if (!secret || !(await canManageSecrets(s.users, user, secret.namespace))) throw new HttpError(404, { error: `no secret ${id}` });
    return { user, secret };
  };

  const namespaces: Array<[string, string, (ctx: RequestContext) => SecretNamespace]> = [
    ['/api/v1/secrets', 'global', () => ({ kind: 'global' })],
    ['/api/v1/users/:id/secrets', 'user', (ctx) => ({ kind: 'user', userId: idParam(ctx.params.id!, 'user') })],
    ['/api/v1/orgs/:id/secrets', 'org', (ctx) => ({ kind: 'org', orgId: idParam(ctx.params.id!, 'organization') })],
  ];
  for (const [pattern, name, namespaceOf] of namespaces) {
    router.add('GET', pattern, `secrets.${name}.list`, async (ctx) => {
      const user = await authenticateUser(ctx.req, s);
      const ns = namespaceOf(ctx);
      await authorize(user, ns);
      const rawScope = ctx.url.searchParams.get('scope');
      const scope = rawScope === null ? undefined : ScopeSchema.safeParse(rawScope).data;
      if (rawScope !== null && scope === undefined) throw new HttpError(400, { error: `query parameter scope=${JSON.stringify(rawScope)}: expected batches or codeintel` });
      return { status: 200, body: { secrets: (await s.secrets.list(ns, scope)).map(secretView) } };
    });
    router.add('POST', pattern, `secrets.${name}.create`, async (ctx) => {
      const user = await authenticateUser(ctx.req, s);
      const ns = namespaceOf(ctx);
      await authorize(user, ns);
      const body = await readJson(ctx.req, CreateSecretSchema, s.config.maxBodyBytes);
      if (ns.kind !== 'global' && body.scope === 'codeintel') throw new HttpError(400, { error: 'codeintel secrets are global only (auto-indexing reads no user or organization secrets)' });
      return { status: 201, body: secretView(await s.secrets.create(ns, { ...body, creatorId: user.id })) };
    });
  }

  router.add('PUT', '/api/v1/secrets/:id', 'secrets.update', async (ctx) => {
    const { secret } = await ownedSecret(ctx);
    const body = await readJson(ctx.req, UpdateSecretSchema, s.config.maxBodyBytes);
    const updated = await s.secrets.updateValue(secret.id, body.value);
    if (!updated) throw new HttpError(404, { error: `no secret ${secret.id}` });
    return { status: 200, body: secretView(updated) };
  });

  router.add('DELETE', '/api/v1/secrets/:id', 'secrets.delete', async (ctx) => {
    const { secret } = await ownedSecret(ctx);
    await s.secrets.delete(secret.id);
    return { status: 204 };
  });

  router.add('GET', '/api/v1/secrets/:id/access-logs', 'secrets.access_logs', async (ctx) => {
    const { secret } = await ownedSecret(ctx);
    return { status: 200, body: { accessLogs: (await s.secrets.accessLogs(secret.id)).map(accessLogView) } };
  });
}
