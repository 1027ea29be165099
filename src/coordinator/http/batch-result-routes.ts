// `POST /.executors/batches/results`: a `batches` job's helper uploads its workspace's result (the diff,
// the outputs, each step's result) with the job's own token — `Authorization: Bearer <job token>`,
// `X-Sourcegraph-Job-ID`, `X-Sourcegraph-Executor-Name` — while the job runs. The shared executors token
// is refused: it would let any executor post a result for any workspace. 200 when stored; 422 with git's
// message when the diff does not apply to the workspace's base commit (the workspace fails with it).
// Two forms of the same result: the node helper's JSON, and the shell form's multipart/form-data (what
// git and the step wrote, as they are: protocol/batch-result-form.ts).
import { BatchResultFormError, decodeBatchResultForm } from '../../protocol/batch-result-form.js';
import { BATCH_RESULTS_ROUTE, BatchExecutionResultSchema, type BatchExecutionResult } from '../../protocol/batch-execution.js';
import { formDataBoundary, parseFormData } from './form-data.js';
import { HttpError } from './http-error.js';
import { readBody, readJson, RequestBodyError } from './request-body.js';
import type { Router } from './router.js';
import type { HttpServices } from './services.js';

export function addBatchResultRoutes(router: Router, s: HttpServices): void {
  router.add('POST', BATCH_RESULTS_ROUTE, 'batches.results', async (ctx) => {
    const credentials = s.executorAuth.jobCredentials(ctx.req);
    if (credentials.kind !== 'job') {
      ctx.req.resume();
      throw new HttpError(403, { error: "a batch workspace's result is uploaded with its job's own token (Authorization: Bearer <job token>), not the executors' shared token" });
    }
    const auth = await s.executorAuth.checkToken(credentials, { queue: 'batches' }, { requireHolder: true });
    const boundary = formDataBoundary(ctx.req.headers['content-type']);
    const result = boundary ? decodeForm(parseFormData(await readBody(ctx.req, s.config.maxBodyBytes), boundary)) : await readJson(ctx.req, BatchExecutionResultSchema, s.config.maxBodyBytes);
    const outcome = await s.batches.execution.acceptResult(auth.jobId, result);
    if (!outcome.ok) throw new HttpError(outcome.status, { error: outcome.message });
    return { status: 200, body: { stored: true } };
  });
}

function decodeForm(fields: Map<string, Buffer>): BatchExecutionResult {
  try {
    return decodeBatchResultForm(fields);
  } catch (err) {
    if (err instanceof BatchResultFormError) throw new RequestBodyError(400, `invalid request body: ${err.message}`);
    throw err;
  }
}
