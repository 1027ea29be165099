// Who runs the shell runtime's steps (EXECUTOR_SHELL_USER): users of the passwd database, one per job
// running at once, each handed its job's workspace and stopped entirely when the job ends. A step of
// another user than the executor cannot read /proc/<executor pid>/environ (mode 0400, the executor's),
// nor signal or trace the executor.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../../../shared/errors.js';

export interface ShellUser {
  name: string;
  uid: number;
  /** The primary group: the only group steps get (supplementary groups are dropped when switching). */
  gid: number;
}

/** Parses one passwd line (`name:x:uid:gid:gecos:home:shell`). */
function parsePasswd(line: string): ShellUser | undefined {
  const fields = line.trim().split(':');
  if (fields.length < 7) return undefined;
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (!Number.isSafeInteger(uid) || !Number.isSafeInteger(gid)) return undefined;
  return { name: fields[0]!, uid, gid };
}

function getent(key: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('getent', ['passwd', key], { timeout: 5_000 }, (err, stdout) => resolve(err ? undefined : String(stdout)));
  });
}

/**
 * Looks up each user by name or uid: with `getent passwd` (every NSS source: files, LDAP, …), else in
 * /etc/passwd. Throws `shell.user_unknown` naming the users that do not exist.
 */
export async function resolveShellUsers(names: readonly string[]): Promise<ShellUser[]> {
  let passwd: string | undefined;
  const fromFile = async (key: string) => {
    passwd ??= await fs.readFile('/etc/passwd', 'utf8').catch(() => '');
    return passwd
      .split('\n')
      .map(parsePasswd)
      .find((u) => u !== undefined && (u.name === key || String(u.uid) === key));
  };
  const users: ShellUser[] = [];
  const unknown: string[] = [];
  for (const name of names) {
    const line = await getent(name);
    const user = (line === undefined ? undefined : parsePasswd(line.split('\n')[0]!)) ?? (await fromFile(name));
    if (user) users.push(user);
    else unknown.push(name);
  }
  if (unknown.length > 0) {
    throw new AppError('shell.user_unknown', `EXECUTOR_SHELL_USER: no such user: ${unknown.join(', ')}; create it (e.g. useradd --system --user-group ${unknown[0]})`);
  }
  return users;
}

/** Whether `user` (its uid and primary group only) may search directory `st`. */
function maySearch(st: { uid: number; gid: number; mode: number }, user: ShellUser): boolean {
  if (st.uid === user.uid) return (st.mode & 0o100) !== 0;
  if (st.gid === user.gid) return (st.mode & 0o010) !== 0;
  return (st.mode & 0o001) !== 0;
}

/**
 * What stops steps from running as `users` here, one sentence each: the executor not running as root
 * (it switches users and hands each workspace over), a user that is root or the executor's own, or a
 * workspace parent (TMPDIR) that a user cannot reach.
 */
export async function shellUserProblems(users: readonly ShellUser[], workspaceParentDir: string): Promise<string[]> {
  const problems: string[] = [];
  const ownUid = process.getuid?.();
  if (ownUid !== 0) problems.push(`EXECUTOR_SHELL_USER needs the executor to run as root (it runs as uid ${ownUid ?? 'unknown'}): it starts each step as that user and hands the workspace over`);
  for (const user of users) {
    if (user.uid === 0) problems.push(`EXECUTOR_SHELL_USER: ${user.name} is root (uid 0): steps as root can read everything the executor has; use a dedicated unprivileged user`);
    else if (user.uid === ownUid) problems.push(`EXECUTOR_SHELL_USER: ${user.name} is the executor's own user; use another one (or EXECUTOR_SHELL_ALLOW_SAME_USER=true without EXECUTOR_SHELL_USER)`);
  }
  // Each directory down to TMPDIR must be searchable by the user, or no workspace under it is reachable.
  const dirs: string[] = [];
  for (let dir = path.resolve(workspaceParentDir); ; dir = path.dirname(dir)) {
    dirs.unshift(dir);
    if (dir === path.dirname(dir)) break;
  }
  for (const user of users) {
    for (const dir of dirs) {
      const st = await fs.stat(dir).catch(() => undefined);
      if (!st) {
        problems.push(`TMPDIR=${workspaceParentDir}: ${dir} does not exist`);
        return problems;
      }
      if (!maySearch(st, user)) {
        problems.push(`TMPDIR=${workspaceParentDir}: ${user.name} cannot reach workspaces there: ${dir} is mode ${(st.mode & 0o777).toString(8).padStart(4, '0')} (uid ${st.uid}, gid ${st.gid}); use a TMPDIR others may search, such as /tmp`);
        break;
      }
    }
  }
  return problems;
}

/** Makes `user` the owner of `dir` and of everything under it; symlinks are re-owned, never followed. */
export async function handOver(dir: string, user: ShellUser): Promise<void> {
  await fs.lchown(dir, user.uid, user.gid);
  const entries = await fs.readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    const child = path.join(dir, entry.name);
    // Dirent types come from lstat: a symlink to a directory is a symlink here, not a directory.
    if (entry.isDirectory()) await handOver(child, user);
    else await fs.lchown(child, user.uid, user.gid);
  }
}

/** The processes whose real or effective uid is `uid`, zombies left out. */
export async function processesOf(uid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const status = await fs.readFile(`/proc/${name}/status`, 'utf8').catch(() => '');
    const uids = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
    if (!uids || (Number(uids[1]) !== uid && Number(uids[2]) !== uid)) continue;
    if (/^State:\s+Z/m.test(status)) continue;
    pids.push(Number(name));
  }
  return pids;
}

/**
 * Kills every process of `user`, also those a step started in a session of its own (`setsid`, a
 * daemon): `kill -KILL -1` run as the user signals all of them in one call, which a fork loop cannot
 * outrun. Repeated until none is left (at most 10 times). Resolves to how many there were.
 */
export async function killUserProcesses(user: ShellUser): Promise<number> {
  const found = (await processesOf(user.uid)).length;
  for (let round = 0; round < 10 && (await processesOf(user.uid)).length > 0; round++) {
    await new Promise<void>((resolve) => {
      // Its own shell is spared by kill(-1) and ends with the command.
      const child = spawn('/bin/sh', ['-c', 'kill -s KILL -- -1'], { uid: user.uid, gid: user.gid, stdio: 'ignore', env: { PATH: '/usr/bin:/bin' } });
      child.once('error', () => resolve());
      child.once('exit', () => resolve());
    });
    // Killed processes are zombies until their parent reaps them; processesOf leaves zombies out.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return found;
}

/** The users of EXECUTOR_SHELL_USER, each given to one job at a time. */
export class ShellUserPool {
  private readonly free: ShellUser[];

  constructor(readonly users: readonly ShellUser[]) {
    this.free = [...users];
  }

  /** A user no running job has; throws when all are taken (config ensures one per EXECUTOR_MAXIMUM_NUM_JOBS). */
  take(): ShellUser {
    const user = this.free.shift();
    if (!user) throw new AppError('shell.no_free_user', `every EXECUTOR_SHELL_USER (${this.users.map((u) => u.name).join(', ')}) runs a job; list one user per EXECUTOR_MAXIMUM_NUM_JOBS`);
    return user;
  }

  release(user: ShellUser): void {
    if (!this.free.includes(user)) this.free.push(user);
  }

  /** The users no job runs as now. */
  idle(): readonly ShellUser[] {
    return [...this.free];
  }
}
