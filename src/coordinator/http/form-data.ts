// A `multipart/form-data` body (RFC 7578), already read and bounded (readBody), as its fields: name →
// bytes. Strict and small: what curl's `-F name=value`, `-F name=@file` and `-F name=<file` send, for the
// batch helper's shell form (protocol/batch-result-form.ts). A malformed body is a 400 that says what is
// wrong; nothing in it is trusted beyond its bytes (no file names, no part content types).
import { RequestBodyError } from './request-body.js';

const MAX_PARTS = 32;
const MAX_PART_HEADER_BYTES = 8 * 1024;
const CRLF = Buffer.from('\r\n');
const HEADER_END = Buffer.from('\r\n\r\n');

/** The boundary of a `multipart/form-data` content type; undefined for another type. */
export function formDataBoundary(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) return undefined;
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw new RequestBodyError(400, 'invalid request body: multipart/form-data without a boundary');
  return boundary;
}

export function parseFormData(body: Buffer, boundary: string): Map<string, Buffer> {
  const bad = (why: string) => new RequestBodyError(400, `invalid request body: ${why}`);
  const delimiter = Buffer.from(`--${boundary}`);
  const partEnd = Buffer.concat([CRLF, delimiter]);
  const fields = new Map<string, Buffer>();
  if (!body.subarray(0, delimiter.length).equals(delimiter)) throw bad('the form does not start with its boundary');
  let at = delimiter.length;
  for (;;) {
    // After a delimiter: "--" ends the form, CRLF starts a part.
    if (body.subarray(at, at + 2).toString('latin1') === '--') return fields;
    if (!body.subarray(at, at + 2).equals(CRLF)) throw bad('a form boundary is not followed by a line break');
    at += 2;
    const headerEnd = body.indexOf(HEADER_END, at);
    if (headerEnd < 0 || headerEnd - at > MAX_PART_HEADER_BYTES) throw bad('a form part has no end of its headers');
    const headers = body.subarray(at, headerEnd).toString('latin1').split('\r\n');
    const disposition = headers.find((h) => /^content-disposition:/i.test(h));
    const name = disposition && /;\s*name="([^"]*)"/i.exec(disposition)?.[1];
    if (!name) throw bad('a form part has no Content-Disposition name');
    const start = headerEnd + HEADER_END.length;
    const end = body.indexOf(partEnd, start);
    if (end < 0) throw bad(`the form part ${JSON.stringify(name)} does not end (a truncated body?)`);
    if (fields.has(name)) throw bad(`the form field ${JSON.stringify(name)} is there twice`);
    if (fields.size >= MAX_PARTS) throw bad(`more than ${MAX_PARTS} form fields`);
    fields.set(name, body.subarray(start, end));
    at = end + partEnd.length;
  }
}
