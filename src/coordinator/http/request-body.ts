// Reading request bodies: a size cap (413), JSON parsing (400 with the reason), schema validation
// (400 naming the field).
import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { HttpError } from './http-error.js';

/**
 * A body that could not be read: too big, not JSON, or not the expected shape. The admin API answers it
 * as `{"error": "...", "field": "dockerSteps.0.image"}`; the executor API keeps the original's plain text
 * (`Failed to unmarshal payload: …`), which the error handler sends from `text`.
 */
export class RequestBodyError extends HttpError {
  constructor(
    status: number,
    /** The whole message, as the executor API sends it. */
    readonly text: string,
    /** The first field at fault, dotted (`dockerSteps.0.image`); undefined for the body as a whole. */
    readonly field?: string,
  ) {
    super(status, field === undefined ? { error: text } : { error: text, field });
    this.name = 'RequestBodyError';
  }
}

/** Reads the whole body, refusing with 413 as soon as it passes `maxBytes`. */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    throw new RequestBodyError(413, `request body of ${declared} bytes is over the limit of ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      req.resume();
      throw new RequestBodyError(413, `request body is over the limit of ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** Formats a zod error as `field.path: problem; …`, the way a client can act on. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(body)'}: ${issue.message}`)
    .join('; ');
}

function replaceNul(_key: string, value: unknown): unknown {
  return typeof value === 'string' ? value.replaceAll('\u0000', '\uFFFD') : value;
}

/** Reads and validates a JSON body. An empty body is read as `{}` (Go's decoder errors instead; this is kinder). */
export async function readJson<S extends z.ZodType>(req: IncomingMessage, schema: S, maxBytes: number): Promise<z.infer<S>> {
  const raw = await readBody(req, maxBytes);
  let value: unknown;
  try {
    const text = raw.toString('utf8');
    // PostgreSQL text cannot hold NUL; a job's output may. Replace it rather than fail the request.
    value = text.length === 0 ? {} : text.includes('\\u0000') ? JSON.parse(text, replaceNul) : JSON.parse(text);
  } catch (err) {
    throw new RequestBodyError(400, `Failed to unmarshal payload: ${(err as Error).message}`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const field = first && first.path.length > 0 ? first.path.join('.') : undefined;
    throw new RequestBodyError(400, `invalid request body: ${describeZodError(parsed.error)}`, field);
  }
  return parsed.data;
}
