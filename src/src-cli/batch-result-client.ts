// Sends a batch workspace's result to the coordinator (`POST /.executors/batches/results`) as JSON, with
// the job's credentials from the environment (SRC_ENDPOINT, SRC_HEADER_AUTHORIZATION, SRC_HEADERS, as the
// upload step of index jobs has them). A 5xx or a connection that fails is retried; a 4xx is final and
// its message (git's, for a diff that does not apply) is what the step prints.
import http from 'node:http';
import https from 'node:https';
import type { BatchExecutionResult } from '../protocol/batch-execution.js';
import { BATCH_RESULTS_ROUTE } from '../protocol/batch-execution-paths.js';
import type { SrcConfig } from './src-config.js';

export class ResultUploadError extends Error {}

function post(config: SrcConfig, body: Buffer): Promise<{ status: number; text: string } | { error: Error }> {
  const url = new URL(config.endpoint + BATCH_RESULTS_ROUTE);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'content-length': String(body.length), 'user-agent': 'src-cli (executors) batch-helper' };
  if (config.accessToken) headers.authorization = `token ${config.accessToken}`;
  Object.assign(headers, config.additionalHeaders);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const req = transport.request(url, { method: 'POST', headers, ...(config.proxySocketPath ? { socketPath: config.proxySocketPath } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.length < 256 && chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (error) => resolve({ error }));
    });
    req.on('error', (error) => resolve({ error }));
    req.end(body);
  });
}

/** The error text of a JSON `{"error": …}` answer, else the body as it came. */
function messageOf(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON
  }
  return text.trim();
}

export async function uploadBatchResult(config: SrcConfig, result: BatchExecutionResult, options: { maxAttempts?: number; retryIntervalMs?: number; log?: (line: string) => void } = {}): Promise<void> {
  const body = Buffer.from(JSON.stringify(result));
  const attempts = options.maxAttempts ?? 5;
  for (let attempt = 1; ; attempt++) {
    const answer = await post(config, body);
    if ('status' in answer && answer.status >= 200 && answer.status < 300) return;
    const why = 'error' in answer ? `cannot reach ${config.endpoint}: ${answer.error.message}` : `the coordinator answered ${answer.status}: ${messageOf(answer.text)}`;
    const retryable = 'error' in answer || answer.status >= 500;
    if (!retryable || attempt >= attempts) throw new ResultUploadError(why);
    options.log?.(`${why}; retrying (${attempt}/${attempts - 1})`);
    await new Promise((r) => setTimeout(r, options.retryIntervalMs ?? 1000));
  }
}
