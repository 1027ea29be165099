// Removes secrets from job logs (reference §4.4, §4.10): job.redactedValues plus the executor's own
// password, replaced in whole strings and in output that arrives in arbitrary pieces.

/**
 * A chain of overlapping occurrences longer than this (in UTF-16 code units) is replaced piecewise,
 * so that a stream redactor never holds back more than this plus the longest secret. Only a periodic
 * secret can chain (`aa` in `aaaa…`); real secrets (tokens, passwords) never get near it.
 */
const MAX_HELD_OCCURRENCE_CHAIN = 64 * 1024;

/** Redacts one stream: `push` returns what is safe to show now, `flush` the rest at the end. */
export interface StreamRedactor {
  /** Redacts `chunk` and returns the text that can no longer be part of a secret; holds back the rest. */
  push(chunk: string): string;
  /** The end of the stream: returns the held-back tail, redacted. The redactor can then start a new stream. */
  flush(): string;
}

/** An Aho–Corasick automaton over UTF-16 code units, built once per job for all its secrets. */
interface Automaton {
  children: Array<Map<number, number>>;
  /** The longest proper suffix of a node's string that is also a node. */
  fail: Int32Array;
  /** The longest secret ending at a node (its index), or -1. */
  longestMatch: Int32Array;
  /**
   * Length of the longest suffix of a node's string that a secret could still continue: how much a
   * stream redactor must hold back in that state.
   */
  openDepth: Int32Array;
  secretLengths: number[];
  replacements: string[];
}

/**
 * Replaces secrets in text, for the executor's job logs. Built from a map secret → replacement; empty
 * secrets are ignored. Every occurrence is replaced, in one left-to-right pass (a replacement is never
 * scanned again). Occurrences that overlap are replaced together, by the replacement of the longest
 * secret among them (the earliest on a tie), so that no character of any secret survives: with
 * secrets `pass` and `password`, `password1` becomes `<password's replacement>1`; with `abc` and
 * `bcdef`, `abcdef` becomes `<bcdef's replacement>`.
 */
export class Redactor {
  /** How many distinct non-empty secrets this redactor removes. */
  readonly secretCount: number;
  /** The longest secret, in UTF-16 code units; a stream holds back at most one less, between secrets. */
  readonly maxSecretLength: number;
  private readonly automaton: Automaton | null;

  constructor(values: Readonly<Record<string, string>> | ReadonlyMap<string, string>) {
    const entries = (values instanceof Map ? [...values] : Object.entries(values)).filter(([secret]) => secret !== '');
    this.secretCount = entries.length;
    this.maxSecretLength = entries.reduce((max, [secret]) => Math.max(max, secret.length), 0);
    this.automaton = entries.length === 0 ? null : buildAutomaton(entries);
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
    const scanner = new Scanner(this.automaton);
    return scanner.push(text) + scanner.flush();
  }

  /**
   * A redactor for one stream that arrives in pieces (a command's stdout). It holds back only the
   * shortest tail that a secret could still continue (plus an occurrence that a longer, overlapping
   * one could still extend), so a secret split across pieces, even one character per piece, never
   * leaks, and the output of `push`es and `flush` concatenated equals `redact` of the whole stream.
   */
  createStreamRedactor(): StreamRedactor {
    if (!this.automaton) return { push: (chunk) => chunk, flush: () => '' };
    return new Scanner(this.automaton);
  }
}

function buildAutomaton(entries: ReadonlyArray<readonly [string, string]>): Automaton {
  const children: Array<Map<number, number>> = [new Map()];
  const depth: number[] = [0];
  const secretAt: number[] = [-1];
  entries.forEach(([secret], index) => {
    let node = 0;
    for (let i = 0; i < secret.length; i++) {
      const code = secret.charCodeAt(i);
      let next = children[node]!.get(code);
      if (next === undefined) {
        next = children.length;
        children.push(new Map());
        depth.push(depth[node]! + 1);
        secretAt.push(-1);
        children[node]!.set(code, next);
      }
      node = next;
    }
    secretAt[node] = index;
  });

  const count = children.length;
  const fail = new Int32Array(count);
  const longestMatch = new Int32Array(count).fill(-1);
  const openDepth = new Int32Array(count);
  // Breadth first, so a node's fail target (shallower) is complete before the node.
  const queue: number[] = [0];
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head]!;
    longestMatch[node] = secretAt[node]! >= 0 ? secretAt[node]! : node === 0 ? -1 : longestMatch[fail[node]!]!;
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
  return {
    children,
    fail,
    longestMatch,
    openDepth,
    secretLengths: entries.map(([secret]) => secret.length),
    replacements: entries.map(([, replacement]) => replacement),
  };
}

/** Overlapping occurrences not yet replaced: [start, end) in stream positions, and the secret that names them. */
interface Cluster {
  start: number;
  end: number;
  secret: number;
}

/**
 * The one redaction engine, used for whole strings and for streams alike, so the two cannot disagree.
 * Its decisions depend only on the characters, never on where the pieces were cut.
 */
class Scanner implements StreamRedactor {
  private node = 0;
  /** Stream position of the next character. */
  private position = 0;
  /** Everything before this stream position has been returned (as text or as a replacement). */
  private emitted = 0;
  /** Text not yet returned, from stream position `pendingStart` (≤ `emitted`) on; trimmed once per call. */
  private pending = '';
  private pendingStart = 0;
  /** Disjoint, in stream order, all at or after `emitted`. */
  private clusters: Cluster[] = [];
  private parts: string[] = [];

  constructor(private readonly a: Automaton) {}

  push(chunk: string): string {
    if (chunk === '') return '';
    const { children, fail, longestMatch, secretLengths } = this.a;
    this.pending += chunk;
    let node = this.node;
    for (let i = 0; i < chunk.length; i++) {
      const code = chunk.charCodeAt(i);
      let next = children[node]!.get(code);
      while (next === undefined && node !== 0) {
        node = fail[node]!;
        next = children[node]!.get(code);
      }
      node = next ?? 0;
      this.position++;
      const secret = longestMatch[node]!;
      if (secret >= 0) this.addOccurrence(Math.max(this.position - secretLengths[secret]!, this.emitted), secret);
    }
    this.node = node;

    // No later occurrence can start before `safe`: whatever lies before it and outside a cluster that
    // reaches past it is final.
    const safe = this.position - this.a.openDepth[node]!;
    let closed = 0;
    while (closed < this.clusters.length && this.clusters[closed]!.end <= safe) this.replace(this.clusters[closed++]!);
    this.clusters.splice(0, closed);
    const open = this.clusters[0];
    this.emitText(open ? Math.min(safe, open.start) : safe);
    return this.takeOutput();
  }

  flush(): string {
    for (const cluster of this.clusters) this.replace(cluster);
    this.clusters = [];
    this.emitText(this.position);
    this.node = 0;
    return this.takeOutput();
  }

  /** Records an occurrence [start, position), merging every cluster it overlaps. */
  private addOccurrence(start: number, secret: number): void {
    const end = this.position;
    if (start >= end) return; // wholly inside a chain that was already replaced
    const lengths = this.a.secretLengths;
    const merged: Cluster = { start, end, secret };
    for (let top = this.clusters.at(-1); top && top.end > merged.start; top = this.clusters.at(-1)) {
      this.clusters.pop();
      merged.start = Math.min(merged.start, top.start);
      // Popped clusters are earlier: `>=` keeps the earliest of equally long secrets.
      if (lengths[top.secret]! >= lengths[merged.secret]!) merged.secret = top.secret;
    }
    this.clusters.push(merged);
    if (merged.end - merged.start >= MAX_HELD_OCCURRENCE_CHAIN) {
      for (const cluster of this.clusters) this.replace(cluster);
      this.clusters = [];
    }
  }

  private replace(cluster: Cluster): void {
    this.emitText(cluster.start);
    this.parts.push(this.a.replacements[cluster.secret]!);
    this.emitted = cluster.end;
  }

  private emitText(until: number): void {
    if (until <= this.emitted) return;
    this.parts.push(this.pending.slice(this.emitted - this.pendingStart, until - this.pendingStart));
    this.emitted = until;
  }

  private takeOutput(): string {
    this.pending = this.pending.slice(this.emitted - this.pendingStart);
    this.pendingStart = this.emitted;
    const out = this.parts.join('');
    this.parts = [];
    return out;
  }
}
