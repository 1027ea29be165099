// The strict multipart/form-data reader of the batch helper's shell form: curl's own bodies read back,
// and each way a hostile or truncated body is refused with what is wrong.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { formDataBoundary, parseFormData } from './form-data.js';
import { RequestBodyError } from './request-body.js';

const run = promisify(execFile);

/** What curl sends for `-F` arguments, as a server receives it. */
async function curlForm(args: string[]): Promise<{ contentType: string; body: Buffer }> {
  let received: { contentType: string; body: Buffer } | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received = { contentType: req.headers['content-type'] ?? '', body: Buffer.concat(chunks) };
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    await run('curl', ['--silent', '--show-error', ...args, `http://127.0.0.1:${port}/`]);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return received!;
}

const form = (boundary: string, body: string) => parseFormData(Buffer.from(body, 'latin1'), boundary);
/** The 400's text for a body, or 'accepted'. */
const refusal = (boundary: string, body: string) => {
  try {
    form(boundary, body);
    return 'accepted';
  } catch (err) {
    expect(err).toBeInstanceOf(RequestBodyError);
    expect((err as RequestBodyError).status).toBe(400);
    return (err as RequestBodyError).text;
  }
};

describe('multipart/form-data', () => {
  it('reads back what curl -F sends: text fields, a file with any bytes, a file read as text, an empty file', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'form-data-test-'));
    const bytes = Buffer.from([0, 1, 13, 10, 45, 45, 255, 13, 10]);
    await fs.writeFile(path.join(dir, 'blob'), bytes);
    await fs.writeFile(path.join(dir, 'state.json'), '{"a":1}');
    await fs.writeFile(path.join(dir, 'empty'), '');
    const sent = await curlForm(['--form', 'index=3', '--form', `blob=@${dir}/blob`, '--form', `state=<${dir}/state.json`, '--form', `empty=@${dir}/empty`]);
    await fs.rm(dir, { recursive: true });
    const boundary = formDataBoundary(sent.contentType);
    expect(boundary).toBeTruthy();
    const fields = parseFormData(sent.body, boundary!);
    expect([...fields.keys()]).toEqual(['index', 'blob', 'state', 'empty']);
    expect(fields.get('index')!.toString()).toBe('3');
    expect(fields.get('blob')!.equals(bytes)).toBe(true);
    expect(fields.get('state')!.toString()).toBe('{"a":1}');
    expect(fields.get('empty')!.length).toBe(0);
  });

  it('knows a form by its content type, and wants its boundary', () => {
    expect(formDataBoundary('application/json')).toBeUndefined();
    expect(formDataBoundary(undefined)).toBeUndefined();
    expect(formDataBoundary('multipart/form-data; boundary=abc')).toBe('abc');
    expect(formDataBoundary('Multipart/Form-Data; charset=utf-8; boundary="a b"')).toBe('a b');
    expect(() => formDataBoundary('multipart/form-data')).toThrow(RequestBodyError);
  });

  it('refuses a body that is not such a form, naming what is wrong', () => {
    const part = (name: string, value: string) => `--b\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    expect([...form('b', `${part('x', '1')}--b--\r\n`).keys()]).toEqual(['x']);
    expect(refusal('b', 'garbage')).toContain('does not start with its boundary');
    expect(refusal('b', `${part('x', '1')}--b`)).toContain('not followed by a line break');
    expect(refusal('b', '--b\r\nContent-Disposition: form-data; name="x"\r\n\r\ntruncated')).toContain('the form part "x" does not end');
    expect(refusal('b', '--b\r\nContent-Type: text/plain\r\n\r\n1\r\n--b--')).toContain('has no Content-Disposition name');
    expect(refusal('b', '--b\r\nContent-Disposition: form-data; name="x"')).toContain('has no end of its headers');
    expect(refusal('b', `${part('x', '1')}${part('x', '2')}--b--`)).toContain('the form field "x" is there twice');
    expect(refusal('b', `${Array.from({ length: 33 }, (_, i) => part(`f${i}`, '')).join('')}--b--`)).toContain('more than 32 form fields');
  });
});
