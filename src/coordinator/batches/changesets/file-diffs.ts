// A workspace's `git diff --binary` taken apart into one section per file, with the file's paths, what
// happened to it and its +/− line counts; and put back together (a subset of the sections, in order, is
// itself a patch `git apply` takes), so transformChanges groups can split one diff into several branches.
// Each section keeps its exact text: the patch that is pushed is the patch that was previewed.

/** What a file's section does: git's `new file`, `deleted file`, `rename from/to`, or a change in place. */
export type FileDiffStatus = 'added' | 'deleted' | 'modified' | 'renamed';

export interface FileDiff {
  /** The path before (null for an added file), relative to the repository root. */
  oldPath: string | null;
  /** The path after (null for a deleted file). */
  newPath: string | null;
  status: FileDiffStatus;
  /** A `GIT binary patch` or `Binary files … differ` section: its lines count as 0/0. */
  binary: boolean;
  /** Lines added and deleted by the section's hunks. */
  addedLines: number;
  deletedLines: number;
  /** The section's text, from its `diff --git` line to the end of its last line (newline included). */
  text: string;
}

const SECTION_START = 'diff --git ';

/** The file's path as a group or a listing sees it: where it is after the change, or where it was. */
export function filePathOf(file: FileDiff): string {
  return (file.newPath ?? file.oldPath)!;
}

/**
 * Splits a `git diff` (with or without `--binary`) into its files. Text before the first `diff --git`
 * line (there is none in git's output) is refused, as is a section whose paths cannot be read.
 * @throws Error naming the line that is not what git writes.
 */
export function parseFileDiffs(diff: string): FileDiff[] {
  if (diff === '') return [];
  // A section starts at a line beginning "diff --git ". No line inside a section can: hunk lines start
  // with ' ', '+', '-' or '\', and a binary patch's base85 alphabet has no space.
  const lines = diff.split('\n');
  // split leaves '' after a final newline: it is not a line of its own.
  if (lines[lines.length - 1] === '') lines.pop();
  const sections: string[][] = [];
  for (const [index, line] of lines.entries()) {
    if (line.startsWith(SECTION_START)) sections.push([line]);
    else if (sections.length === 0) throw new Error(`diff line ${index + 1} is not inside a file's section (a git diff starts with "diff --git"): ${JSON.stringify(line.slice(0, 80))}`);
    else sections[sections.length - 1]!.push(line);
  }
  const endsWithNewline = diff.endsWith('\n');
  return sections.map((section, i) => parseSection(section, i === sections.length - 1 && !endsWithNewline));
}

/** The patch holding `files`' sections, in the order given. */
export function joinFileDiffs(files: readonly FileDiff[]): string {
  return files.map((f) => f.text).join('');
}

/** The +/− line counts of `files` together. */
export function countLines(files: readonly FileDiff[]): { addedLines: number; deletedLines: number } {
  let addedLines = 0;
  let deletedLines = 0;
  for (const f of files) {
    addedLines += f.addedLines;
    deletedLines += f.deletedLines;
  }
  return { addedLines, deletedLines };
}

/**
 * Whether `path` is inside `directory` (both relative to the repository root, `/`-separated): by whole
 * segments, so `pkg/a` holds `pkg/a/x.go` but not `pkg/ab/x.go`. '' (or '.', '/') holds everything.
 */
export function isUnderDirectory(path: string, directory: string): boolean {
  const dir = normalizeDirectory(directory);
  return dir === '' || path === dir || path.startsWith(`${dir}/`);
}

/** A group's directory as written (`./pkg/`, `/pkg`) in the form paths are compared against (`pkg`). */
export function normalizeDirectory(directory: string): string {
  return directory
    .split('/')
    .filter((s) => s !== '' && s !== '.')
    .join('/');
}

/** The files of `files` inside `directory`. */
export function filesUnderDirectory(files: readonly FileDiff[], directory: string): FileDiff[] {
  return files.filter((f) => isUnderDirectory(filePathOf(f), directory));
}

function parseSection(lines: string[], lastWithoutNewline: boolean): FileDiff {
  const header = lines[0]!;
  let oldPath: string | null | undefined;
  let newPath: string | null | undefined;
  let renameFrom: string | undefined;
  let renameTo: string | undefined;
  let status: FileDiffStatus = 'modified';
  let binary = false;
  let addedLines = 0;
  let deletedLines = 0;
  let inHunks = false;
  for (const line of lines.slice(1)) {
    if (inHunks) {
      // Inside hunks every line is content (' ', '+', '-') or "\ No newline at end of file"; a new
      // hunk header may follow.
      if (line.startsWith('+')) addedLines++;
      else if (line.startsWith('-')) deletedLines++;
      continue;
    }
    if (line.startsWith('@@')) {
      inHunks = true;
    } else if (line.startsWith('new file mode ')) {
      status = 'added';
    } else if (line.startsWith('deleted file mode ')) {
      status = 'deleted';
    } else if (line.startsWith('rename from ')) {
      renameFrom = unquotePath(line.slice('rename from '.length));
    } else if (line.startsWith('rename to ')) {
      renameTo = unquotePath(line.slice('rename to '.length));
    } else if (line.startsWith('--- ')) {
      oldPath = headerPath(line.slice(4), 'a/');
    } else if (line.startsWith('+++ ')) {
      newPath = headerPath(line.slice(4), 'b/');
    } else if (line === 'GIT binary patch' || (line.startsWith('Binary files ') && line.endsWith(' differ'))) {
      binary = true;
      // The base85 lines that follow are not hunks; nothing more in the section is read.
      break;
    }
  }
  if (renameFrom !== undefined || renameTo !== undefined) {
    status = 'renamed';
    oldPath = renameFrom ?? oldPath;
    newPath = renameTo ?? newPath;
  }
  // Without ---/+++ lines (a mode change, a pure rename, a binary file, an empty new file) the paths
  // come from the "diff --git a/X b/Y" line.
  if (oldPath === undefined || newPath === undefined) {
    const fromHeader = gitHeaderPaths(header.slice(SECTION_START.length));
    if (!fromHeader) throw new Error(`cannot read the paths of diff section ${JSON.stringify(header.slice(0, 200))}`);
    if (oldPath === undefined) oldPath = status === 'added' ? null : fromHeader.oldPath;
    if (newPath === undefined) newPath = status === 'deleted' ? null : fromHeader.newPath;
  }
  if (oldPath === null && newPath === null) throw new Error(`diff section ${JSON.stringify(header.slice(0, 200))} names no file`);
  if (status === 'modified' && oldPath === null) status = 'added';
  if (status === 'modified' && newPath === null) status = 'deleted';
  const text = lines.join('\n') + (lastWithoutNewline ? '' : '\n');
  return { oldPath, newPath, status, binary, addedLines, deletedLines, text };
}

/** The path of a `--- a/x` / `+++ b/x` line: null for /dev/null; git adds a tab after a name with a space. */
function headerPath(raw: string, prefix: string): string | null {
  const value = raw.endsWith('\t') ? raw.slice(0, -1) : raw;
  if (value === '/dev/null') return null;
  const path = unquotePath(value);
  return path.startsWith(prefix) ? path.slice(prefix.length) : path;
}

/**
 * The two paths of `a/X b/Y`. Quoted names are read as C strings. Unquoted names may hold spaces, so
 * the line is ambiguous in general; git writes this line without ---/+++ only where X and Y are the
 * same (binary, mode-only) or where rename lines give the paths, so the split that makes them equal wins.
 */
function gitHeaderPaths(rest: string): { oldPath: string; newPath: string } | null {
  if (rest.startsWith('"')) {
    const first = readQuoted(rest, 0);
    if (!first) return null;
    const after = rest.slice(first.end).replace(/^ /, '');
    const second = after.startsWith('"') ? readQuoted(after, 0)?.value : after;
    if (second === undefined) return null;
    return stripPrefixes(first.value, second);
  }
  if (rest.endsWith('"')) {
    const open = rest.lastIndexOf(' "');
    if (open < 0) return null;
    const second = readQuoted(rest, open + 1);
    if (!second) return null;
    return stripPrefixes(rest.slice(0, open), second.value);
  }
  // "a/X b/X": the halves around the middle space.
  if ((rest.length - 1) % 2 === 0) {
    const half = (rest.length - 1) / 2;
    const a = rest.slice(0, half);
    const b = rest.slice(half + 1);
    if (rest[half] === ' ' && a.slice(2) === b.slice(2)) return stripPrefixes(a, b);
  }
  const space = rest.indexOf(' b/');
  if (space < 0) return null;
  return stripPrefixes(rest.slice(0, space), rest.slice(space + 1));
}

function stripPrefixes(a: string, b: string): { oldPath: string; newPath: string } | null {
  if (!a.startsWith('a/') || !b.startsWith('b/')) return null;
  return { oldPath: a.slice(2), newPath: b.slice(2) };
}

/** A path as git writes it: plain, or a C-quoted string (`"t\303\251st.txt"`) when it has special bytes. */
function unquotePath(raw: string): string {
  if (!raw.startsWith('"')) return raw;
  return readQuoted(raw, 0)?.value ?? raw;
}

const C_ESCAPES: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, '\\': 92 };

/** Reads the C-quoted string starting at `start` (a `"`): its value (octal escapes are UTF-8 bytes) and where it ends. */
function readQuoted(text: string, start: number): { value: string; end: number } | null {
  const bytes: number[] = [];
  let i = start + 1;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '"') return { value: Buffer.from(bytes).toString('utf8'), end: i + 1 };
    if (ch === '\\') {
      const next = text[i + 1];
      if (next === undefined) return null;
      if (/[0-7]/.test(next)) {
        const octal = /^[0-7]{1,3}/.exec(text.slice(i + 1))![0];
        bytes.push(parseInt(octal, 8));
        i += 1 + octal.length;
        continue;
      }
      const code = C_ESCAPES[next];
      if (code === undefined) return null;
      bytes.push(code);
      i += 2;
      continue;
    }
    // A name git did not quote (core.quotePath=false) may hold any character, surrogate pairs too.
    const character = String.fromCodePoint(text.codePointAt(i)!);
    bytes.push(...Buffer.from(character, 'utf8'));
    i += character.length;
  }
  return null;
}
