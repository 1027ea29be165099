// Upload bodies in the files store, in chunks of a bounded size: a request body is streamed in chunk by
// chunk (never held whole), every replica reads the same chunks, and processing streams them back out.
import { AppError } from '../../shared/errors.js';
import type { FileStore } from '../store/file-store.js';

/** The files-store bucket of upload chunks; keys are `<uploadId>/<part, 6 digits>/<chunk, 8 digits>`. */
export const UPLOAD_BUCKET = 'codeintel-uploads';

/** Bytes per stored chunk: the most of one upload a coordinator holds in memory at once. */
export const UPLOAD_CHUNK_BYTES = 1024 * 1024;

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/**
 * Stores part `partIndex` of upload `uploadId` from `body`, chunk by chunk, replacing what an earlier
 * attempt of the same part stored. Throws AppError `codeintel.upload_too_large` past `maxBytes` (what was
 * stored of the part is removed). Returns the part's size in bytes.
 */
export async function storeUploadPart(files: FileStore, uploadId: number, partIndex: number, body: AsyncIterable<Buffer>, maxBytes: number): Promise<number> {
  const prefix = `${uploadId}/${pad(partIndex, 6)}/`;
  await files.deletePrefix(UPLOAD_BUCKET, prefix);
  let total = 0;
  let seq = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const flush = async () => {
    if (pendingBytes === 0) return;
    await files.put(UPLOAD_BUCKET, `${prefix}${pad(seq++, 8)}`, Buffer.concat(pending, pendingBytes));
    pending = [];
    pendingBytes = 0;
  };
  try {
    for await (const chunk of body) {
      total += chunk.length;
      if (total > maxBytes) throw new AppError('codeintel.upload_too_large', `the upload is over the limit of ${maxBytes} bytes (COORDINATOR_CODEINTEL_MAX_UPLOAD_SIZE)`);
      let rest = chunk;
      while (rest.length > 0) {
        const take = Math.min(rest.length, UPLOAD_CHUNK_BYTES - pendingBytes);
        pending.push(rest.subarray(0, take));
        pendingBytes += take;
        rest = rest.subarray(take);
        if (pendingBytes === UPLOAD_CHUNK_BYTES) await flush();
      }
    }
    await flush();
  } catch (err) {
    await files.deletePrefix(UPLOAD_BUCKET, prefix).catch(() => undefined);
    throw err;
  }
  return total;
}

/** The stored bytes of an upload, its parts in order, one chunk at a time. */
export async function* readUploadBlob(files: FileStore, uploadId: number): AsyncGenerator<Buffer> {
  for (const key of await files.listKeys(UPLOAD_BUCKET, `${uploadId}/`)) {
    const chunk = await files.get(UPLOAD_BUCKET, key);
    if (chunk) yield chunk;
  }
}

/** Removes an upload's stored bytes (after processing, or with the upload). */
export function deleteUploadBlob(files: FileStore, uploadId: number): Promise<number> {
  return files.deletePrefix(UPLOAD_BUCKET, `${uploadId}/`);
}
