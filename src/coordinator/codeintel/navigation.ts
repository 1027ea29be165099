// Precise code navigation over processed uploads: the symbol at a position (the innermost occurrence
// there), its definitions (in the same upload, else in the uploads that define its package: another
// repository's), its references with paging (the definition included, as Sourcegraph lists them), and
// its hover documentation. Positions are zero-based, characters in UTF-16 code units (SCIP, LSP).
import { AppError } from '../../shared/errors.js';
import { repositoryDirFor } from '../git/repository-mirror.js';
import type { CodeIntelStore, UploadRow } from '../store/codeintel-store.js';
import { compareDocumentRanges, LOCAL_SYMBOL_FLAG, rangeContains, rangeSpan, unpackDocumentRanges, unpackOccurrences, type DocumentRange, type PackedOccurrence, type Range } from './occurrence-codec.js';
import { RepositoryReader } from './repository-reader.js';
import { symbolPackage } from './scip-symbol.js';

export interface Position {
  repository: string;
  commit: string;
  path: string;
  line: number;
  character: number;
}

export interface WireRange {
  start: { line: number; character: number };
  end: { line: number; character: number };
}

export interface Location {
  repository: string;
  commit: string;
  path: string;
  range: WireRange;
}

export function wireRange(r: Range): WireRange {
  return { start: { line: r.startLine, character: r.startCharacter }, end: { line: r.endLine, character: r.endCharacter } };
}

/** A symbol at a position: a global one (with its row) or a document-local one. */
interface HitSymbol {
  id: number;
  /** Empty for a local symbol without a row. */
  name: string;
  local: boolean;
  documentation: string | null;
}

/** The symbols at a position of one upload's document. */
interface Hit {
  upload: UploadRow;
  documentId: number;
  path: string;
  range: Range;
  /** The document's occurrences (local symbols are found in them). */
  occurrences: PackedOccurrence[];
  symbols: HitSymbol[];
}

/** Cursor of a references page: how many locations came before it. */
function encodeCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}

function decodeCursor(cursor: string): number {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown };
    if (typeof v.o === 'number' && Number.isInteger(v.o) && v.o >= 0) return v.o;
  } catch {
    // below
  }
  throw new AppError('codeintel.invalid_cursor', 'after: not a cursor this API returned');
}

/** Uploads whose document paths the navigation keeps in memory. */
const PATH_CACHE_UPLOADS = 64;

export class Navigation {
  private readonly pathCache = new Map<number, Map<number, string>>();

  constructor(
    private readonly store: CodeIntelStore,
    private readonly repositoriesDir: string,
  ) {}

  /**
   * The symbols at `pos`, from the first current upload of the commit that has the document. Throws
   * `codeintel.no_upload` (naming the nearest indexed commit) when the commit has none.
   */
  private async hit(pos: Position): Promise<Hit | null> {
    const found = await this.store.documentsAt(pos.repository, pos.commit, pos.path);
    if (found.length === 0) {
      // No document there: a commit without uploads is a 404 naming the nearest indexed one; a file
      // the commit's uploads do not cover has nothing at any position.
      if ((await this.store.uploadsForPath(pos.repository, pos.commit, pos.path)).length === 0) throw await this.noUpload(pos);
      return null;
    }
    const { upload, documentId } = found[0]!;
    const occurrences = unpackOccurrences(found[0]!.occurrences);
    const covering = occurrences.filter((o) => rangeContains(o, pos.line, pos.character));
    if (covering.length === 0) return null;
    const smallest = Math.min(...covering.map(rangeSpan));
    const innermost = covering.filter((o) => rangeSpan(o) === smallest);
    const ids = [...new Set(innermost.map((o) => o.symbolId))];
    const rows = new Map((await this.store.symbolsByIds(upload.id, ids)).map((r) => [r.id, r]));
    const symbols = ids.map((id): HitSymbol => {
      const local = innermost.some((o) => o.symbolId === id && (o.roles & LOCAL_SYMBOL_FLAG) !== 0);
      const row = rows.get(id);
      return { id, name: row?.name ?? '', local, documentation: row?.documentation ?? null };
    });
    return { upload, documentId, path: pos.path, range: innermost[0]!, occurrences, symbols };
  }

  /**
   * An upload's document paths by id, cached: a completed upload's documents never change (a replaced
   * one is no longer read). Bounded to the most recently used uploads.
   */
  private async pathsOf(uploadId: number): Promise<Map<number, string>> {
    let paths = this.pathCache.get(uploadId);
    if (paths) {
      this.pathCache.delete(uploadId);
    } else {
      paths = await this.store.allDocumentPaths(uploadId);
      while (this.pathCache.size >= PATH_CACHE_UPLOADS) this.pathCache.delete(this.pathCache.keys().next().value!);
    }
    this.pathCache.set(uploadId, paths);
    return paths;
  }

  /** The error for a commit without an upload: names the nearest indexed commit (ancestors first). */
  private async noUpload(pos: Position): Promise<AppError> {
    const reader = new RepositoryReader(repositoryDirFor(this.repositoriesDir, pos.repository));
    if (!(await reader.hasCommit(pos.commit))) {
      return new AppError('codeintel.unknown_commit', `commit ${JSON.stringify(pos.commit)} is not in repository ${pos.repository}`);
    }
    const ancestors = await reader.ancestors(pos.commit, 1000);
    const indexed = new Set(await this.store.indexedCommits(pos.repository, ancestors));
    const nearestAncestor = ancestors.find((c) => indexed.has(c));
    if (nearestAncestor) {
      const distance = ancestors.indexOf(nearestAncestor);
      return new AppError('codeintel.no_upload', `commit ${pos.commit} of ${pos.repository} has no precise index; the nearest indexed commit is ${nearestAncestor} (${distance} commit(s) before it)`);
    }
    let best: { commit: string; distance: number } | undefined;
    for (const candidate of await this.store.recentIndexedCommits(pos.repository, 50)) {
      const d = await reader.distance(pos.commit, candidate);
      if (d !== null && (!best || d < best.distance)) best = { commit: candidate, distance: d };
    }
    if (best) return new AppError('codeintel.no_upload', `commit ${pos.commit} of ${pos.repository} has no precise index; the nearest indexed commit is ${best.commit} (${best.distance} commit(s) after it)`);
    const any = (await this.store.recentIndexedCommits(pos.repository, 1))[0];
    return new AppError(
      'codeintel.no_upload',
      any
        ? `commit ${pos.commit} of ${pos.repository} has no precise index, nor does any commit related to it; the most recently indexed commit is ${any}`
        : `repository ${pos.repository} has no precise index at any commit yet: queue one with POST /api/v1/codeintel/index-jobs`,
    );
  }

  private location(upload: UploadRow, path: string, range: Range): Location {
    return { repository: upload.repositoryName, commit: upload.commit, path, range: wireRange(range) };
  }

  /** Document ranges as locations of `upload` (their documents' paths in one query). */
  private async locations(upload: UploadRow, ranges: readonly DocumentRange[]): Promise<Location[]> {
    const paths = await this.pathsOf(upload.id);
    return ranges.flatMap((r) => {
      const path = paths.get(r.documentId);
      return path === undefined ? [] : [this.location(upload, path, r.range)];
    });
  }

  /** A global symbol's definitions and references in one upload, in (document, range) order. */
  private async rangesOf(uploadId: number, symbolId: number, kind: 'definitions' | 'all'): Promise<DocumentRange[]> {
    const out: DocumentRange[] = [];
    for (const row of await this.store.symbolLocations(uploadId, [symbolId])) {
      if (row.definitions) out.push(...unpackDocumentRanges(row.definitions));
      if (kind === 'all' && row.references) out.push(...unpackDocumentRanges(row.references));
    }
    return out.sort(compareDocumentRanges);
  }

  /** A local symbol's occurrences: all in its document. */
  private localRanges(hit: Hit, symbolId: number, kind: 'definitions' | 'all'): Location[] {
    return hit.occurrences.filter((o) => o.symbolId === symbolId && (kind === 'all' || (o.roles & 1) === 1)).map((o) => this.location(hit.upload, hit.path, o));
  }

  /** Where a global symbol is defined: this upload first, else the uploads that define its package. */
  private async definitionsOf(upload: UploadRow, symbol: HitSymbol): Promise<Location[]> {
    const here = await this.rangesOf(upload.id, symbol.id, 'definitions');
    if (here.length > 0 || !symbol.name) return this.locations(upload, here);
    const pkg = symbolPackage(symbol.name);
    const others = (pkg?.name ? await this.store.uploadsDefiningPackage(pkg.manager, pkg.name, pkg.version) : []).filter((id) => id !== upload.id);
    if (others.length === 0) return [];
    for (const found of await this.store.findGlobalSymbols(symbol.name, others)) {
      const defs = await this.rangesOf(found.uploadId, found.id, 'definitions');
      if (defs.length === 0) continue;
      const other = await this.store.getUpload(found.uploadId);
      if (other) return this.locations(other, defs);
    }
    return [];
  }

  async definitions(pos: Position): Promise<Location[]> {
    const hit = await this.hit(pos);
    if (!hit) return [];
    const out: Location[] = [];
    for (const symbol of hit.symbols) out.push(...(symbol.local ? this.localRanges(hit, symbol.id, 'definitions') : await this.definitionsOf(hit.upload, symbol)));
    return dedupe(out);
  }

  /**
   * References of the symbol at `pos`, definitions included: in this upload, then in every other current
   * upload that uses the same global symbol (other repositories'), `first` at a time after `after`.
   */
  async references(pos: Position, page: { first: number; after?: string }): Promise<{ locations: Location[]; next: string | null }> {
    const offset = page.after ? decodeCursor(page.after) : 0;
    const hit = await this.hit(pos);
    if (!hit) return { locations: [], next: null };
    const wanted = offset + page.first + 1;
    const all: Location[] = [];
    const seen = new Set<string>();
    const add = (locs: Location[]) => {
      for (const loc of locs) {
        const key = `${loc.repository}\u0000${loc.commit}\u0000${loc.path}\u0000${loc.range.start.line}:${loc.range.start.character}:${loc.range.end.line}:${loc.range.end.character}`;
        if (seen.has(key)) continue;
        seen.add(key);
        all.push(loc);
      }
    };
    for (const symbol of hit.symbols) {
      if (all.length >= wanted) break;
      if (symbol.local) {
        add(this.localRanges(hit, symbol.id, 'all'));
        continue;
      }
      add(await this.locations(hit.upload, await this.rangesOf(hit.upload.id, symbol.id, 'all')));
      if (!symbol.name) continue;
      for (const found of await this.store.findGlobalSymbols(symbol.name)) {
        if (all.length >= wanted) break;
        if (found.uploadId === hit.upload.id) continue;
        const upload = await this.store.getUpload(found.uploadId);
        if (upload) add(await this.locations(upload, await this.rangesOf(found.uploadId, found.id, 'all')));
      }
    }
    const locations = all.slice(offset, offset + page.first);
    return { locations, next: all.length > offset + page.first ? encodeCursor(offset + page.first) : null };
  }

  /** The hover documentation of the symbol at `pos` (markdown) and the occurrence's range; null when there is none. */
  async hover(pos: Position): Promise<{ markdown: string; range: WireRange } | null> {
    const hit = await this.hit(pos);
    if (!hit) return null;
    for (const symbol of hit.symbols) {
      if (symbol.documentation) return { markdown: symbol.documentation, range: wireRange(hit.range) };
    }
    // Documentation of a symbol another upload defines (its package's).
    for (const symbol of hit.symbols) {
      if (symbol.local || !symbol.name) continue;
      const pkg = symbolPackage(symbol.name);
      const defining = pkg?.name ? await this.store.uploadsDefiningPackage(pkg.manager, pkg.name, pkg.version) : [];
      for (const found of await this.store.findGlobalSymbols(symbol.name, defining.length > 0 ? defining : undefined)) {
        if (found.documentation) return { markdown: found.documentation, range: wireRange(hit.range) };
      }
    }
    return null;
  }

  /** Every occurrence of a document (local symbols flagged), for the UI's file view. */
  async documentOccurrences(repository: string, commit: string, path: string): Promise<{ upload: UploadRow; occurrences: Array<Range & { symbolId: number; local: boolean; definition: boolean }> } | null> {
    for (const upload of await this.store.uploadsForPath(repository, commit, path)) {
      const doc = await this.store.getDocument(upload.id, path);
      if (!doc) continue;
      const occurrences = unpackOccurrences(doc.occurrences).map((o) => ({ ...o, local: (o.roles & LOCAL_SYMBOL_FLAG) !== 0, definition: (o.roles & 1) === 1 }));
      return { upload, occurrences };
    }
    return null;
  }

  /** Where the given global symbols of an upload are first defined (document path and position). */
  async firstDefinitions(upload: UploadRow, symbolIds: readonly number[]): Promise<Map<number, { path: string; line: number; character: number }>> {
    const first = new Map<number, DocumentRange>();
    for (const row of await this.store.symbolDefinitions(upload.id, symbolIds)) {
      const r = unpackDocumentRanges(row.definitions)[0];
      if (r && !first.has(row.symbolId)) first.set(row.symbolId, r);
    }
    const paths = await this.store.documentPaths(upload.id, [...new Set([...first.values()].map((r) => r.documentId))]);
    const out = new Map<number, { path: string; line: number; character: number }>();
    for (const [id, r] of first) {
      const path = paths.get(r.documentId);
      if (path !== undefined) out.set(id, { path, line: r.range.startLine, character: r.range.startCharacter });
    }
    return out;
  }
}

function dedupe(locations: Location[]): Location[] {
  const seen = new Set<string>();
  return locations.filter((l) => {
    const key = JSON.stringify(l);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
