// The helper's shell form of `post <last> upload` (batch-upload-script.ts), run with the real sh, git,
// base64 and curl in a real workspace, against a local HTTP server that records what arrives: decoded, it
// is what the node helper (`src batch-helper post <i> upload`) sends for the same workspace; the job's
// headers, a UNIX-socket proxy, retries on 503, the coordinator's 4xx message, and the hand-over to the
// node helper where curl is missing.
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formDataBoundary, parseFormData } from '../coordinator/http/form-data.js';
import { decodeBatchResultForm } from '../protocol/batch-result-form.js';
import type { BatchExecutionInput, BatchStepInput } from '../protocol/batch-execution.js';
import { runBatchHelper } from './batch-helper.js';
import { renderStepFiles } from './batch-step-render.js';
import { batchUploadScript } from './batch-upload-script.js';

const run = promisify(execFile);

interface Received {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A stand-in for the coordinator's result route: records each request, answers the next of `answers` (then 200). */
async function resultServer(listenOn: number | string = 0) {
  const received: Received[] = [];
  const answers: Array<{ status: number; body: string }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      const answer = answers.shift() ?? { status: 200, body: '{"stored":true}' };
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => (typeof listenOn === 'string' ? server.listen(listenOn, resolve) : server.listen(listenOn, '127.0.0.1', resolve)));
  const address = server.address();
  const url = typeof address === 'object' && address ? `http://127.0.0.1:${address.port}` : 'http://coordinator.invalid';
  return { url, received, answers, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('the helper\'s shell form of the upload', () => {
  let workspace: string;
  let repo: string;
  let servers: Array<{ close: () => Promise<void> }>;

  beforeEach(async () => {
    servers = [];
    workspace = await fs.mkdtemp(path.join(os.tmpdir(), 'batch-upload-script-test-'));
    repo = path.join(workspace, 'repository');
    await fs.mkdir(path.join(repo, 'svc'), { recursive: true });
    await fs.writeFile(path.join(repo, 'svc', 'config.txt'), 'mode=foo\n');
    await fs.writeFile(path.join(repo, 'svc', 'old-name.txt'), 'a file that is renamed, long enough for git to see the rename\n'.repeat(4));
    await fs.writeFile(path.join(repo, 'svc', 'gone.txt'), 'deleted by the step\n');
    await fs.writeFile(path.join(repo, 'README.md'), 'readme\n');
    const git = (...args: string[]) => run('git', args, { cwd: repo });
    await git('init', '-q', '-b', 'main');
    await git('add', '-A');
    await git('-c', 'user.email=t@example.com', '-c', 'user.name=T', 'commit', '-q', '-m', 'initial');
  });
  afterEach(async () => {
    for (const s of servers) await s.close();
    await fs.rm(workspace, { recursive: true, force: true });
  });

  const server = async (listenOn?: number | string) => {
    const s = await resultServer(listenOn);
    servers.push(s);
    return s;
  };
  const writeInput = async (steps: Array<Partial<BatchStepInput> & { run: string }>): Promise<BatchExecutionInput> => {
    const commit = (await run('git', ['rev-parse', 'HEAD'], { cwd: repo })).stdout.trim();
    const input: BatchExecutionInput = {
      version: 1,
      batchChange: { name: 'hello', description: 'say hello' },
      repository: { name: 'github.com/acme/app', branch: 'main', commit, searchResultPaths: [] },
      path: 'svc',
      steps: steps.map((s) => ({ container: 'alpine', env: {}, secretEnv: [], files: {}, outputs: {}, ...s })),
    };
    await fs.mkdir(path.join(workspace, '.batches'), { recursive: true });
    await fs.writeFile(path.join(workspace, '.batches', 'input.json'), JSON.stringify(input));
    await fs.writeFile(path.join(workspace, '.batches', 'upload.sh'), batchUploadScript());
    // Step 0 as the coordinator ships it (job files), no pre 0.
    const rendered = renderStepFiles(0, input.steps[0]!, { repository: { ...input.repository }, batchChange: input.batchChange, outputs: {} });
    for (const [name, content] of Object.entries(rendered.files)) await fs.writeFile(path.join(workspace, '.batches', name), content);
    return input;
  };
  const runStep = async (i: number) => {
    await run('sh', [`../../.batches/step${i}.sh`], { cwd: path.join(repo, 'svc'), env: { PATH: process.env.PATH ?? '' }, maxBuffer: 16 * 1024 * 1024 }).catch((err: { code?: number }) => {
      if (typeof err.code !== 'number') throw err;
    });
  };
  const jobEnv = (endpoint: string, extra: Record<string, string> = {}) => ({
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    SRC_ENDPOINT: `${endpoint}/`,
    SRC_HEADER_AUTHORIZATION: 'Bearer job-token-1',
    SRC_HEADERS: 'X-Sourcegraph-Job-ID: 42\nX-Sourcegraph-Executor-Name: exec-1',
    ...extra,
  });
  /** `sh .batches/upload.sh <i> <commit>` in the workspace root, as the job's last helper step runs it. */
  const shellUpload = async (i: number, input: BatchExecutionInput, env: Record<string, string>) => {
    try {
      const out = await run('sh', ['.batches/upload.sh', String(i), input.repository.commit], { cwd: workspace, env });
      return { code: 0, stdout: out.stdout, stderr: out.stderr };
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  const nodeHelper = async (env: Record<string, string>, ...args: string[]) => {
    let stderr = '';
    const code = await runBatchHelper(args, env, { stdout: () => undefined, stderr: (t) => (stderr += t), cwd: workspace, retryIntervalMs: 10 });
    return { code, stderr };
  };
  /** The shell form's request as the coordinator reads it. */
  /**
   * Step 0, the node helper's `post 0 pre 1`, step 1; then step 1's upload by the shell form and by the
   * node helper, which must send the same result. Resolves with it.
   */
  const twoStepsBothWays = async (input: BatchExecutionInput) => {
    await runStep(0);
    const s = await server();
    const env = jobEnv(s.url);
    expect(await nodeHelper(env, 'post', '0', 'pre', '1')).toMatchObject({ code: 0 });
    await runStep(1);
    expect(await shellUpload(1, input, env)).toMatchObject({ code: 0 });
    expect(await nodeHelper(env, 'post', '1', 'upload')).toMatchObject({ code: 0 });
    const result = decoded(s.received[0]!);
    expect(result).toEqual(json(s.received[1]!));
    return result;
  };
  const decoded = (r: Received) => decodeBatchResultForm(parseFormData(r.body, formDataBoundary(r.headers['content-type'])!));
  const json = (r: Received) => JSON.parse(r.body.toString('utf8')) as unknown;

  it('sends what the node helper sends for the same workspace: the diff, the step\'s exit code, output and changed files', async () => {
    const input = await writeInput([
      {
        run: "sed -i 's/foo/bar/' config.txt && mv old-name.txt new-name.txt && rm gone.txt && printf 'new\\n' > added.txt && printf '\\000\\001\\377binary' > blob.bin && printf 'caf\\303\\251 \\377 out' && echo to-stderr >&2; exit 3",
      },
    ]);
    await runStep(0);
    const s = await server();
    const env = jobEnv(s.url);
    expect(await shellUpload(0, input, env)).toMatchObject({ code: 0, stdout: expect.stringContaining('uploaded the result') });
    expect(await nodeHelper(env, 'post', '0', 'upload')).toMatchObject({ code: 0 });
    expect(s.received).toHaveLength(2);
    const [fromShell, fromNode] = s.received as [Received, Received];
    expect(fromShell.url).toBe('/.executors/batches/results');
    expect(fromShell.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    const result = decoded(fromShell);
    expect(result).toEqual(json(fromNode));
    expect(result.steps).toEqual([
      expect.objectContaining({ index: 0, skipped: false, exitCode: 3, stdout: 'café \ufffd out', stderr: 'to-stderr\n', modifiedFiles: ['svc/config.txt'], addedFiles: ['svc/added.txt', 'svc/blob.bin'], deletedFiles: ['svc/gone.txt'], renamedFiles: ['svc/new-name.txt'] }),
    ]);
    expect(result.diff).toContain('-mode=foo\n+mode=bar');
    expect(result.diff).toContain('GIT binary patch');
    // The job's own credentials and headers, as the node helper sends them.
    for (const r of s.received) expect(r.headers).toMatchObject({ authorization: 'Bearer job-token-1', 'x-sourcegraph-job-id': '42', 'x-sourcegraph-executor-name': 'exec-1' });
  });

  it('after steps the node helper recorded (post 0 pre 1): their results and outputs, and the last step\'s changes from the tree before it', async () => {
    const input = await writeInput([
      { run: "sed -i 's/foo/bar/' config.txt && echo first", outputs: { said: { value: '${{ step.stdout }}', format: 'text' } } },
      { run: 'echo "${{ outputs.said }}" > said.txt && rm gone.txt' },
    ]);
    const result = await twoStepsBothWays(input);
    expect(result.outputs).toEqual({ said: 'first\n' });
    expect(result.steps.map((r) => [r.index, r.modifiedFiles, r.addedFiles, r.deletedFiles])).toEqual([
      [0, ['svc/config.txt'], [], []],
      [1, [], ['svc/said.txt'], ['svc/gone.txt']],
    ]);
  });

  it('a last step whose if: was false: skipped, no exit code, and still the diff of the steps before', async () => {
    const input = await writeInput([{ run: "sed -i 's/foo/bar/' config.txt" }, { run: 'touch never.txt', if: '${{ eq previous_step.stdout "x" }}' }]);
    const result = await twoStepsBothWays(input);
    expect(result.steps[1]).toMatchObject({ index: 1, skipped: true, exitCode: null, modifiedFiles: [], addedFiles: [] });
    expect(result.diff).toContain('+mode=bar');
  });

  it('keeps the first MiB of a step\'s output, as the node helper does', async () => {
    const input = await writeInput([{ run: "head -c 1572864 /dev/zero | tr '\\0' x; echo short >&2" }]);
    await runStep(0);
    const s = await server();
    const env = jobEnv(s.url);
    expect(await shellUpload(0, input, env)).toMatchObject({ code: 0 });
    expect(await nodeHelper(env, 'post', '0', 'upload')).toMatchObject({ code: 0 });
    const result = decoded(s.received[0]!);
    expect(result).toEqual(json(s.received[1]!));
    expect(result.steps[0]).toMatchObject({ stdout: 'x'.repeat(1024 * 1024), stderr: 'short\n' });
    expect(s.received[0]!.body.length).toBeLessThan(1024 * 1024 + 64 * 1024);
  });

  it('retries a 503, and stops at a 4xx with the coordinator\'s message', async () => {
    const input = await writeInput([{ run: "sed -i 's/foo/bar/' config.txt" }]);
    await runStep(0);
    const s = await server();
    s.answers.push({ status: 503, body: '{"error":"restarting"}' });
    expect(await shellUpload(0, input, jobEnv(s.url))).toMatchObject({ code: 0 });
    expect(s.received).toHaveLength(2);
    expect(s.received[1]!.body.equals(s.received[0]!.body)).toBe(true);

    s.answers.push({ status: 422, body: '{"error":"the diff does not apply to 1234: error: patch failed: \\"svc/config.txt\\":1"}' });
    const refused = await shellUpload(0, input, jobEnv(s.url));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('error: the result was not stored: the coordinator answered 422: the diff does not apply to 1234: error: patch failed: "svc/config.txt":1');
    expect(s.received).toHaveLength(3);
  });

  it('says it cannot reach the coordinator after its retries', async () => {
    const input = await writeInput([{ run: 'true' }]);
    await runStep(0);
    const res = await shellUpload(0, input, jobEnv('http://127.0.0.1:1', {}));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('error: the result was not stored: cannot reach http://127.0.0.1:1 (curl exit status 7)');
  }, 20_000);

  it('goes through SRC_PROXY, a UNIX socket (unix:///path), and reads SRC_HEADERS quoted with literal \\n as the node helper does', async () => {
    const input = await writeInput([{ run: "sed -i 's/foo/bar/' config.txt" }]);
    await runStep(0);
    const socket = path.join(workspace, 'proxy.sock');
    const s = await server(socket);
    const env = jobEnv('http://coordinator.invalid', { SRC_PROXY: `unix://${socket}`, SRC_HEADERS: '"X-Sourcegraph-Job-ID: 7\\nX-Extra:  spaced value  \\nnot a header"', SRC_HEADER_X_TRACE: 'on' });
    expect(await shellUpload(0, input, env)).toMatchObject({ code: 0 });
    expect(await nodeHelper(env, 'post', '0', 'upload')).toMatchObject({ code: 0 });
    expect(s.received).toHaveLength(2);
    for (const r of s.received) {
      expect(r.url).toBe('/.executors/batches/results');
      expect(r.headers).toMatchObject({ host: 'coordinator.invalid', authorization: 'Bearer job-token-1', 'x-sourcegraph-job-id': '7', 'x-extra': 'spaced value', x_trace: 'on' });
    }
    expect(decoded(s.received[0]!)).toEqual(json(s.received[1]!));
    expect((await shellUpload(0, input, jobEnv(s.url, { SRC_PROXY: 'http://proxy.example:3128' }))).stderr).toContain('this build of src supports only UNIX domain socket proxies');
  });

  it('hands over to the node helper where curl is missing', async () => {
    const input = await writeInput([{ run: 'true' }]);
    const bin = path.join(workspace, 'bin');
    await fs.mkdir(bin);
    for (const tool of ['sh', 'git', 'head', 'wc', 'sed']) {
      const { stdout } = await run('sh', ['-c', `command -v ${tool}`]);
      await fs.symlink(stdout.trim(), path.join(bin, tool));
    }
    await fs.writeFile(path.join(bin, 'src'), '#!/bin/sh\necho "src $*"\n', { mode: 0o755 });
    const res = await shellUpload(0, input, { ...jobEnv('http://127.0.0.1:1'), PATH: bin });
    expect(res).toMatchObject({ code: 0, stdout: 'no curl on PATH: src batch-helper uploads\nsrc batch-helper post 0 upload\n' });
  });
});
