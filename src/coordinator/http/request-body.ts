// Reading request bodies: a size cap (413), JSON parsing (400 with the reason), schema validation
// (400 naming the field).
import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import { HttpError } from './http-error.js';

/**
 * The body limit of the sign-in routes (POST /api/v1/tokens, POST /sign-in), which anyone may call: a
 * user name, a password of at most 256 characters and a note fit many times over.
 */
export const SIGN_IN_MAX_BODY_BYTES = 16 * 1024;

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

/**
 * Reads the whole body, refusing with 413 as soon as it passes `maxBytes`. A body the client cut off
 * (it aborted, or the connection dropped) is a 400 that nobody will read: not a server error.
 */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    throw new RequestBodyError(413, `request body of ${declared} bytes is over the limit of ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        req.resume();
        throw new RequestBodyError(413, `request body is over the limit of ${maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    // Node's `aborted` / ECONNRESET while the body streamed in.
    throw new HttpError(400, `the request body ended early (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): the client aborted it`);
  }
  if (req.readableAborted) throw new HttpError(400, 'the request body ended early: the client aborted it');
  return Buffer.concat(chunks, size);
}

/** Formats a zod error as `field.path: problem; …`, the way a client can act on. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(body)'}: ${issue.message}`)
    .join('; ');
}

/**
 * PostgreSQL text cannot hold NUL. In a string value (a job's output may have one) it becomes U+FFFD;
 * in an object key, which names something, the body is refused naming where (`files.a\u0000b` was a 500).
 */
function replaceNul(value: unknown, path: string[]): unknown {
  if (typeof value === 'string') return value.replaceAll('\u0000', '\uFFFD');
  if (Array.isArray(value)) return value.map((v, i) => replaceNul(v, [...path, String(i)]));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k.includes('\u0000')) {
        const field = [...path, k.replaceAll('\u0000', '\\u0000')].join('.');
        throw new RequestBodyError(400, `invalid request body: ${field}: an object key must not contain NUL (\\u0000)`, field);
      }
      // defineProperty: a `__proto__` key stays a key, not the object's prototype.
      Object.defineProperty(out, k, { value: replaceNul(v, [...path, k]), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }
  return value;
}

/** Reads and validates a JSON body. An empty body is read as `{}` (Go's decoder errors instead; this is kinder). */
export async function readJson<S extends z.ZodType>(req: IncomingMessage, schema: S, maxBytes: number): Promise<z.infer<S>> {
  const raw = await readBody(req, maxBytes);
  let value: unknown;
  try {
    const text = raw.toString('utf8');
    value = text.length === 0 ? {} : JSON.parse(text);
  } catch (err) {
    throw new RequestBodyError(400, `Failed to unmarshal payload: ${(err as Error).message}`);
  }
  if (raw.includes('\\u0000')) value = replaceNul(value, []);
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const field = first && first.path.length > 0 ? first.path.join('.') : undefined;
    throw new RequestBodyError(400, `invalid request body: ${describeZodError(parsed.error)}`, field);
  }
  return parsed.data;
}
