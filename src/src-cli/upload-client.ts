// Uploads an index the way src-cli's `code-intel upload` does (lib/codeintel/upload in the original):
// gzip the file to a temporary file, then one POST when the compressed size is at most the payload
// limit, else a multipart upload (init with numParts, one POST per part, then done=true). Each request
// is retried on a 5xx answer up to 5 times, a second apart; a 401 is "unauthorized upload".
//
// Unlike the original, a request that fails to connect (the coordinator restarting) is retried too, and
// a client error is reported instead of being dropped by the retry loop.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { SCIP_CONTENT_TYPE, UNCOMPRESSED_SIZE_HEADER, type UploadCreatedResponse } from '../protocol/codeintel-upload.js';

export interface UploadRecord {
  repo: string;
  commit: string;
  root: string;
  indexer: string;
  indexerVersion: string;
  associatedIndexId: number | undefined;
}

export interface UploadOptions {
  endpoint: string;
  route: string;
  accessToken: string | undefined;
  additionalHeaders: Record<string, string>;
  /** Parts above this many bytes (compressed) are split: `-max-payload-size` MB × 1,000,000. */
  maxPayloadBytes: number;
  maxRetries: number;
  retryIntervalMs: number;
  insecureSkipVerify: boolean;
  /** Send the requests over this UNIX domain socket (SRC_PROXY) instead of connecting to the endpoint's host. */
  socketPath?: string;
  /** Progress and retry messages (nothing when undefined). */
  log?: (line: string) => void;
}

/** A failed upload; `unauthorized` for a 401 (the original's ErrUnauthorized). */
export class UploadError extends Error {
  constructor(
    message: string,
    readonly unauthorized = false,
  ) {
    super(message);
  }
}

interface RequestOptions {
  query: Record<string, string>;
  body?: { file: string; start: number; length: number };
  uncompressedSize?: number;
}

/** Whether a failed request may be retried. */
type Attempt<T> = { ok: true; value: T } | { ok: false; retry: boolean; error: UploadError };

function request(options: UploadOptions, req: RequestOptions): Promise<Attempt<{ status: number; body: string }>> {
  const url = new URL(options.endpoint + options.route);
  for (const [k, v] of Object.entries(req.query)) url.searchParams.set(k, v);
  const headers: Record<string, string> = { 'content-type': SCIP_CONTENT_TYPE, 'user-agent': 'src-cli (executors)' };
  if (req.uncompressedSize) headers[UNCOMPRESSED_SIZE_HEADER] = String(req.uncompressedSize);
  if (options.accessToken) headers.authorization = `token ${options.accessToken}`;
  Object.assign(headers, options.additionalHeaders);
  headers['content-length'] = String(req.body?.length ?? 0);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const tls = url.protocol === 'https:' ? { rejectUnauthorized: !options.insecureSkipVerify } : {};
    const r = transport.request(url, { method: 'POST', headers, ...tls, ...(options.socketPath ? { socketPath: options.socketPath } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.length < 64 && chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const body = Buffer.concat(chunks).toString('utf8');
        if (status === 401) return resolve({ ok: false, retry: false, error: new UploadError('unauthorized upload', true) });
        if (status >= 300) {
          const trimmed = body.trim();
          const suffix = trimmed.startsWith('<') || trimmed === '' ? '' : ` (${trimmed})`;
          return resolve({ ok: false, retry: status >= 500, error: new UploadError(`unexpected status code: ${status}${suffix}`) });
        }
        resolve({ ok: true, value: { status, body } });
      });
      res.on('error', (err) => resolve({ ok: false, retry: true, error: new UploadError(`reading the answer failed: ${err.message}`) }));
    });
    r.on('error', (err) => resolve({ ok: false, retry: true, error: new UploadError(`request to ${url.origin}${options.socketPath ? ` over ${options.socketPath}` : ''} failed: ${err.message}`) }));
    if (req.body && req.body.length > 0) {
      fs.createReadStream(req.body.file, { start: req.body.start, end: req.body.start + req.body.length - 1 }).on('error', (err) => r.destroy(err)).pipe(r);
    } else {
      r.end();
    }
  });
}

async function withRetries<T>(options: UploadOptions, what: string, attempt: () => Promise<Attempt<T>>): Promise<T> {
  for (let i = 0; ; i++) {
    const result = await attempt();
    if (result.ok) return result.value;
    if (!result.retry || i >= options.maxRetries) throw result.error;
    options.log?.(`Failed to ${what} (will retry; attempt #${i + 1}): ${result.error.message}`);
    await new Promise((r) => setTimeout(r, options.retryIntervalMs));
  }
}

function parseId(body: string): number {
  let parsed: UploadCreatedResponse;
  try {
    parsed = JSON.parse(body) as UploadCreatedResponse;
  } catch (err) {
    throw new UploadError(`unexpected response (${(err as Error).message})`);
  }
  const id = Number.parseInt(String(parsed.id), 10);
  if (!Number.isFinite(id)) throw new UploadError(`unexpected response (no upload id in ${JSON.stringify(body.slice(0, 200))})`);
  return id;
}

function recordQuery(record: UploadRecord): Record<string, string> {
  const q: Record<string, string> = {};
  if (record.repo) q.repository = record.repo;
  if (record.commit) q.commit = record.commit;
  if (record.root) q.root = record.root;
  if (record.indexer) q.indexerName = record.indexer;
  if (record.indexerVersion) q.indexerVersion = record.indexerVersion;
  if (record.associatedIndexId !== undefined) q.associatedIndexId = String(record.associatedIndexId);
  return q;
}

/** Compresses `file` and uploads it; resolves to the upload's id. */
export async function uploadIndex(file: string, record: UploadRecord, options: UploadOptions): Promise<number> {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'src-upload-'));
  const compressed = path.join(tmp, 'index.gz');
  try {
    const uncompressedSize = (await fsp.stat(file)).size;
    await pipeline(fs.createReadStream(file), createGzip(), fs.createWriteStream(compressed));
    const compressedSize = (await fsp.stat(compressed)).size;
    options.log?.(`Index compressed (${(uncompressedSize / 1e6).toFixed(2)}MB -> ${(compressedSize / 1e6).toFixed(2)}MB).`);
    const query = recordQuery(record);
    if (compressedSize <= options.maxPayloadBytes) {
      const res = await withRetries(options, 'upload index file', () => request(options, { query, body: { file: compressed, start: 0, length: compressedSize }, uncompressedSize }));
      return parseId(res.body);
    }
    const numParts = Math.ceil(compressedSize / options.maxPayloadBytes);
    const init = await withRetries(options, 'prepare multipart upload', () => request(options, { query: { ...query, multiPart: 'true', numParts: String(numParts) }, uncompressedSize }));
    const id = parseId(init.body);
    options.log?.(`Prepared multipart upload ${id} (${numParts} parts).`);
    for (let index = 0; index < numParts; index++) {
      const start = index * options.maxPayloadBytes;
      const length = Math.min(options.maxPayloadBytes, compressedSize - start);
      await withRetries(options, `upload index file ${index + 1} of ${numParts}`, () => request(options, { query: { uploadId: String(id), index: String(index) }, body: { file: compressed, start, length } }));
    }
    await withRetries(options, 'finalize multipart upload', () => request(options, { query: { uploadId: String(id), done: 'true' } }));
    options.log?.('Finalized multipart upload.');
    return id;
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}
