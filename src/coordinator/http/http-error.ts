// An error that the one HTTP error handler turns into a status and body (STYLE.md, Errors).

export class HttpError extends Error {
  constructor(
    readonly status: number,
    /** Sent as is: a string goes out as text/plain, anything else as JSON. Empty for no body. */
    readonly body: string | object = '',
    /** Extra response headers, e.g. WWW-Authenticate. */
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body === 'string' ? body || `HTTP ${status}` : JSON.stringify(body));
    this.name = 'HttpError';
  }
}

/** The original's shape for handler errors: 500 `{"error": "..."}` (reference §2.4). */
export function handlerError(message: string, status = 500): HttpError {
  return new HttpError(status, { error: message });
}
