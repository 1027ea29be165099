// Turns a SCIP index stream into the stored form of one upload, document by document: each document's
// occurrences packed into one row, its symbols (with hover documentation) and, per symbol, the ranges
// where it is defined and referenced there; then the packages the upload defines. Rows are written in
// batches as they come, so memory holds one document and the symbol table, never the whole index.
import { createGunzip } from 'node:zlib';
import { once } from 'node:events';
import type { Document, SymbolInformation } from '@c4312/scip/scip_pb.js';
import { AppError } from '../../shared/errors.js';
import type { CodeIntelStore, DocumentInsert, SymbolInsert } from '../store/codeintel-store.js';
import { compareRanges, LOCAL_SYMBOL_FLAG, packOccurrences, type PackedOccurrence } from './occurrence-codec.js';
import { SymbolSegment } from './symbol-segment.js';
import { readScipIndex } from './scip-stream-reader.js';
import { isLocalSymbol, symbolPackage } from './scip-symbol.js';

/** SCIP SymbolRole.Definition. */
const DEFINITION_ROLE = 1;

/** Documents buffered before a batch is written. */
const BATCH_DOCUMENTS = 100;
const BATCH_BYTES = 2 * 1024 * 1024;
/** Symbol location rows per insert statement. */
const LOCATION_ROWS_PER_INSERT = 5_000;
/**
 * The most global occurrences one document may have: the segment buffer holds a whole document (28 bytes
 * each: 16 MiB at most, allocated lazily by the kernel as it is written).
 */
const SEGMENT_ENTRIES = 600_000;
/**
 * Buffered global occurrences past which their definitions and references are written as a segment
 * (7 MiB): what the location lists of a huge index hold in memory at once. 250k rather than the buffer's
 * capacity cut the coordinator's RSS growth for a 1M-occurrence index from ~108 to ~93 MB (bench/codeintel.ts)
 * at the same throughput and query latency.
 */
const SEGMENT_FLUSH_ENTRIES = 250_000;

export interface ImportCounts {
  numDocuments: number;
  numOccurrences: number;
  numSymbols: number;
  /** Documents whose path is not a file of the commit, dropped. */
  numDroppedPaths: number;
  /** Occurrences whose range is not 3 or 4 numbers, or that name no symbol, skipped. */
  numSkippedOccurrences: number;
}

export interface ImportOptions {
  uploadId: number;
  /** The upload's root ('' or 'dir/'): document paths are relative to it. */
  root: string;
  /** The commit's files: documents elsewhere are dropped. Undefined keeps every document (benchmarks). */
  commitFiles: ReadonlySet<string> | undefined;
  /** Called after each document (heartbeats, cancellation). */
  onDocument?: () => void;
}

/** The hover text of a symbol: its documentation strings, separated as Sourcegraph shows them. */
function documentationOf(info: SymbolInformation): string | null {
  const parts = [...(info.signatureDocumentation?.text ? [`\`\`\`${info.signatureDocumentation.language || ''}\n${info.signatureDocumentation.text}\n\`\`\``] : []), ...info.documentation].filter((d) => d.trim() !== '');
  return parts.length > 0 ? parts.join('\n\n---\n\n') : null;
}

/** A document path joined to the root, normalized; null for one that leaves the repository. */
function repositoryPath(root: string, relativePath: string): string | null {
  const segments: string[] = [];
  for (const segment of `${root}${relativePath}`.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (segments.length === 0) return null;
      segments.pop();
      continue;
    }
    segments.push(segment);
  }
  return segments.length > 0 ? segments.join('/') : null;
}

/** Decompresses when the bytes are gzip (what `src code-intel upload` sends); raw SCIP passes as is. */
export async function* maybeGunzip(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const iterator = chunks[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) return;
  const rest = (async function* () {
    yield first.value;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  })();
  if (first.value[0] !== 0x1f || first.value[1] !== 0x8b) {
    yield* rest;
    return;
  }
  const gunzip = createGunzip();
  const feeding = (async () => {
    try {
      for await (const chunk of rest) if (!gunzip.write(chunk)) await once(gunzip, 'drain');
      gunzip.end();
    } catch (err) {
      gunzip.destroy(err as Error);
    }
  })();
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) yield chunk;
    await feeding;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'Z_BUF_ERROR') throw new AppError('codeintel.invalid_gzip', 'the upload is truncated: its gzip stream ends early');
    if (typeof code === 'string' && code.startsWith('Z_')) throw new AppError('codeintel.invalid_gzip', `the upload is not a valid gzip stream: ${(err as Error).message}`);
    throw err;
  } finally {
    gunzip.destroy();
  }
}

export class ScipImporter {
  /** Global symbol name → id. Local symbols get ids from the same counter, per document. */
  private readonly globalIds = new Map<string, number>();
  private nextSymbolId = 0;
  private readonly documented = new Set<number>();
  private readonly definedPackages = new Map<string, { manager: string; name: string; version: string }>();
  private pendingDocuments: DocumentInsert[] = [];
  private pendingSymbols: SymbolInsert[] = [];
  private pendingLateDocs: Array<{ id: number; documentation: string }> = [];
  private pendingBytes = 0;
  /** The global symbols' definitions and references since the last segment was written. */
  private readonly segmentBuffer = new SymbolSegment(SEGMENT_ENTRIES);
  private segment = 0;
  private nextDocumentId = 0;
  private readonly counts: ImportCounts = { numDocuments: 0, numOccurrences: 0, numSymbols: 0, numDroppedPaths: 0, numSkippedOccurrences: 0 };

  constructor(
    private readonly store: CodeIntelStore,
    private readonly options: ImportOptions,
  ) {}

  /** Reads the whole (possibly gzip-compressed) index and writes its rows. Throws AppError for a bad index. */
  async import(bytes: AsyncIterable<Buffer>): Promise<ImportCounts & { indexer: string; indexerVersion: string }> {
    let indexer = '';
    let indexerVersion = '';
    for await (const item of readScipIndex(maybeGunzip(bytes))) {
      if (item.kind === 'metadata') {
        indexer = item.metadata.toolInfo?.name ?? '';
        indexerVersion = item.metadata.toolInfo?.version ?? '';
      } else if (item.kind === 'document') {
        const n = item.document.occurrences.length;
        if (n > SEGMENT_ENTRIES) throw new AppError('codeintel.invalid_scip', `the index is too large to process: document ${item.index} (${item.document.relativePath}) has ${n} occurrences, over the limit of ${SEGMENT_ENTRIES} per document`);
        if (this.segmentBuffer.length + n > SEGMENT_FLUSH_ENTRIES) await this.flushSegment();
        this.addDocument(item.document);
        this.options.onDocument?.();
        if (this.pendingDocuments.length >= BATCH_DOCUMENTS || this.pendingBytes >= BATCH_BYTES) await this.flushDocuments();
        
      } else {
        this.addExternalSymbol(item.symbol);
      }
    }
    await this.flushDocuments();
    await this.flushSegment();
    await this.store.insertPackages(this.options.uploadId, [...this.definedPackages.values()]);
    return { ...this.counts, indexer, indexerVersion };
  }

  private globalSymbol(name: string): number {
    let id = this.globalIds.get(name);
    if (id === undefined) {
      id = this.nextSymbolId++;
      this.globalIds.set(name, id);
      this.pendingSymbols.push({ id, name, documentId: null, documentation: null });
      this.counts.numSymbols++;
    }
    return id;
  }

  /** Records a global symbol's hover text (SCIP gives it once, in one document or the external symbols). */
  private documentGlobal(name: string, documentation: string): void {
    const known = this.globalIds.has(name);
    const id = this.globalSymbol(name);
    if (this.documented.has(id)) return;
    this.documented.add(id);
    // A row still pending takes it at insert; one written already is updated.
    const pending = known ? undefined : this.pendingSymbols[this.pendingSymbols.length - 1];
    if (pending && pending.id === id) pending.documentation = documentation;
    else this.pendingLateDocs.push({ id, documentation });
  }

  private addDocument(document: Document): void {
    const path = repositoryPath(this.options.root, document.relativePath);
    if (path === null || (this.options.commitFiles && !this.options.commitFiles.has(path))) {
      this.counts.numDroppedPaths++;
      return;
    }
    const documentId = this.nextDocumentId++;
    let localDocs: Map<string, string> | undefined;
    for (const info of document.symbols) {
      if (!info.symbol) continue;
      const documentation = documentationOf(info);
      if (documentation === null) continue;
      if (isLocalSymbol(info.symbol)) (localDocs ??= new Map()).set(info.symbol, documentation);
      else this.documentGlobal(info.symbol, documentation);
    }
    const locals = new Map<string, number>();
    const occurrences: PackedOccurrence[] = [];
    for (const occ of document.occurrences) {
      const r = occ.range;
      const symbol = occ.symbol;
      const four = r.length === 4;
      if (!symbol || (r.length !== 3 && !four) || r[0]! < 0 || r[1]! < 0 || r[2]! < 0 || (four && r[3]! < 0)) {
        this.counts.numSkippedOccurrences++;
        continue;
      }
      let symbolId: number;
      let roles = occ.symbolRoles & ~LOCAL_SYMBOL_FLAG;
      if (symbol.startsWith('local ')) {
        let id = locals.get(symbol);
        if (id === undefined) {
          id = this.nextSymbolId++;
          locals.set(symbol, id);
          this.counts.numSymbols++;
          const documentation = localDocs?.get(symbol);
          // A local symbol needs a row only for its hover text: its occurrences are all in this document.
          if (documentation !== undefined) this.pendingSymbols.push({ id, name: symbol, documentId, documentation });
        }
        symbolId = id;
        roles |= LOCAL_SYMBOL_FLAG;
      } else {
        symbolId = this.globalSymbol(symbol);
        if (roles & DEFINITION_ROLE) {
          const pkg = symbolPackage(symbol);
          if (pkg && pkg.name) this.definedPackages.set(`${pkg.manager}\u0000${pkg.name}\u0000${pkg.version}`, { manager: pkg.manager, name: pkg.name, version: pkg.version });
        }
      }
      occurrences.push({ startLine: r[0]!, startCharacter: r[1]!, endLine: four ? r[2]! : r[0]!, endCharacter: four ? r[3]! : r[2]!, symbolId, roles });
    }
    occurrences.sort(compareRanges);
    const segment = this.segmentBuffer;
    for (const o of occurrences) {
      if (o.roles & LOCAL_SYMBOL_FLAG) continue;
      segment.add(o.symbolId, documentId, o.startLine, o.startCharacter, o.endLine, o.endCharacter, (o.roles & DEFINITION_ROLE) !== 0);
    }
    const packed = packOccurrences(occurrences);
    this.pendingDocuments.push({ id: documentId, path, occurrences: packed });
    this.pendingBytes += packed.length;
    this.counts.numDocuments++;
    this.counts.numOccurrences += occurrences.length;
  }

  private addExternalSymbol(info: SymbolInformation): void {
    if (!info.symbol || isLocalSymbol(info.symbol)) return;
    const documentation = documentationOf(info);
    if (documentation !== null) this.documentGlobal(info.symbol, documentation);
  }

  private async flushDocuments(): Promise<void> {
    const { uploadId } = this.options;
    const [documents, symbols, lateDocs] = [this.pendingDocuments, this.pendingSymbols, this.pendingLateDocs];
    this.pendingDocuments = [];
    this.pendingSymbols = [];
    this.pendingLateDocs = [];
    this.pendingBytes = 0;
    // Symbols first: late documentation updates rows inserted by this or an earlier batch.
    for (let i = 0; i < symbols.length; i += LOCATION_ROWS_PER_INSERT) await this.store.insertSymbols(uploadId, symbols.slice(i, i + LOCATION_ROWS_PER_INSERT));
    await this.store.setSymbolDocumentation(uploadId, lateDocs);
    await this.store.insertDocuments(uploadId, documents);
  }

  /** Writes the buffered definitions and references as one segment: a row per symbol that has some. */
  private async flushSegment(): Promise<void> {
    if (this.segmentBuffer.length === 0) return;
    await this.flushDocuments();
    const segment = this.segment++;
    const packed = this.segmentBuffer.take();
    for (let i = 0; i < packed.length; i += LOCATION_ROWS_PER_INSERT) {
      await this.store.insertSymbolLocations(this.options.uploadId, packed.slice(i, i + LOCATION_ROWS_PER_INSERT).map((p) => ({ ...p, segment })));
    }
  }
}
