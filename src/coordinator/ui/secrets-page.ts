// Secrets: the global ones (site admins), the user's own, and each organization's they belong to;
// create, change the value of, and delete secrets, and read a secret's access log. A value is typed in
// and never shown again.
import { AppError } from '../../shared/errors.js';
import { clientErrorStatus, HttpError } from '../http/http-error.js';
import type { Router } from '../http/router.js';
import type { HttpServices } from '../http/services.js';
import { canManageSecrets } from '../secrets/secret-access.js';
import type { SecretNamespace, SecretRow, SecretScope } from '../store/secret-store.js';
import type { Session } from '../store/session-store.js';
import { html, type Html } from './html.js';
import { csrfField, page, relativeAge } from './layout.js';
import { htmlReply, redirect } from './ui-reply.js';
import { readForm, requirePageSession } from './ui-session.js';

function namespaceParam(ns: SecretNamespace): string {
  return ns.kind === 'global' ? 'global' : ns.kind === 'user' ? `user:${ns.userId}` : `org:${ns.orgId}`;
}

function parseNamespace(raw: string | null): SecretNamespace | undefined {
  if (raw === 'global') return { kind: 'global' };
  const m = /^(user|org):(\d{1,15})$/.exec(raw ?? '');
  if (!m) return undefined;
  return m[1] === 'user' ? { kind: 'user', userId: Number(m[2]) } : { kind: 'org', orgId: Number(m[2]) };
}

export function addSecretsPage(router: Router, s: HttpServices): void {
  const render = async (session: Session, error?: string, status = 200) => {
    const { user } = session;
    const sections: Array<{ title: string; ns: SecretNamespace; scopes: SecretScope[] }> = [];
    if (user.siteAdmin) sections.push({ title: 'Global secrets', ns: { kind: 'global' }, scopes: ['batches', 'codeintel'] });
    sections.push({ title: 'Your secrets', ns: { kind: 'user', userId: user.id }, scopes: ['batches'] });
    for (const org of await s.users.listOrgs(user.id)) sections.push({ title: `Organization ${org.name}`, ns: { kind: 'org', orgId: org.id }, scopes: ['batches'] });
    const now = Date.now();
    const rows = (secrets: SecretRow[]): Html[] =>
      secrets.map(
        (secret) => html`<tr data-key="${secret.key}">
          <td><strong>${secret.key}</strong></td><td>${secret.scope}</td><td title="${secret.updatedAt.toISOString()}">${relativeAge(secret.updatedAt, now)}</td>
          <td>
            <form class="inline" method="post" action="/secrets/${secret.id}/update">${csrfField(session)}
              <input type="password" name="value" placeholder="New value" aria-label="New value of ${secret.key}" required autocomplete="off"><button class="secondary" type="submit">Update</button></form>
            <form class="inline" method="post" action="/secrets/${secret.id}/delete">${csrfField(session)}<button class="danger" type="submit">Delete</button></form>
            <a href="/secrets/${secret.id}/access-logs">Access log</a>
          </td></tr>`,
      );
    const blocks: Html[] = [];
    for (const section of sections) {
      const secrets = await s.secrets.list(section.ns);
      const id = namespaceParam(section.ns).replace(':', '-');
      blocks.push(html`<section id="secrets-${id}"><h2>${section.title}</h2>
        <div class="table-wrap"><table><thead><tr><th>Key</th><th>Scope</th><th>Updated</th><th></th></tr></thead><tbody>${rows(secrets)}</tbody></table></div>
        ${secrets.length === 0 ? html`<p class="muted">None yet.</p>` : ''}
        <form class="card filters" method="post" action="/secrets/create">${csrfField(session)}
          <input type="hidden" name="namespace" value="${namespaceParam(section.ns)}">
          <input type="text" name="key" placeholder="KEY_NAME" aria-label="Key" required pattern="[A-Za-z_][A-Za-z0-9_]*">
          <input type="password" name="value" placeholder="Value" aria-label="Value" required autocomplete="off">
          <select name="scope" aria-label="Scope">${section.scopes.map((sc) => html`<option value="${sc}">${sc}</option>`)}</select>
          <button type="submit">Add secret</button>
        </form></section>`);
    }
    const body = html`<h1>Executor secrets</h1>
      ${error ? html`<div class="error" role="alert">${error}</div>` : ''}
      <p class="muted">Steps that ask for a secret get it as an environment variable; job logs show <code>\${{ secrets.KEY }}</code> instead of its value. A value is never shown after it is saved. <code>DOCKER_AUTH_CONFIG</code> holds registry credentials for the namespace's jobs.</p>
      ${blocks}`;
    return htmlReply(page({ title: 'Secrets', section: 'secrets', session, body }), status);
  };
  /** Runs a form action; a mistake of the user (bad key, duplicate) re-renders the page with the message. */
  const act = async (session: Session, action: () => Promise<unknown>) => {
    try {
      await action();
      return redirect('/secrets');
    } catch (err) {
      const status = err instanceof AppError ? clientErrorStatus(err.code) : undefined;
      if (status === undefined) throw err;
      return render(session, (err as AppError).message, status);
    }
  };
  /** The secret of the path, when the session's user may manage it (404 otherwise). */
  const managed = async (session: Session, rawId: string) => {
    const secret = /^\d{1,15}$/.test(rawId) ? await s.secrets.get(Number(rawId)) : null;
    if (!secret || !(await canManageSecrets(s.users, session.user, secret.namespace))) throw new HttpError(404, 'No such secret.');
    return secret;
  };

  router.add('GET', '/secrets', 'ui.secrets', async (ctx) => render(await requirePageSession(ctx, s)));

  router.add('POST', '/secrets/create', 'ui.secrets.create', async (ctx) => {
    const { session, form } = await readForm(ctx, s);
    const ns = parseNamespace(form.get('namespace'));
    if (!ns || !(await canManageSecrets(s.users, session.user, ns))) throw new HttpError(403, 'You cannot add secrets to that namespace.');
    const scope = form.get('scope') === 'codeintel' && ns.kind === 'global' ? 'codeintel' : 'batches';
    return act(session, () => s.secrets.create(ns, { key: form.get('key') ?? '', value: form.get('value') ?? '', scope, creatorId: session.user.id }));
  });

  router.add('POST', '/secrets/:id/update', 'ui.secrets.update', async (ctx) => {
    const { session, form } = await readForm(ctx, s);
    const secret = await managed(session, ctx.params.id!);
    return act(session, () => s.secrets.updateValue(secret.id, form.get('value') ?? ''));
  });

  router.add('POST', '/secrets/:id/delete', 'ui.secrets.delete', async (ctx) => {
    const { session } = await readForm(ctx, s);
    const secret = await managed(session, ctx.params.id!);
    return act(session, () => s.secrets.delete(secret.id));
  });

  router.add('GET', '/secrets/:id/access-logs', 'ui.secrets.access_logs', async (ctx) => {
    const session = await requirePageSession(ctx, s);
    const secret = await managed(session, ctx.params.id!);
    const logs = await s.secrets.accessLogs(secret.id);
    const names = new Map((await s.users.list()).map((u) => [u.id, u.username]));
    const body = html`<h1>Access log of ${secret.key}</h1>
      <p><a href="/secrets">← Secrets</a></p>
      <div class="table-wrap"><table id="access-logs"><thead><tr><th>When</th><th>Read by</th><th>For job</th></tr></thead><tbody>${logs.map(
        (l) => html`<tr><td>${l.createdAt.toISOString()}</td><td>${l.machineUser ?? names.get(l.userId!) ?? `user ${l.userId}`}</td><td>${l.jobId ?? ''}</td></tr>`,
      )}</tbody></table></div>
      ${logs.length === 0 ? html`<p class="muted">Not read yet.</p>` : ''}`;
    return htmlReply(page({ title: `Access log of ${secret.key}`, section: 'secrets', session, body }));
  });
}
