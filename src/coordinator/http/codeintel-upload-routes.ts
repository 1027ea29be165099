// The SCIP upload routes (reference §2.3; the original's uploadhandler): `/.executors/scip/upload` and
// `/.executors/lsif/upload` for index jobs, `/.api/scip/upload` and `/.api/lsif/upload` for a user's
// token. Single uploads answer 202 {"id": "<n>"}; multipart init the same, parts and finalize 204.
// Bodies go to the files store chunk by chunk (never whole in memory), bounded by
// COORDINATOR_CODEINTEL_MAX_UPLOAD_SIZE. Errors are the original's texts:
// `failed to enqueue payload: <reason>` as text/plain.
import type { IncomingMessage } from 'node:http';
import { EXECUTOR_NAME_HEADER, EXECUTOR_TOKEN_SCHEME, JOB_ID_HEADER, JOB_TOKEN_SCHEME } from '../../protocol/headers.js';
import {
  EXECUTOR_LSIF_UPLOAD_ROUTE,
  EXECUTOR_SCIP_UPLOAD_ROUTE,
  UNCOMPRESSED_SIZE_HEADER,
  UploadQuery,
  USER_LSIF_UPLOAD_ROUTE,
  USER_SCIP_UPLOAD_ROUTE,
} from '../../protocol/codeintel-upload.js';
import { AppError } from '../../shared/errors.js';
import { storeUploadPart } from '../codeintel/upload-blobs.js';
import { jobTokenSha256 } from '../queues/job-token.js';
import { authenticateUser } from './admin-auth.js';
import { HttpError } from './http-error.js';
import { readableRepositories } from './readable-repositories.js';
import type { RequestContext, Router } from './router.js';
import type { HttpServices } from './services.js';

const REVHASH = /^[a-z0-9]{40}$/;

/** The original's error shape: http.Error(w, "failed to enqueue payload: …", status). */
function enqueueError(status: number, reason: string, headers: Record<string, string> = {}): HttpError {
  return new HttpError(status, `failed to enqueue payload: ${reason}\n`, headers);
}

/** Who is uploading: an executor (shared token), one codeintel job (its token), or a user. */
type Uploader = { kind: 'executor' } | { kind: 'job'; jobId: number; repositoryName: string } | { kind: 'user'; userId: number; username: string; siteAdmin: boolean };

/** The original roots: '' for the repository root, otherwise with a trailing slash (sanitizeRoot). */
export function sanitizeRoot(root: string): string {
  if (root === '' || root === '/' || root === '.' || root === './') return '';
  let r = root.replace(/^\.\//, '').replace(/^\/+/, '');
  if (!r.endsWith('/')) r += '/';
  return r;
}

export function addCodeIntelUploadRoutes(router: Router, s: HttpServices): void {
  const { store, config, processor } = s.codeintel;

  /** Executor routes: `token-executor` (the original's jobs, old setups) or a codeintel job's own token. */
  const executorUploader = async (req: IncomingMessage): Promise<Uploader> => {
    const header = req.headers.authorization ?? '';
    const space = header.indexOf(' ');
    const scheme = space < 0 ? header : header.slice(0, space);
    const token = space < 0 ? '' : header.slice(space + 1);
    if (scheme === EXECUTOR_TOKEN_SCHEME) {
      s.executorAuth.requireExecutorToken(req);
      return { kind: 'executor' };
    }
    if (scheme !== JOB_TOKEN_SCHEME || token === '') throw new HttpError(401, 'no token value in the HTTP Authorization request header');
    const sha = jobTokenSha256(token);
    if (!sha) throw new HttpError(401, 'invalid token');
    const executorName = req.headers[EXECUTOR_NAME_HEADER];
    const found = await s.jobs.lookupToken(sha, typeof executorName === 'string' ? executorName : '');
    if (!found) throw new HttpError(401, 'invalid token');
    if (found.queue !== 'codeintel') throw new HttpError(403, 'invalid token: only codeintel jobs upload indexes');
    const jobIdHeader = req.headers[JOB_ID_HEADER];
    if (typeof jobIdHeader === 'string' && jobIdHeader !== String(found.jobId)) throw new HttpError(403, 'invalid token');
    if (typeof executorName === 'string' && executorName !== '' && !found.executorKnown) throw new HttpError(401, 'invalid token');
    return { kind: 'job', jobId: found.jobId, repositoryName: found.repositoryName };
  };

  /** User routes: `Authorization: token <API token>` (what src sends) or `Bearer <API token>`. */
  const userUploader = async (req: IncomingMessage): Promise<Uploader> => {
    const header = req.headers.authorization ?? '';
    const asBearer = header.startsWith('token ') ? `Bearer ${header.slice('token '.length)}` : header;
    const user = await authenticateUser({ headers: { authorization: asBearer } } as IncomingMessage, s);
    return { kind: 'user', userId: user.id, username: user.username, siteAdmin: user.siteAdmin };
  };

  const handle = (authenticate: (req: IncomingMessage) => Promise<Uploader>) => async (ctx: RequestContext) => {
    const uploader = await authenticate(ctx.req);
    const q = ctx.url.searchParams;
    const has = (name: string) => (q.get(name) ?? '') !== '';
    const int = (name: string) => {
      const v = Number.parseInt(q.get(name) ?? '', 10);
      return Number.isFinite(v) ? v : 0;
    };
    const drain = () => ctx.req.resume();

    // --- a later request of a multipart upload ------------------------------------------------------
    if (has(UploadQuery.uploadId)) {
      const upload = await store.getUpload(int(UploadQuery.uploadId));
      if (!upload) {
        drain();
        throw enqueueError(404, 'upload not found');
      }
      if (uploader.kind === 'job' && upload.associatedIndexId !== uploader.jobId) {
        drain();
        throw new HttpError(403, 'invalid token: the upload belongs to another job');
      }
      if (uploader.kind === 'user' && upload.uploadedBy !== `user:${uploader.username}`) {
        drain();
        throw enqueueError(404, 'upload not found');
      }
      if (has(UploadQuery.index)) {
        const index = int(UploadQuery.index);
        if (index < 0 || index >= upload.numParts) {
          drain();
          throw enqueueError(400, `illegal part index: index ${index} is outside the range [0, ${upload.numParts})`);
        }
        if (upload.state !== 'uploading') {
          drain();
          throw enqueueError(400, `upload ${upload.id} is ${upload.state}: it takes no more parts`);
        }
        const size = await storePart(ctx, upload.id, index, config.maxUploadBytes - upload.compressedSize);
        if (!(await store.addUploadPart(upload.id, index, size))) throw enqueueError(400, `upload ${upload.id} no longer takes parts`);
        return { status: 204 };
      }
      if (has(UploadQuery.done)) {
        drain();
        const missing = upload.numParts - new Set(upload.uploadedParts).size;
        if (missing > 0) throw enqueueError(400, `upload is missing ${missing} parts`);
        if (!(await store.markUploadQueued(upload.id))) throw enqueueError(400, `upload ${upload.id} is ${upload.state}, not uploading`);
        processor.wake();
        return { status: 204 };
      }
      drain();
      throw enqueueError(400, 'unprocessable request: missing expected query arguments (uploadId, index, or done)');
    }

    // --- a new upload: single, or a multipart init ----------------------------------------------------
    const rawSize = ctx.req.headers[UNCOMPRESSED_SIZE_HEADER];
    let uncompressedSize: number | null = null;
    if (typeof rawSize === 'string' && rawSize !== '') {
      if (!/^\d+$/.test(rawSize)) {
        drain();
        throw enqueueError(422, 'the header `X-Uncompressed-Size` must be an integer');
      }
      uncompressedSize = Number(rawSize);
    }
    const commit = q.get(UploadQuery.commit) ?? '';
    if (!REVHASH.test(commit)) {
      drain();
      throw enqueueError(400, 'commit must be a 40-character revhash');
    }
    const repositoryName = q.get(UploadQuery.repository) ?? '';
    // 🚨 A user uploads only for a repository they may read; one they may not reads as unknown (its name does not leak).
    if (!(await s.repositories.get(repositoryName)) || (uploader.kind === 'user' && !(await readableRepositories(s, { id: uploader.userId, siteAdmin: uploader.siteAdmin }, [repositoryName])).has(repositoryName))) {
      drain();
      throw enqueueError(404, `unknown repository ${JSON.stringify(repositoryName)}`);
    }
    let associatedIndexId: number | null = has(UploadQuery.associatedIndexId) ? int(UploadQuery.associatedIndexId) : null;
    if (uploader.kind === 'job') {
      // A job's token uploads for its own repository and is recorded as its index's upload.
      if (repositoryName !== uploader.repositoryName) {
        drain();
        throw new HttpError(403, `invalid token: job ${uploader.jobId} indexes ${uploader.repositoryName}, not ${repositoryName}`);
      }
      if (associatedIndexId !== null && associatedIndexId !== uploader.jobId) {
        drain();
        throw new HttpError(403, `invalid token: it was issued for job ${uploader.jobId}, not ${associatedIndexId}`);
      }
      associatedIndexId = uploader.jobId;
    } else if (uploader.kind === 'user') {
      associatedIndexId = null;
    }
    const metadata = {
      repositoryName,
      commit,
      root: sanitizeRoot(q.get(UploadQuery.root) ?? ''),
      indexer: q.get(UploadQuery.indexerName) ?? '',
      indexerVersion: q.get(UploadQuery.indexerVersion) ?? '',
      associatedIndexId,
      uploadedBy: uploader.kind === 'user' ? `user:${uploader.username}` : uploader.kind === 'job' ? `job:${uploader.jobId}` : 'executor',
      uncompressedSize,
    };
    if (has(UploadQuery.multiPart)) {
      drain();
      const numParts = int(UploadQuery.numParts);
      if (numParts <= 0) throw enqueueError(400, `illegal number of parts: ${numParts}`);
      const id = await store.insertUpload({ ...metadata, numParts }, 'uploading');
      s.logger.info('codeintel upload started (multipart)', { uploadId: id, repository: repositoryName, commit, numParts, by: metadata.uploadedBy });
      return { status: 202, body: { id: String(id) } };
    }
    const id = await store.insertUpload({ ...metadata, numParts: 1 }, 'uploading');
    let size: number;
    try {
      size = await storePart(ctx, id, 0, config.maxUploadBytes);
    } catch (err) {
      await store.markUploadErrored(id, `the upload did not arrive whole: ${(err as Error).message}`);
      throw err;
    }
    await store.addUploadPart(id, 0, size);
    await store.markUploadQueued(id);
    processor.wake();
    s.logger.info('codeintel upload queued', { uploadId: id, repository: repositoryName, commit, bytes: size, by: metadata.uploadedBy });
    return { status: 202, body: { id: String(id) } };
  };

  /** Streams the body into the files store; 413 past the limit. */
  const storePart = async (ctx: RequestContext, uploadId: number, index: number, maxBytes: number): Promise<number> => {
    const declared = Number(ctx.req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      ctx.req.resume();
      throw enqueueError(413, `the part is ${declared} bytes, over what the upload may still take (${Math.max(0, maxBytes)} bytes; COORDINATOR_CODEINTEL_MAX_UPLOAD_SIZE)`);
    }
    try {
      return await storeUploadPart(s.files, uploadId, index, ctx.req as AsyncIterable<Buffer>, maxBytes);
    } catch (err) {
      if (err instanceof AppError && err.code === 'codeintel.upload_too_large') {
        ctx.req.resume();
        throw enqueueError(413, err.message, { connection: 'close' });
      }
      throw err;
    }
  };

  for (const route of [EXECUTOR_SCIP_UPLOAD_ROUTE, EXECUTOR_LSIF_UPLOAD_ROUTE]) {
    const name = route.includes('scip') ? 'codeintel.upload.executor.scip' : 'codeintel.upload.executor.lsif';
    router.add('POST', route, name, handle(executorUploader));
    // src checks whether SCIP is accepted with a HEAD; the original always answers 200.
    router.add('HEAD', route, `${name}.head`, () => ({ status: 200 }));
  }
  for (const route of [USER_SCIP_UPLOAD_ROUTE, USER_LSIF_UPLOAD_ROUTE]) {
    const name = route.includes('scip') ? 'codeintel.upload.user.scip' : 'codeintel.upload.user.lsif';
    router.add('POST', route, name, handle(userUploader));
    router.add('HEAD', route, `${name}.head`, () => ({ status: 200 }));
  }
}
