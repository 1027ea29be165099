// Removes secrets from job logs (reference §4.4, §4.10): job.redactedValues plus the executor's own
// password, replaced in whole strings and in output that arrives in arbitrary pieces — also in the forms a
// step is likely to print them in (base64 at each alignment, base64url, hex, URL-encoding), across one
// line break (as base64(1) and xxd wrap their output), and split between stdout and stderr. One
// Aho–Corasick automaton over every pattern, so the cost stays linear in the output.

/**
 * A chain of overlapping occurrences longer than this (in UTF-16 code units) is replaced piecewise,
 * so that a stream redactor never holds back more than this plus the longest secret. Only a periodic
 * secret can chain (`aa` in `aaaa…`); real secrets (tokens, passwords) never get near it.
 */
const MAX_HELD_OCCURRENCE_CHAIN = 64 * 1024;

/**
 * Encoded forms shorter than this are not searched for: the base64 of a 4-character secret shares only
 * 2–5 characters with any text that contains it, which ordinary output matches all the time. Secrets of
 * 6 bytes and more have all their encodings searched.
 */
export const MIN_ENCODED_FORM_LENGTH = 8;

/**
 * A line break is looked through only after this many characters of a pattern; at fewer, it ends any
 * match. So a line that merely ends in a character a secret starts with is not held back until the next
 * one (live logs would lag); a pattern that a break cuts after fewer characters is still found as its
 * suffix without them (also searched for), and those few characters stay on the line before.
 */
const MIN_DEPTH_ACROSS_BREAK = 4;

/** Redacts one stream: `push` returns what is safe to show now, `flush` the rest at the end. */
export interface StreamRedactor {
  /** Redacts `chunk` and returns the text that can no longer be part of a secret; holds back the rest. */
  push(chunk: string): string;
  /** The end of the stream: returns the held-back tail, redacted. The redactor can then start a new stream. */
  flush(): string;
}

/** What a PipePairRedactor returns: the text of each pipe that is safe to show now. */
export interface PipeTexts {
  stdout: string;
  stderr: string;
}

/**
 * Redacts a command's stdout and stderr together: a secret is found in each pipe on its own and in the
 * two interleaved as their pieces arrived (a secret whose characters alternate between the pipes), and
 * each pipe's part of it is replaced. A push to one pipe may release text of the other.
 */
export interface PipePairRedactor {
  push(pipe: 'stdout' | 'stderr', chunk: string): PipeTexts;
  /** The end of both streams: the held-back tails, redacted. */
  flush(): PipeTexts;
}

/** An Aho–Corasick automaton over UTF-16 code units, built once per job for all its patterns. */
interface Automaton {
  children: Array<Map<number, number>>;
  /** The root's transitions as a table (0: none): most steps start from it, and a Map lookup costs more. */
  rootNext: Int32Array;
  /** The longest proper suffix of a node's string that is also a node. */
  fail: Int32Array;
  /** The longest pattern ending at a node (its index), or -1. */
  longestMatch: Int32Array;
  /**
   * Length of the longest suffix of a node's string that a pattern could still continue: how much a
   * stream redactor must hold back in that state.
   */
  openDepth: Int32Array;
  patternLengths: number[];
  replacements: string[];
  /** The longest pattern, in UTF-16 code units. */
  maxPatternLength: number;
}

const isLineBreak = (code: number) => code === 0x0a || code === 0x0d;

/** `text` without `\r` and `\n`: patterns are matched with one line break allowed anywhere in them. */
const withoutLineBreaks = (text: string) => text.replace(/[\r\n]/g, '');

/**
 * The forms of `secret` a step may print besides itself, each at least MIN_ENCODED_FORM_LENGTH long:
 * for base64 and base64url, for each of the three byte alignments the secret may have in the encoded
 * text, the characters that depend on the secret's bytes alone (those at its edges also depend on the
 * bytes around it); hex in both cases; URL-encoding as encodeURIComponent, with lowercase escapes, and
 * as a form field (`+` for spaces).
 */
export function encodedForms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const forms = new Set<string>();
  for (let align = 0; align < 3; align++) {
    const text = Buffer.concat([Buffer.alloc(align), bytes]).toString('base64');
    const core = text.slice(Math.ceil((8 * align) / 6), Math.floor((8 * (align + bytes.length)) / 6));
    forms.add(core);
    forms.add(core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  const hex = bytes.toString('hex');
  forms.add(hex);
  forms.add(hex.toUpperCase());
  const uri = encodeURIComponent(secret);
  forms.add(uri);
  forms.add(uri.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase()));
  forms.add(new URLSearchParams([['', secret]]).toString().slice(1));
  forms.delete(secret);
  return [...forms].filter((form) => form.length >= MIN_ENCODED_FORM_LENGTH);
}

/**
 * Replaces secrets in text, for the executor's job logs. Built from a map secret → replacement; empty
 * secrets are ignored. Every occurrence of a secret or of one of its encoded forms (`encodedForms`) is
 * replaced, also when one line break (`\n`, `\r` or `\r\n`) cuts it (MIN_DEPTH_ACROSS_BREAK), in one left-to-right pass (a
 * replacement is never scanned again). Occurrences that overlap are replaced together, by the
 * replacement of the longest pattern among them (the earliest on a tie), so that no character of any
 * secret survives: with secrets `pass` and `password`, `password1` becomes `<password's replacement>1`;
 * with `abc` and `bcdef`, `abcdef` becomes `<bcdef's replacement>`.
 *
 * Redaction keeps secrets out of logs by accident; it cannot keep them from a step that holds them and
 * wants them out (reversed, split across lines, in a file it uploads).
 */
export class Redactor {
  /** How many distinct non-empty secrets this redactor removes. */
  readonly secretCount: number;
  /** The longest secret, in UTF-16 code units. */
  readonly maxSecretLength: number;
  private readonly automaton: Automaton | null;

  constructor(values: Readonly<Record<string, string>> | ReadonlyMap<string, string>) {
    const entries = (values instanceof Map ? [...values] : Object.entries(values)).filter(([secret]) => secret !== '');
    this.secretCount = entries.length;
    this.maxSecretLength = entries.reduce((max, [secret]) => Math.max(max, secret.length), 0);
    // The secrets themselves first: where an encoded form of one is another secret, that one's replacement wins.
    const patterns = new Map<string, string>();
    for (const [secret, replacement] of entries) {
      const pattern = withoutLineBreaks(secret);
      if (pattern !== '' && !patterns.has(pattern)) patterns.set(pattern, replacement);
    }
    for (const [secret, replacement] of entries) {
      for (const form of encodedForms(secret)) if (!patterns.has(form)) patterns.set(form, replacement);
    }
    // A pattern cut by a line break after fewer than MIN_DEPTH_ACROSS_BREAK characters: the rest of it,
    // where that rest is still long enough not to match ordinary text.
    for (const [pattern, replacement] of [...patterns]) {
      if (pattern.length < MIN_ENCODED_FORM_LENGTH + MIN_DEPTH_ACROSS_BREAK - 1) continue;
      for (let cut = 1; cut < MIN_DEPTH_ACROSS_BREAK; cut++) if (!patterns.has(pattern.slice(cut))) patterns.set(pattern.slice(cut), replacement);
    }
    this.automaton = patterns.size === 0 ? null : buildAutomaton([...patterns]);
  }

  /**
   * The redactor of one job: its `redactedValues` and the executor's `ownRedactedValues` (config), the
   * executor's replacement winning where both name the same secret.
   */
  static forJob(jobRedactedValues: Readonly<Record<string, string>>, ownRedactedValues: Readonly<Record<string, string>>): Redactor {
    return new Redactor({ ...jobRedactedValues, ...ownRedactedValues });
  }

  /** `text` with every secret replaced. */
  redact(text: string): string {
    if (!this.automaton || text === '') return text;
    const scanner = new Scanner(this.automaton, 1);
    return scanner.push(0, text)[0]! + scanner.flush()[0]!;
  }

  /**
   * A redactor for one stream that arrives in pieces (a command's stdout). It holds back only the
   * shortest tail that a secret could still continue (plus an occurrence that a longer, overlapping
   * one could still extend), so a secret split across pieces, even one character per piece, never
   * leaks, and the output of `push`es and `flush` concatenated equals `redact` of the whole stream.
   */
  createStreamRedactor(): StreamRedactor {
    const a = this.automaton;
    if (!a) return { push: (chunk) => chunk, flush: () => '' };
    const scanner = new Scanner(a, 1);
    return { push: (chunk) => scanner.push(0, chunk)[0]!, flush: () => scanner.flush()[0]! };
  }

  /** A redactor for a command's stdout and stderr together (PipePairRedactor). */
  createPipePairRedactor(): PipePairRedactor {
    const a = this.automaton;
    if (!a) return { push: (pipe, chunk) => (pipe === 'stdout' ? { stdout: chunk, stderr: '' } : { stdout: '', stderr: chunk }), flush: () => ({ stdout: '', stderr: '' }) };
    const scanner = new Scanner(a, 2);
    const texts = ([stdout, stderr]: string[]): PipeTexts => ({ stdout: stdout!, stderr: stderr! });
    return { push: (pipe, chunk) => texts(scanner.push(pipe === 'stdout' ? 0 : 1, chunk)), flush: () => texts(scanner.flush()) };
  }
}

function buildAutomaton(entries: ReadonlyArray<readonly [string, string]>): Automaton {
  const children: Array<Map<number, number>> = [new Map()];
  const depth: number[] = [0];
  const patternAt: number[] = [-1];
  entries.forEach(([pattern], index) => {
    let node = 0;
    for (let i = 0; i < pattern.length; i++) {
      const code = pattern.charCodeAt(i);
      let next = children[node]!.get(code);
      if (next === undefined) {
        next = children.length;
        children.push(new Map());
        depth.push(depth[node]! + 1);
        patternAt.push(-1);
        children[node]!.set(code, next);
      }
      node = next;
    }
    patternAt[node] = index;
  });

  const count = children.length;
  const fail = new Int32Array(count);
  const longestMatch = new Int32Array(count).fill(-1);
  const openDepth = new Int32Array(count);
  // Breadth first, so a node's fail target (shallower) is complete before the node.
  const queue: number[] = [0];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head]!;
    longestMatch[node] = patternAt[node]! >= 0 ? patternAt[node]! : node === 0 ? -1 : longestMatch[fail[node]!]!;
    openDepth[node] = children[node]!.size > 0 ? depth[node]! : node === 0 ? 0 : openDepth[fail[node]!]!;
    for (const [code, child] of children[node]!) {
      if (node !== 0) {
        let f = fail[node]!;
        while (f !== 0 && !children[f]!.has(code)) f = fail[f]!;
        fail[child] = children[f]!.get(code) ?? 0;
      }
      queue.push(child);
    }
  }
  const patternLengths = entries.map(([pattern]) => pattern.length);
  const rootNext = new Int32Array(65536);
  for (const [code, child] of children[0]!) rootNext[code] = child;
  return {
    children,
    rootNext,
    fail,
    longestMatch,
    openDepth,
    patternLengths,
    replacements: entries.map(([, replacement]) => replacement),
    maxPatternLength: Math.max(...patternLengths),
  };
}

/**
 * The automaton walking one view of the output (one pipe, or both interleaved), with the positions of
 * the pattern characters it consumed last, so an occurrence's start is known although line breaks it
 * skipped lie inside it.
 */
class Walker {
  node = 0;
  /** Positions of the last pattern characters consumed; its length is a power of two (`mask` + 1). */
  private readonly ring: Float64Array;
  private readonly mask: number;
  private consumed = 0;
  /** Line-break characters skipped since the last pattern character: `\n`, `\r` or `\r\n` is one break. */
  private breakRun = 0;
  private lastBreak = 0;

  constructor(private readonly a: Automaton) {
    const size = 2 ** Math.ceil(Math.log2(Math.max(2, a.maxPatternLength)));
    this.ring = new Float64Array(size);
    this.mask = size - 1;
  }

  /** Consumes the character at `position`; returns the index of the longest pattern ending here, or -1. */
  step(code: number, position: number): number {
    if (isLineBreak(code)) {
      if (this.node === 0) return -1;
      // What a break would hold back is the text a pattern could still continue: too little to wait for.
      if (this.a.openDepth[this.node]! < MIN_DEPTH_ACROSS_BREAK) {
        this.reset();
        return -1;
      }
      if (this.breakRun === 0 || (this.breakRun === 1 && this.lastBreak === 0x0d && code === 0x0a)) {
        this.breakRun++;
        this.lastBreak = code;
        return -1;
      }
      // A blank line: no secret is taken to span it (and the hold-back stays bounded).
      this.reset();
      return -1;
    }
    this.breakRun = 0;
    const { children, fail, rootNext } = this.a;
    let node = this.node;
    let next: number | undefined;
    while (node !== 0) {
      next = children[node]!.get(code);
      if (next !== undefined) break;
      node = fail[node]!;
    }
    if (node === 0) next = rootNext[code]!;
    this.node = next!;
    // A character that leaves the walker at the root is the start of nothing: startOf never asks for it.
    if (next === 0) return -1;
    this.ring[this.consumed & this.mask] = position;
    // Wraps at 2^30, a multiple of the ring's size, so `&` on it stays exact however long the stream.
    this.consumed = (this.consumed + 1) & 0x3fffffff;
    return this.a.longestMatch[this.node]!;
  }

  /** The position of the first of the last `length` pattern characters consumed. */
  startOf(length: number): number {
    return this.ring[(this.consumed - length) & this.mask]!;
  }

  /** Where the text that a pattern could still continue starts; undefined when there is none. */
  openStart(): number | undefined {
    const depth = this.a.openDepth[this.node]!;
    return depth === 0 ? undefined : this.startOf(depth);
  }

  reset(): void {
    this.node = 0;
    this.breakRun = 0;
  }
}

/** Overlapping occurrences not yet replaced: [start, end) in a pipe's positions, and the pattern that names them. */
interface Cluster {
  start: number;
  end: number;
  pattern: number;
}

/**
 * Where one pipe's pending characters are in the interleaved stream: each pushed chunk is one run of
 * consecutive positions in both, so a chunk costs one entry, not one per character.
 */
class MergedRuns {
  private pipeStarts: number[] = [];
  private mergedStarts: number[] = [];
  private lengths: number[] = [];

  append(pipeStart: number, mergedStart: number, length: number): void {
    this.pipeStarts.push(pipeStart);
    this.mergedStarts.push(mergedStart);
    this.lengths.push(length);
  }

  /** The pipe position of this pipe's first character at or after interleaved position `merged`; `end` when none. */
  toPipe(merged: number, end: number): number {
    const starts = this.mergedStarts;
    let lo = 0;
    let hi = starts.length;
    // The last run that starts at or before `merged`.
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= merged) lo = mid + 1;
      else hi = mid;
    }
    const run = lo - 1;
    if (run < 0) return this.pipeStarts[0] ?? end;
    const offset = merged - starts[run]!;
    if (offset < this.lengths[run]!) return this.pipeStarts[run]! + offset;
    return this.pipeStarts[run + 1] ?? end;
  }

  /** Forgets the characters before pipe position `pipe`. */
  trim(pipe: number): void {
    let drop = 0;
    while (drop < this.pipeStarts.length && this.pipeStarts[drop]! + this.lengths[drop]! <= pipe) drop++;
    if (drop === 0) return;
    this.pipeStarts.splice(0, drop);
    this.mergedStarts.splice(0, drop);
    this.lengths.splice(0, drop);
  }
}

/** One pipe's state in a Scanner. */
interface Pipe {
  walker: Walker;
  /** Pipe position of the next character. */
  position: number;
  /** Everything before this pipe position has been returned (as text or as a replacement). */
  emitted: number;
  /** Text not yet returned, from pipe position `pendingStart` (≤ `emitted`) on; trimmed once per call. */
  pending: string;
  pendingStart: number;
  /** With two pipes: where its pending characters are in the interleaved stream. */
  merged: MergedRuns | undefined;
  /** Disjoint, in order, all at or after `emitted`. */
  clusters: Cluster[];
  parts: string[];
}

/**
 * The one redaction engine, used for whole strings, single streams and pipe pairs alike, so they cannot
 * disagree. Each pipe is scanned on its own; with two, their characters are also scanned in the order
 * they arrived, and an occurrence found there is replaced in each pipe that has part of it. A character
 * is returned once no occurrence can still include it in any view. Decisions depend only on the
 * characters and the order of the pieces, never on where the pieces were cut.
 */
class Scanner {
  private readonly pipes: Pipe[];
  private readonly mergedWalker: Walker | undefined;
  private mergedPosition = 0;

  constructor(
    private readonly a: Automaton,
    pipeCount: 1 | 2,
  ) {
    this.pipes = Array.from({ length: pipeCount }, () => ({
      walker: new Walker(a),
      position: 0,
      emitted: 0,
      pending: '',
      pendingStart: 0,
      merged: pipeCount === 2 ? new MergedRuns() : undefined,
      clusters: [],
      parts: [],
    }));
    this.mergedWalker = pipeCount === 2 ? new Walker(a) : undefined;
  }

  /** Scans `chunk` of pipe `index`; returns what each pipe may show now. */
  push(index: number, chunk: string): string[] {
    if (chunk === '') return this.pipes.map(() => '');
    const pipe = this.pipes[index]!;
    const lengths = this.a.patternLengths;
    pipe.pending += chunk;
    const mergedWalker = this.mergedWalker;
    // Both views walk the chunk: this pipe's own, and (with two pipes) the interleaved one.
    const pipeStart = pipe.position;
    const mergedStart = this.mergedPosition;
    pipe.merged?.append(pipeStart, mergedStart, chunk.length);
    pipe.position += chunk.length;
    if (mergedWalker) this.mergedPosition += chunk.length;
    for (let i = 0; i < chunk.length; i++) {
      const code = chunk.charCodeAt(i);
      const own = pipe.walker.step(code, pipeStart + i);
      if (own >= 0) this.addOccurrence(pipe, pipe.walker.startOf(lengths[own]!), pipeStart + i + 1, own);
      if (mergedWalker) {
        const both = mergedWalker.step(code, mergedStart + i);
        if (both >= 0) this.addMergedOccurrence(mergedWalker.startOf(lengths[both]!), mergedStart + i + 1, both);
      }
    }
    return this.pipes.map((p) => this.release(p));
  }

  flush(): string[] {
    const out = this.pipes.map((pipe) => {
      for (const cluster of pipe.clusters) this.replace(pipe, cluster);
      pipe.clusters = [];
      this.emitText(pipe, pipe.position);
      pipe.walker.reset();
      return this.takeOutput(pipe);
    });
    this.mergedWalker?.reset();
    return out;
  }

  /** Returns what no occurrence can still include: text before the pipe's safe point and closed clusters. */
  private release(pipe: Pipe): string {
    // No later occurrence in the pipe's own view starts before its walker's open text…
    let safe = pipe.walker.openStart() ?? pipe.position;
    // …nor, in the interleaved view, before that walker's, mapped to this pipe's characters.
    const mergedOpen = this.mergedWalker?.openStart();
    if (mergedOpen !== undefined) safe = Math.min(safe, pipe.merged!.toPipe(mergedOpen, pipe.position));
    let closed = 0;
    while (closed < pipe.clusters.length && pipe.clusters[closed]!.end <= safe) this.replace(pipe, pipe.clusters[closed++]!);
    pipe.clusters.splice(0, closed);
    const open = pipe.clusters[0];
    this.emitText(pipe, open ? Math.min(safe, open.start) : safe);
    return this.takeOutput(pipe);
  }

  /** An occurrence in the interleaved view, [start, end) in merged positions: its part in each pipe. */
  private addMergedOccurrence(start: number, end: number, pattern: number): void {
    for (const pipe of this.pipes) {
      const from = pipe.merged!.toPipe(start, pipe.position);
      const to = pipe.merged!.toPipe(end, pipe.position);
      if (to > from) this.addOccurrence(pipe, from, to, pattern);
    }
  }

  /** Records an occurrence [start, end) of `pattern` in `pipe`, merging every cluster it overlaps. */
  private addOccurrence(pipe: Pipe, start: number, end: number, pattern: number): void {
    start = Math.max(start, pipe.emitted);
    if (start >= end) return; // wholly inside a chain that was already replaced
    const lengths = this.a.patternLengths;
    const merged: Cluster = { start, end, pattern };
    const after: Cluster[] = [];
    for (let top = pipe.clusters.at(-1); top && top.end > merged.start; top = pipe.clusters.at(-1)) {
      pipe.clusters.pop();
      // An interleaved occurrence may end before a cluster of this pipe's own view: that one stays.
      if (top.start >= merged.end) {
        after.unshift(top);
        continue;
      }
      // The longer pattern names the chain; of equally long ones, the earlier.
      const longer = lengths[top.pattern]! > lengths[merged.pattern]! || (lengths[top.pattern] === lengths[merged.pattern] && top.start <= merged.start);
      if (longer) merged.pattern = top.pattern;
      merged.start = Math.min(merged.start, top.start);
      merged.end = Math.max(merged.end, top.end);
    }
    pipe.clusters.push(merged, ...after);
    if (merged.end - merged.start >= MAX_HELD_OCCURRENCE_CHAIN) {
      for (const cluster of pipe.clusters) this.replace(pipe, cluster);
      pipe.clusters = [];
    }
  }

  private replace(pipe: Pipe, cluster: Cluster): void {
    this.emitText(pipe, cluster.start);
    pipe.parts.push(this.a.replacements[cluster.pattern]!);
    pipe.emitted = Math.max(pipe.emitted, cluster.end);
  }

  private emitText(pipe: Pipe, until: number): void {
    if (until <= pipe.emitted) return;
    pipe.parts.push(pipe.pending.slice(pipe.emitted - pipe.pendingStart, until - pipe.pendingStart));
    pipe.emitted = until;
  }

  private takeOutput(pipe: Pipe): string {
    const trimmed = pipe.emitted - pipe.pendingStart;
    pipe.pending = pipe.pending.slice(trimmed);
    pipe.merged?.trim(pipe.emitted);
    pipe.pendingStart = pipe.emitted;
    const out = pipe.parts.join('');
    pipe.parts = [];
    return out;
  }
}
