// What a running job fetches with its token: the repository it clones (git smart HTTP, reference §2.5)
// and the workspace files its payload names (§2.6).
import { serveGitUploadPack } from '../git/git-http-backend.js';
import { repositoryDirFor } from '../git/repository-mirror.js';
import { HttpError } from './http-error.js';
import type { Router } from './router.js';
import type { HttpServices } from './services.js';

export function addJobResourceRoutes(router: Router, s: HttpServices): void {
  const git = (service: 'info/refs' | 'git-upload-pack') => async (ctx: Parameters<Parameters<Router['add']>[3]>[0]) => {
    const repositoryName = ctx.params.repo!;
    await s.executorAuth.requireJobToken(ctx.req, { repositoryName });
    if (!(await s.repositories.get(repositoryName))) throw new HttpError(404, `repository ${JSON.stringify(repositoryName)} not found`);
    await serveGitUploadPack(ctx.req, ctx.res, { repositoryDir: repositoryDirFor(s.repositoriesDir, repositoryName), service, logger: s.logger });
    return undefined;
  };
  router.add('GET', '/.executors/git/*repo/info/refs', 'git.info-refs', git('info/refs'));
  router.add('POST', '/.executors/git/*repo/git-upload-pack', 'git.upload-pack', git('git-upload-pack'));

  // The original lets any `batches` job token read any file. Here a token reads only the files its own
  // job's payload names: a hostile job cannot read another batch spec's workspace files.
  const file = (withBody: boolean) => async (ctx: Parameters<Parameters<Router['add']>[3]>[0]) => {
    const bucket = ctx.params.bucket!;
    const key = ctx.params.key!;
    const auth = await s.executorAuth.requireJobToken(ctx.req, { files: true });
    if (auth.kind === 'job') {
      const job = await s.jobs.find(auth.queue, auth.jobId);
      const named = Object.values(job?.spec.files ?? {}).some((f) => f.bucket === bucket && f.key === key);
      if (!named) throw new HttpError(403, `job ${auth.jobId} does not reference file ${bucket}/${key}`);
    }
    if (!withBody) {
      const size = await s.files.size(bucket, key);
      return size === null ? { status: 404 } : { status: 200, headers: { 'content-length': String(size) } };
    }
    const content = await s.files.get(bucket, key);
    if (!content) throw new HttpError(404, `file ${bucket}/${key} not found`);
    return { status: 200, body: content, headers: { 'content-type': 'application/octet-stream' } };
  };
  router.add('GET', '/.executors/files/:bucket/*key', 'files.get', file(true));
  router.add('HEAD', '/.executors/files/:bucket/*key', 'files.head', file(false));
}
