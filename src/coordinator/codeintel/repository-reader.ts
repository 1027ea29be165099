// Reads what code intelligence needs from the coordinator's bare repositories with git: revisions,
// the files of a commit, small files' contents (bounded), and commit ancestry (the nearest indexed commit).
import { spawn } from 'node:child_process';
import { AppError } from '../../shared/errors.js';

/** The most bytes of git output read for a listing (a 1M-file tree lists in ~60 MB). */
const MAX_LISTING_BYTES = 256 * 1024 * 1024;

function runGit(repositoryDir: string, args: string[], options: { input?: string; maxBytes?: number } = {}): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['-C', repositoryDir, ...args], {
      env: { GIT_TERMINAL_PROMPT: '0', PATH: '/usr/local/bin:/usr/bin:/bin' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let size = 0;
    let stderr = '';
    const max = options.maxBytes ?? MAX_LISTING_BYTES;
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        child.kill('SIGKILL');
        return;
      }
      chunks.push(c);
    });
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 4096) stderr += c.toString('utf8');
    });
    child.once('error', (err) => reject(new AppError('codeintel.git_failed', `git could not start: ${err.message}`, { cause: err })));
    child.once('close', (code) => {
      if (size > max) return reject(new AppError('codeintel.git_failed', `git ${args[0]} printed more than ${max} bytes`));
      resolve({ code: code ?? 1, stdout: Buffer.concat(chunks), stderr: stderr.trim() });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

const SHA = /^[0-9a-f]{40}$/;

export class RepositoryReader {
  constructor(readonly repositoryDir: string) {}

  /** The commit a revision (branch, tag, sha, HEAD) names, or null when it names none. */
  async resolveRevision(revision: string): Promise<string | null> {
    if (revision === '' || revision.startsWith('-') || /[\s\0]/.test(revision)) return null;
    const { code, stdout } = await runGit(this.repositoryDir, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${revision}^{commit}`]);
    const sha = stdout.toString('utf8').trim();
    return code === 0 && SHA.test(sha) ? sha : null;
  }

  async hasCommit(sha: string): Promise<boolean> {
    if (!SHA.test(sha)) return false;
    const { code } = await runGit(this.repositoryDir, ['cat-file', '-e', `${sha}^{commit}`]);
    return code === 0;
  }

  /** Every file path of the commit (blobs and links, not submodules). */
  async listFiles(commit: string): Promise<string[]> {
    const { code, stdout, stderr } = await runGit(this.repositoryDir, ['ls-tree', '-r', '-z', '--full-tree', commit]);
    if (code !== 0) throw new AppError('codeintel.unknown_commit', `commit ${commit} is not in the repository (${stderr || `git ls-tree exited ${code}`})`);
    const paths: string[] = [];
    for (const entry of stdout.toString('utf8').split('\0')) {
      if (!entry) continue;
      const tab = entry.indexOf('\t');
      const meta = entry.slice(0, tab).split(' ');
      if (meta[1] === 'blob') paths.push(entry.slice(tab + 1));
    }
    return paths;
  }

  /**
   * The contents of `paths` at `commit` (UTF-8), each at most `maxBytesEach`: larger ones and missing
   * ones are left out (the map says which were read).
   */
  async readFiles(commit: string, paths: readonly string[], maxBytesEach: number): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (paths.length === 0) return out;
    const specs = paths.map((p) => `${commit}:${p}`);
    const check = await runGit(this.repositoryDir, ['cat-file', '--batch-check'], { input: specs.join('\n') + '\n' });
    const lines = check.stdout.toString('utf8').split('\n');
    const small: string[] = [];
    for (const [i, line] of lines.entries()) {
      const [, type, size] = line.split(' ');
      if (i < paths.length && type === 'blob' && Number(size) <= maxBytesEach) small.push(paths[i]!);
    }
    if (small.length === 0) return out;
    const batch = await runGit(this.repositoryDir, ['cat-file', '--batch'], { input: small.map((p) => `${commit}:${p}`).join('\n') + '\n', maxBytes: small.length * (maxBytesEach + 200) });
    let pos = 0;
    const buf = batch.stdout;
    for (const path of small) {
      const nl = buf.indexOf(10, pos);
      if (nl < 0) break;
      const header = buf.subarray(pos, nl).toString('utf8').split(' ');
      pos = nl + 1;
      if (header[1] !== 'blob') continue;
      const size = Number(header[2]);
      out.set(path, buf.subarray(pos, pos + size).toString('utf8'));
      pos += size + 1;
    }
    return out;
  }

  /** `commit` and its ancestors, nearest first, at most `max`. */
  async ancestors(commit: string, max: number): Promise<string[]> {
    const { code, stdout } = await runGit(this.repositoryDir, ['rev-list', `--max-count=${max}`, commit]);
    return code === 0 ? stdout.toString('utf8').split('\n').filter((l) => SHA.test(l)) : [];
  }

  /** How many commits lie from `ancestor` to `descendant`, or null when `ancestor` is not one. */
  async distance(ancestor: string, descendant: string): Promise<number | null> {
    const is = await runGit(this.repositoryDir, ['merge-base', '--is-ancestor', ancestor, descendant]);
    if (is.code !== 0) return null;
    const { code, stdout } = await runGit(this.repositoryDir, ['rev-list', '--count', `${ancestor}..${descendant}`]);
    return code === 0 ? Number(stdout.toString('utf8').trim()) : null;
  }
}
