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

/** AppError codes that are the caller's mistake, and the status each answers; any other code is a 500. */
const CLIENT_ERROR_STATUS: Record<string, number> = {
  'users.invalid': 400,
  'users.name_taken': 409,
  'secrets.invalid': 400,
  'secrets.missing': 400,
  'secrets.key_taken': 409,
};

/** The status of an AppError code the caller caused, or undefined for a server-side failure. */
export function clientErrorStatus(code: string): number | undefined {
  return CLIENT_ERROR_STATUS[code];
}

/**
 * A client mistake in one input: `{"error": "<what was wrong and what is allowed>", "field": "<input>"}`.
 * `field` names the body field (dotted path, e.g. `dockerSteps.0.image`), query parameter, header or path
 * parameter at fault, so a client can point at it. Admin and UI API routes answer errors in this shape;
 * executor routes keep the bodies the original protocol fixes.
 */
export function fieldError(status: number, field: string, message: string): HttpError {
  return new HttpError(status, { error: message, field });
}
