// The executors' forwarded metrics on this replica's /metrics (reference §7.7), served from memory: each
// executor's labelled dump is kept split into families (byte ranges of one Buffer) and merged by
// concatenation, never parsed again. A scrape reads from the database only the versions of the dumps, and
// the text of a dump only after another replica stored a new one — at most once per refresh interval.
import type { Logger } from '../../shared/logger.js';
import type { ExecutorStore } from '../store/executor-store.js';

/** One family of one executor's labelled text: its `# HELP`/`# TYPE` lines and its sample lines. */
interface FamilyBlock {
  name: string;
  type: string;
  header: Buffer;
  samples: Buffer;
}

interface CachedDump {
  version: number;
  bytes: number;
  families: FamilyBlock[];
}

/** The merged exposition: chunks to write in order, and their total size. */
export interface ForwardedExposition {
  chunks: readonly Buffer[];
  bytes: number;
}

export interface ForwardedMetricsOptions {
  /** Sum of the executors' labelled texts on the page, in bytes (COORDINATOR_MAX_FORWARDED_METRICS_SIZE). */
  maxTotalBytes: number;
  /** An executor's metrics are shown while it was seen within this window, in ms. */
  maxAgeMs: number;
  /**
   * How often a scrape may look for dumps other replicas stored, in ms. Default 5 000: the executors'
   * heartbeat interval, so a page is never more than one heartbeat behind the database.
   */
  refreshIntervalMs?: number;
}

/** Past this many executors whose drop was logged, the memory of who was logged starts over. */
const MAX_REMEMBERED_DROPS = 10_000;

const EMPTY: ForwardedExposition = { chunks: [], bytes: 0 };

/**
 * Splits a labelled text as `labelExecutorMetrics` writes it (per family: an optional HELP line, a TYPE
 * line, then sample lines, none of which starts with `#`) into its families, without copying.
 */
export function splitFamilies(text: Buffer): FamilyBlock[] {
  const families: FamilyBlock[] = [];
  let pos = 0;
  while (pos < text.length) {
    // A header block: `# HELP …` lines up to and including the `# TYPE name type` line.
    let headerEnd = pos;
    let name: string | undefined;
    let type = 'untyped';
    while (headerEnd < text.length && text[headerEnd] === 0x23 /* # */) {
      const newline = text.indexOf(0x0a, headerEnd);
      const lineEnd = newline === -1 ? text.length : newline + 1;
      const match = /^# TYPE (\S+) (\S+)\n?$/.exec(text.toString('utf8', headerEnd, lineEnd));
      headerEnd = lineEnd;
      if (match) {
        [, name, type] = match as unknown as [string, string, string];
        break;
      }
    }
    // The samples run to the next line that starts with `#`.
    const next = text.indexOf('\n#', Math.max(headerEnd - 1, 0));
    const samplesEnd = next === -1 ? text.length : next + 1;
    if (name !== undefined && samplesEnd > headerEnd) families.push({ name, type, header: text.subarray(pos, headerEnd), samples: text.subarray(headerEnd, samplesEnd) });
    if (samplesEnd <= pos) break; // not our format: stop rather than loop
    pos = samplesEnd;
  }
  return families;
}

/**
 * This replica's view of every executor's forwarded metrics. The heartbeat route `remember`s each dump it
 * stored; `exposition` serves the merged page, refreshing from the database (versions first, then only
 * the texts that changed) when the last refresh is older than the refresh interval, one refresh at a time
 * however many scrapes wait for it.
 */
export class ForwardedMetrics {
  private readonly dumps = new Map<string, CachedDump>();
  /** Executors shown, in page order (oldest first seen first), as of the last refresh. */
  private order: string[] = [];
  private merged: { key: string; exposition: ForwardedExposition } | undefined;
  private refreshing: Promise<void> | undefined;
  private lastRefreshMs = Number.NEGATIVE_INFINITY;
  /** A heartbeat brought an executor the last refresh did not know: refresh at the next scrape. */
  private stale = true;
  /** Why each executor's metrics were last left out, so each drop is logged once, not every 5 s. */
  private readonly dropped = new Map<string, string>();
  private readonly refreshIntervalMs: number;

  constructor(
    private readonly store: Pick<ExecutorStore, 'metricsVersions' | 'metricsTexts'>,
    private readonly logger: Logger,
    private readonly options: ForwardedMetricsOptions,
  ) {
    this.refreshIntervalMs = options.refreshIntervalMs ?? 5_000;
  }

  /** A dump this replica just stored for `hostname` under `version` ('' when it cleared it). */
  remember(hostname: string, version: number, text: string): void {
    if (text === '') {
      this.dumps.delete(hostname);
      return;
    }
    const buffer = Buffer.from(text);
    this.dumps.set(hostname, { version, bytes: buffer.length, families: splitFamilies(buffer) });
    if (!this.order.includes(hostname)) this.stale = true;
  }

  /**
   * Logs, once per executor, kind and reason, that its metrics are left out: `dump` for what its heartbeat
   * sent (the heartbeat route), `total` for the page's total. `undefined` says they are taken again, so a
   * later drop is logged anew.
   */
  noteDropped(hostname: string, kind: 'dump' | 'total', reason: string | undefined, fields: Record<string, unknown> = {}): void {
    const key = `${kind} ${hostname}`;
    if (reason === undefined) {
      this.dropped.delete(key);
      return;
    }
    if (this.dropped.get(key) === reason) return;
    if (this.dropped.size >= MAX_REMEMBERED_DROPS) this.dropped.clear();
    this.dropped.set(key, reason);
    this.logger.warn(`forwarded metrics of an executor left out of /metrics: ${reason}`, { executor: hostname, ...fields });
  }

  /** The merged families of every shown executor, as chunks of exposition text. */
  async exposition(): Promise<ForwardedExposition> {
    if (this.stale || performance.now() - this.lastRefreshMs >= this.refreshIntervalMs) {
      this.refreshing ??= this.refresh().finally(() => (this.refreshing = undefined));
      await this.refreshing;
    }
    return this.merge();
  }

  private async refresh(): Promise<void> {
    this.stale = false;
    const versions = await this.store.metricsVersions(this.options.maxAgeMs);
    let total = 0;
    const shown: typeof versions = [];
    for (const v of versions) {
      if (total + v.bytes > this.options.maxTotalBytes) {
        this.noteDropped(v.hostname, 'total', `all executors' metrics together would pass COORDINATOR_MAX_FORWARDED_METRICS_SIZE (${this.options.maxTotalBytes} bytes)`, {
          bytes: v.bytes,
          shownBytes: total,
        });
        continue;
      }
      this.noteDropped(v.hostname, 'total', undefined);
      total += v.bytes;
      shown.push(v);
    }
    const changed = shown.filter((v) => this.dumps.get(v.hostname)?.version !== v.version).map((v) => v.hostname);
    if (changed.length > 0) {
      for (const row of await this.store.metricsTexts(changed)) {
        // A dump remembered meanwhile is newer than this read: keep it.
        if ((this.dumps.get(row.hostname)?.version ?? -1) >= row.version) continue;
        const buffer = Buffer.from(row.text);
        this.dumps.set(row.hostname, { version: row.version, bytes: buffer.length, families: splitFamilies(buffer) });
      }
    }
    this.order = shown.map((v) => v.hostname);
    const keep = new Set(this.order);
    for (const hostname of this.dumps.keys()) if (!keep.has(hostname)) this.dumps.delete(hostname);
    this.lastRefreshMs = performance.now();
  }

  /** Concatenates each family's blocks, in order of first appearance; cached until a dump changes. */
  private merge(): ForwardedExposition {
    const shown = this.order.flatMap((hostname) => {
      const dump = this.dumps.get(hostname);
      return dump ? [[hostname, dump] as const] : [];
    });
    const key = shown.map(([hostname, dump]) => `${dump.version}:${hostname}`).join('\n');
    if (this.merged?.key === key) return this.merged.exposition;
    const families = new Map<string, { type: string; chunks: Buffer[] }>();
    for (const [, dump] of shown) {
      for (const block of dump.families) {
        const family = families.get(block.name);
        if (!family) families.set(block.name, { type: block.type, chunks: [block.header, block.samples] });
        // Another executor's TYPE for the same name: its samples would make the page invalid; the first wins.
        else if (family.type === block.type) family.chunks.push(block.samples);
      }
    }
    const chunks = [...families.values()].flatMap((f) => f.chunks);
    const exposition = chunks.length === 0 ? EMPTY : { chunks, bytes: chunks.reduce((sum, c) => sum + c.length, 0) };
    this.merged = { key, exposition };
    return exposition;
  }
}
