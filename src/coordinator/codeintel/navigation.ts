// Precise code navigation over processed uploads: the symbol at a position (the innermost occurrence
// there), its definitions (in the same upload, else in the uploads that define its package: another
// repository's), its references with paging (the definition included, as Sourcegraph lists them), and
// its hover documentation. Positions are zero-based, characters in UTF-16 code units (SCIP, LSP).
import { AppError } from '../../shared/errors.js';
import { repositoryDirFor } from '../git/repository-mirror.js';
import type { CodeIntelStore, UploadRow } from '../store/codeintel-store.js';
import { rangeContains, rangeSpan, unpackOccurrences, unpackRanges, type Range } from './occurrence-codec.js';
import { RepositoryReader } from './repository-reader.js';
import { isLocalSymbol, symbolPackage } from './scip-symbol.js';

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

/** The symbols at a position of one upload's document. */
interface Hit {
  upload: UploadRow;
  documentId: number;
  range: Range;
  symbols: Array<{ id: number; name: string; documentId: number | null; documentation: string | null }>;
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

export class Navigation {
  constructor(
    private readonly store: CodeIntelStore,
    private readonly repositoriesDir: string,
  ) {}

  /**
   * The symbols at `pos`, from the first current upload of the commit that has the document. Throws
   * `codeintel.no_upload` (naming the nearest indexed commit) when the commit has none.
   */
  private async hit(pos: Position): Promise<Hit | null> {
    const uploads = await this.store.uploadsForPath(pos.repository, pos.commit, pos.path);
    if (uploads.length === 0) throw await this.noUpload(pos);
    for (const upload of uploads) {
      const doc = await this.store.getDocument(upload.id, pos.path);
      if (!doc) continue;
      const covering = unpackOccurrences(doc.occurrences).filter((o) => rangeContains(o, pos.line, pos.character));
      if (covering.length === 0) return null;
      const smallest = Math.min(...covering.map(rangeSpan));
      const innermost = covering.filter((o) => rangeSpan(o) === smallest);
      const symbols = await this.store.symbolsByIds(upload.id, [...new Set(innermost.map((o) => o.symbolId))]);
      return { upload, documentId: doc.id, range: innermost[0]!, symbols };
    }
    return null;
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

  /** Where the global symbol `name` is defined: this upload first, else the uploads of its package. */
  private async definitionsOf(upload: UploadRow, symbolId: number, name: string): Promise<Location[]> {
    const local = await this.rangesOf(upload, symbolId, 'definitions');
    if (local.length > 0 || isLocalSymbol(name)) return local;
    const pkg = symbolPackage(name);
    const candidates = pkg?.name ? await this.store.uploadsDefiningPackage(pkg.manager, pkg.name, pkg.version) : [];
    const others = candidates.filter((id) => id !== upload.id);
    if (others.length === 0) return [];
    for (const found of await this.store.findGlobalSymbols(name, others)) {
      const other = await this.store.getUpload(found.uploadId);
      if (!other) continue;
      const defs = await this.rangesOf(other, found.id, 'definitions');
      if (defs.length > 0) return defs;
    }
    return [];
  }

  private async rangesOf(upload: UploadRow, symbolId: number, kind: 'definitions' | 'all'): Promise<Location[]> {
    const out: Location[] = [];
    for (const row of await this.store.symbolLocations(upload.id, symbolId, { definitionsOnly: kind === 'definitions', limit: 10_000 })) {
      const ranges = [...(row.definitions ? unpackRanges(row.definitions) : []), ...(kind === 'all' && row.references ? unpackRanges(row.references) : [])];
      for (const r of ranges) out.push(this.location(upload, row.path, r));
    }
    return out;
  }

  async definitions(pos: Position): Promise<Location[]> {
    const hit = await this.hit(pos);
    if (!hit) return [];
    const out: Location[] = [];
    for (const symbol of hit.symbols) out.push(...(await this.definitionsOf(hit.upload, symbol.id, symbol.name)));
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
    const sources: Array<{ upload: UploadRow; symbolId: number }> = hit.symbols.map((s) => ({ upload: hit.upload, symbolId: s.id }));
    for (const symbol of hit.symbols) {
      if (isLocalSymbol(symbol.name)) continue;
      for (const found of await this.store.findGlobalSymbols(symbol.name)) {
        if (found.uploadId === hit.upload.id) continue;
        const upload = await this.store.getUpload(found.uploadId);
        if (upload) sources.push({ upload, symbolId: found.id });
      }
    }
    const wanted = offset + page.first + 1;
    const all: Location[] = [];
    const seen = new Set<string>();
    for (const { upload, symbolId } of sources) {
      let after: number | undefined;
      while (all.length < wanted) {
        const rows = await this.store.symbolLocations(upload.id, symbolId, { definitionsOnly: false, afterDocumentId: after, limit: 500 });
        if (rows.length === 0) break;
        for (const row of rows) {
          const ranges = [...(row.definitions ? unpackRanges(row.definitions) : []), ...(row.references ? unpackRanges(row.references) : [])];
          ranges.sort((a, b) => a.startLine - b.startLine || a.startCharacter - b.startCharacter);
          for (const r of ranges) {
            const loc = this.location(upload, row.path, r);
            const key = `${loc.repository}\u0000${loc.commit}\u0000${loc.path}\u0000${r.startLine}:${r.startCharacter}:${r.endLine}:${r.endCharacter}`;
            if (seen.has(key)) continue;
            seen.add(key);
            all.push(loc);
          }
          after = row.documentId;
        }
        if (rows.length < 500) break;
      }
      if (all.length >= wanted) break;
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
      if (isLocalSymbol(symbol.name)) continue;
      const pkg = symbolPackage(symbol.name);
      const defining = pkg?.name ? await this.store.uploadsDefiningPackage(pkg.manager, pkg.name, pkg.version) : [];
      for (const found of await this.store.findGlobalSymbols(symbol.name, defining.length > 0 ? defining : undefined)) {
        if (found.documentation) return { markdown: found.documentation, range: wireRange(hit.range) };
      }
    }
    return null;
  }

  /** Every occurrence of a document with the symbol it names (for the UI's file view). */
  async documentOccurrences(repository: string, commit: string, path: string): Promise<{ upload: UploadRow; occurrences: Array<Range & { symbolId: number; symbol: string; definition: boolean }> } | null> {
    for (const upload of await this.store.uploadsForPath(repository, commit, path)) {
      const doc = await this.store.getDocument(upload.id, path);
      if (!doc) continue;
      const occurrences = unpackOccurrences(doc.occurrences);
      const names = new Map((await this.store.symbolsByIds(upload.id, [...new Set(occurrences.map((o) => o.symbolId))])).map((s) => [s.id, s.name]));
      return { upload, occurrences: occurrences.map((o) => ({ ...o, symbol: names.get(o.symbolId) ?? '', definition: (o.roles & 1) === 1 })) };
    }
    return null;
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
