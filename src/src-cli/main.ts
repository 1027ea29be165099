// `src`: this project's own build of the Sourcegraph CLI's `code-intel upload` (the one command index
// jobs run; `@sourcegraph/src` downloads a binary at install, which many installations cannot). Flags,
// inference of missing ones, environment, output and exit codes follow the original.
import { execFile } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { fromBinary } from '@bufbuild/protobuf';
import { MetadataSchema } from '@c4312/scip/scip_pb.js';
import { FlagError, flagUsage, parseFlags, type FlagSpec } from './go-flags.js';
import { runBatchHelper } from './batch-helper.js';
import { loadSrcConfig } from './src-config.js';
import { uploadIndex, UploadError } from './upload-client.js';

export const SRC_VERSION = '0.1.0';

export interface SrcIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  cwd: string;
  /** Seconds between retries (tests shorten it). */
  retryIntervalMs?: number;
}

const USAGE = `src is a tool that provides access to Sourcegraph instances (this build: code-intel upload, batch-helper).

Usage:

\tsrc [options] command [command options]

Environment variables
\tSRC_ACCESS_TOKEN  Sourcegraph access token
\tSRC_ENDPOINT      endpoint to use, if unset will default to "https://sourcegraph.com"
\tSRC_HEADER_<NAME> an additional header <name> sent with every request; SRC_HEADERS: "Name: value" lines
\tSRC_PROXY         a UNIX domain socket to send the requests over (a path or unix:///path)

The commands are:

\tcode-intel      manages code intelligence data (upload)
\tbatch-helper    the helper steps of server-side batch change jobs (pre, post, upload)
\tversion         display the src-cli version

Use "src [command] -h" for more information about a command.
`;

const UPLOAD_FLAGS = {
  file: { kind: 'string', default: '', usage: 'The path to the SCIP index file.' },
  repo: { kind: 'string', default: '', usage: 'The name of the repository (e.g. github.com/gorilla/mux). By default, derived from the origin remote.' },
  commit: { kind: 'string', default: '', usage: 'The 40-character hash of the commit. Defaults to the currently checked-out commit.' },
  root: { kind: 'string', default: '', usage: 'The path in the repository that matches the index projectRoot (e.g. cmd/project1). Defaults to the directory where the index file is located.' },
  indexer: { kind: 'string', default: '', usage: "The name of the indexer that generated the index. Overrides the metadata's toolInfo.name." },
  indexerVersion: { kind: 'string', default: '', usage: "The version of the indexer that generated the index. Overrides the metadata's toolInfo.version." },
  'associated-index-id': { kind: 'int', default: -1, usage: 'ID of the associated index record for this upload. For internal use only.' },
  'upload-route': { kind: 'string', default: '/.api/lsif/upload', usage: 'The path of the upload route. For internal use only.' },
  'max-payload-size': { kind: 'int', default: 100, usage: 'The maximum upload size (in megabytes). Indexes exceeding this limit will be uploaded over multiple HTTP requests.' },
  'github-token': { kind: 'string', default: '', usage: "A GitHub access token with 'public_repo' scope (accepted for compatibility; this coordinator does not use it)." },
  'gitlab-token': { kind: 'string', default: '', usage: "A GitLab access token with 'read_api' scope (accepted for compatibility; this coordinator does not use it)." },
  'ignore-upload-failure': { kind: 'bool', default: false, usage: 'Exit with status code zero on upload failure.' },
  'no-progress': { kind: 'bool', default: false, usage: 'Do not display progress updates.' },
  trace: { kind: 'int', default: 0, usage: '-trace=0 shows no logs; -trace=1 shows requests and response metadata' },
  json: { kind: 'bool', default: false, usage: 'Output relevant state in JSON on success.' },
  open: { kind: 'bool', default: false, usage: 'Open the upload page in your browser (not supported by this build).' },
  'insecure-skip-verify': { kind: 'bool', default: false, usage: 'Skip validation of TLS certificates against trusted chains' },
} satisfies Record<string, FlagSpec>;

const git = async (cwd: string, ...args: string[]) => (await promisify(execFile)('git', args, { cwd })).stdout.trim();

/** The repository name of the origin remote: `https://github.com/foo/bar.git` → `github.com/foo/bar`. */
export function repoNameFromRemote(remote: string): string {
  let r = remote.trim().replace(/\.git$/, '');
  const scp = /^[^/@:]+@([^:]+):(.+)$/.exec(r);
  if (scp) return `${scp[1]}/${scp[2]}`;
  try {
    const url = new URL(r);
    r = `${url.hostname}${url.port ? `:${url.port}` : ''}${url.pathname}`;
  } catch {
    // a plain name or path
  }
  return r.replace(/^\/+/, '').replace(/\/+$/, '');
}

/** The metadata's tool name and version, from the first field of the index. */
async function readToolInfo(file: string): Promise<{ name: string; version: string }> {
  const handle = await fsp.open(file, 'r');
  try {
    const head = Buffer.alloc(1024 * 1024);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const buf = head.subarray(0, bytesRead);
    let pos = 0;
    const varint = () => {
      let v = 0;
      let scale = 1;
      for (;;) {
        if (pos >= buf.length) throw new Error('index ends early');
        const b = buf[pos++]!;
        v += (b & 0x7f) * scale;
        if (b < 0x80) return v;
        scale *= 128;
      }
    };
    while (pos < buf.length) {
      const tag = varint();
      if (tag === (1 << 3) + 2) {
        const len = varint();
        const meta = fromBinary(MetadataSchema, buf.subarray(pos, pos + len));
        return { name: meta.toolInfo?.name ?? '', version: meta.toolInfo?.version ?? '' };
      }
      if ((tag & 7) !== 2) break;
      pos += varint();
    }
  } catch {
    // fall through: the caller asks for -indexer then
  } finally {
    await handle.close();
  }
  return { name: '', version: '' };
}

async function codeIntelUpload(args: string[], env: Record<string, string | undefined>, io: SrcIo): Promise<number> {
  let parsed;
  try {
    parsed = parseFlags(UPLOAD_FLAGS, args);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    if (err.message !== 'help requested') io.stderr(`${err.message}\n`);
    io.stderr(`Usage of 'src code-intel upload':\n${flagUsage(UPLOAD_FLAGS)}\n`);
    return err.message === 'help requested' ? 0 : 2;
  }
  const { values: f, set } = parsed;
  const fail = (message: string): number => {
    if (f['ignore-upload-failure']) {
      io.stdout(`${message}\n`);
      return 0;
    }
    io.stderr(`error: ${message}\n`);
    return 1;
  };
  let config;
  try {
    config = loadSrcConfig(env);
  } catch (err) {
    return fail((err as Error).message);
  }

  // Infer what was not given, as the original: the file, then git's view, then the index's metadata.
  const file = f.file || 'index.scip';
  const filePath = path.resolve(io.cwd, file);
  try {
    await fsp.access(filePath);
  } catch {
    return fail(set.has('file') ? `file "${file}" does not exist` : `neither index.scip nor dump.lsif exists\n\nUnable to determine file from environment. Check your working directory or supply -file={value} explicitly`);
  }
  const inferred: Record<string, string> = {};
  const inferErr = (name: string, why: string) => fail(`${why}\n\nUnable to determine ${name} from environment. Check your working directory or supply -${name}={value} explicitly`);
  let repo = f.repo;
  if (!set.has('repo')) {
    try {
      repo = repoNameFromRemote(await git(io.cwd, 'remote', 'get-url', 'origin'));
    } catch (err) {
      return inferErr('repo', (err as Error).message.split('\n')[0]!);
    }
  }
  let commit = f.commit;
  if (!set.has('commit')) {
    try {
      commit = await git(io.cwd, 'rev-parse', 'HEAD');
    } catch (err) {
      return inferErr('commit', (err as Error).message.split('\n')[0]!);
    }
  }
  let root = f.root;
  if (!set.has('root')) {
    try {
      const top = await git(io.cwd, 'rev-parse', '--show-toplevel');
      root = path.relative(top, path.dirname(filePath)).split(path.sep).join('/');
    } catch (err) {
      return inferErr('root', (err as Error).message.split('\n')[0]!);
    }
  }
  if (root === '.') root = '';
  const tool = set.has('indexer') && set.has('indexerVersion') ? { name: f.indexer, version: f.indexerVersion } : await readToolInfo(filePath);
  const indexer = set.has('indexer') ? f.indexer : tool.name;
  const indexerVersion = set.has('indexerVersion') ? f.indexerVersion : tool.version;
  if (!indexer) return inferErr('indexer', 'the index names no indexer in its metadata');
  Object.assign(inferred, { repo, commit, root, file, indexer, indexerVersion });
  if (!/^[0-9a-f]{40}$/.test(commit)) return fail(`commit must be a 40-character revhash, not ${JSON.stringify(commit)}`);
  if (f['max-payload-size'] <= 0) return fail('-max-payload-size must be positive');

  if (!f.json) {
    io.stdout(`💡 Inferred arguments\n${Object.entries(inferred).map(([k, v]) => `   ${k}: ${v}`).join('\n')}\n`);
  }
  const log = f['no-progress'] || f.json ? (f.trace > 0 ? (l: string) => io.stdout(`${l}\n`) : undefined) : (l: string) => io.stdout(`${l}\n`);
  let id: number;
  try {
    id = await uploadIndex(
      filePath,
      { repo, commit, root, indexer, indexerVersion, associatedIndexId: f['associated-index-id'] === -1 ? undefined : f['associated-index-id'] },
      {
        endpoint: config.endpoint,
        route: f['upload-route'],
        accessToken: config.accessToken,
        additionalHeaders: config.additionalHeaders,
        maxPayloadBytes: f['max-payload-size'] * 1000 * 1000,
        maxRetries: 5,
        retryIntervalMs: io.retryIntervalMs ?? 1000,
        insecureSkipVerify: f['insecure-skip-verify'],
        socketPath: config.proxySocketPath,
        log: log ?? ((l: string) => (l.startsWith('Failed') ? io.stderr(`${l}\n`) : undefined)),
      },
    );
  } catch (err) {
    if (err instanceof UploadError && err.unauthorized) {
      return fail(`${err.message}\n\n${config.accessToken || config.additionalHeaders.authorization ? 'The coordinator refused the credentials.' : 'An access token must be provided via SRC_ACCESS_TOKEN (or an Authorization header via SRC_HEADER_AUTHORIZATION) for uploading SCIP data.'}`);
    }
    return fail((err as Error).message);
  }
  const uploadUrl = `${config.endpoint}/${repo}/-/code-intelligence/uploads/${Buffer.from(`SCIPUpload:${id}`).toString('base64url')}`;
  if (f.json) io.stdout(`${JSON.stringify({ repo, commit, root, file, indexer, indexerVersion, uploadId: id, uploadUrl })}\n`);
  else io.stdout(`💡 View processing status at ${uploadUrl}\n`);
  return 0;
}

/** Runs `src <argv>`; resolves to the exit status. */
export async function runSrcCli(argv: readonly string[], env: Record<string, string | undefined>, io: SrcIo): Promise<number> {
  const args = argv.map((a) => (a === '--help' ? '-help' : a));
  // Global flags (-v, deprecated -endpoint/-config) come before the command.
  while (args[0] === '-v') args.shift();
  const [command, sub, ...rest] = args;
  if (command === undefined || command === '-h' || command === '-help' || command === 'help') {
    io.stderr(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === 'version') {
    io.stdout(`Current version: ${SRC_VERSION}\n`);
    return 0;
  }
  if (command === 'batch-helper') return runBatchHelper(args.slice(1), env, { stdout: io.stdout, stderr: io.stderr, cwd: io.cwd, retryIntervalMs: io.retryIntervalMs });
  if (command === 'code-intel' || command === 'codeintel' || command === 'lsif') {
    if (sub === 'upload') return codeIntelUpload(rest, env, io);
    io.stderr(`'src ${command}' is a tool that manages code intelligence data.\n\nThe commands are:\n\n\tupload     uploads a SCIP index\n`);
    return sub === undefined || sub === '-h' || sub === '-help' ? 0 : 2;
  }
  io.stderr(`src: unknown subcommand ${JSON.stringify(command)}\nRun 'src -h' for usage.\n`);
  return 2;
}
