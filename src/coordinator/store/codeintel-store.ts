// The SQL of code intelligence: index configurations, policies, the index jobs the coordinator queued
// (the jobs themselves go through JobStore), what scheduling decided per repository, SCIP uploads and
// their states, and the processed indexes (documents, symbols, symbol locations, packages).
import type { Database, Queryable } from './database.js';
import { USER_READS_REPOSITORY } from './repository-store.js';

/**
 * uploading (multipart: parts arriving) → queued (blob complete) → processing (a coordinator reads it)
 * → completed | errored. A processing upload whose coordinator stopped heartbeating goes back to queued
 * (at most COORDINATOR_MAX_NUM_RESETS times, then errored).
 */
export type UploadState = 'uploading' | 'queued' | 'processing' | 'completed' | 'errored';

export interface UploadRow {
  id: number;
  repositoryName: string;
  commit: string;
  root: string;
  indexer: string;
  indexerVersion: string;
  associatedIndexId: number | null;
  uploadedBy: string;
  state: UploadState;
  numParts: number;
  uploadedParts: number[];
  uncompressedSize: number | null;
  compressedSize: number;
  failureMessage: string | null;
  replacedBy: number | null;
  uploadedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  numResets: number;
  numDocuments: number;
  numOccurrences: number;
  numSymbols: number;
  numDroppedPaths: number;
}

const UPLOAD_COLUMNS = `id, repository_name AS "repositoryName", commit, root, indexer, indexer_version AS "indexerVersion",
  associated_index_id AS "associatedIndexId", uploaded_by AS "uploadedBy", state, num_parts AS "numParts",
  uploaded_parts AS "uploadedParts", uncompressed_size AS "uncompressedSize", compressed_size AS "compressedSize",
  failure_message AS "failureMessage", replaced_by AS "replacedBy", uploaded_at AS "uploadedAt", started_at AS "startedAt",
  finished_at AS "finishedAt", num_resets AS "numResets", num_documents AS "numDocuments", num_occurrences AS "numOccurrences",
  num_symbols AS "numSymbols", num_dropped_paths AS "numDroppedPaths"`;
/** UPLOAD_COLUMNS of the table aliased `alias`. */
const uploadColumns = (alias: string) => UPLOAD_COLUMNS.split(',').map((c) => `${alias}.${c.trim()}`).join(', ');

export interface NewUpload {
  repositoryName: string;
  commit: string;
  root: string;
  indexer: string;
  indexerVersion: string;
  associatedIndexId: number | null;
  uploadedBy: string;
  numParts: number;
  uncompressedSize: number | null;
}

/** Where an index record came from. */
export type IndexJobSource = 'inferred' | 'sourcegraph.yaml' | 'api';

export interface NewIndexJob {
  jobId: number;
  repositoryName: string;
  commit: string;
  root: string;
  indexer: string;
  indexerName: string;
  outfile: string;
  source: IndexJobSource;
  configHash: string;
  requestedEnvVars: string[];
}

/** An index job with its job's state (the codeintel job in `jobs`). */
export interface IndexJobRow extends NewIndexJob {
  state: string;
  failureMessage: string | null;
  queuedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  createdAt: Date;
  uploadId: number | null;
  uploadState: UploadState | null;
}

const INDEX_JOB_COLUMNS = `i.job_id AS "jobId", i.repository_name AS "repositoryName", i.commit, i.root, i.indexer,
  i.indexer_name AS "indexerName", i.outfile, i.source, i.config_hash AS "configHash", i.requested_env_vars AS "requestedEnvVars",
  i.created_at AS "createdAt", j.state, j.failure_message AS "failureMessage", j.queued_at AS "queuedAt",
  j.started_at AS "startedAt", j.finished_at AS "finishedAt",
  (SELECT u.id FROM codeintel_uploads u WHERE u.associated_index_id = i.job_id ORDER BY u.id DESC LIMIT 1) AS "uploadId",
  (SELECT u.state FROM codeintel_uploads u WHERE u.associated_index_id = i.job_id ORDER BY u.id DESC LIMIT 1) AS "uploadState"`;

export interface PolicyRow {
  id: number;
  name: string;
  repositoryPattern: string;
  branch: string;
  intervalMs: number;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

const POLICY_COLUMNS = `id, name, repository_pattern AS "repositoryPattern", branch, interval_ms AS "intervalMs", enabled,
  created_at AS "createdAt", updated_at AS "updatedAt"`;

/** What scheduling a repository decided last (see the migration for the outcomes). */
export interface RepositoryStatusRow {
  repositoryName: string;
  commit: string;
  outcome: string;
  message: string;
  checkedAt: Date;
}

export interface DocumentInsert {
  id: number;
  path: string;
  occurrences: Buffer;
}

export interface SymbolInsert {
  id: number;
  name: string;
  documentId: number | null;
  documentation: string | null;
}

export interface SymbolLocationInsert {
  symbolId: number;
  segment: number;
  /** Packed (document, range) lists (DocumentRangeWriter), or null for none. */
  definitions: Buffer | null;
  references: Buffer | null;
}

export interface SymbolLocationRow {
  uploadId: number;
  symbolId: number;
  segment: number;
  definitions: Uint8Array | null;
  references: Uint8Array | null;
}

const hex = (b: Buffer | null) => (b === null ? null : b.toString('hex'));

export class CodeIntelStore {
  constructor(private readonly db: Database) {}

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  // --- uploads ---------------------------------------------------------------------------------------

  async insertUpload(u: NewUpload, state: UploadState): Promise<number> {
    const rows = await this.db.query<{ id: number }>(
      `INSERT INTO codeintel_uploads (repository_name, commit, root, indexer, indexer_version, associated_index_id, uploaded_by, state, num_parts, uncompressed_size)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
      [u.repositoryName, u.commit, u.root, u.indexer, u.indexerVersion, u.associatedIndexId, u.uploadedBy, state, u.numParts, u.uncompressedSize],
    );
    return rows[0]!.id;
  }

  async getUpload(id: number): Promise<UploadRow | null> {
    return (await this.db.query<UploadRow>(`SELECT ${UPLOAD_COLUMNS} FROM codeintel_uploads WHERE id = $1`, [id]))[0] ?? null;
  }

  /** Records part `index` (of an upload still uploading) as stored; false when the upload is not uploading. */
  async addUploadPart(id: number, index: number, bytes: number): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE codeintel_uploads SET
         uploaded_parts = CASE WHEN $2 = ANY(uploaded_parts) THEN uploaded_parts ELSE array_append(uploaded_parts, $2) END,
         compressed_size = compressed_size + $3
       WHERE id = $1 AND state = 'uploading' RETURNING id`,
      [id, index, bytes],
    );
    return rows.length > 0;
  }

  /** uploading → queued, once every part is stored; false when it is not uploading (any more). */
  async markUploadQueued(id: number, compressedSize?: number): Promise<boolean> {
    const rows = await this.db.query(
      `UPDATE codeintel_uploads SET state = 'queued', compressed_size = COALESCE($2, compressed_size)
       WHERE id = $1 AND state = 'uploading' RETURNING id`,
      [id, compressedSize ?? null],
    );
    return rows.length > 0;
  }

  async markUploadErrored(id: number, message: string): Promise<void> {
    await this.db.query(
      `UPDATE codeintel_uploads SET state = 'errored', failure_message = $2, finished_at = now(), last_heartbeat_at = NULL WHERE id = $1`,
      [id, message],
    );
  }

  /** A page of uploads, newest first; with `readableBy`, only those of repositories that user may read (so a page is full). */
  async listUploads(options: { repositoryName?: string; states?: UploadState[]; limit: number; beforeId?: number; readableBy?: number }): Promise<UploadRow[]> {
    return this.db.query<UploadRow>(
      `SELECT ${UPLOAD_COLUMNS} FROM codeintel_uploads
       WHERE ($1::text IS NULL OR repository_name = $1) AND (cardinality($2::text[]) = 0 OR state = ANY($2::text[]))
         AND ($3::bigint IS NULL OR id < $3)
         AND ($5::bigint IS NULL OR EXISTS (SELECT 1 FROM repositories r WHERE r.name = codeintel_uploads.repository_name AND ${USER_READS_REPOSITORY('$5::bigint')}))
       ORDER BY id DESC LIMIT $4`,
      [options.repositoryName ?? null, options.states ?? [], options.beforeId ?? null, options.limit, options.readableBy ?? null],
    );
  }

  /** Claims the oldest queued upload for processing (SKIP LOCKED: replicas share the work). */
  async dequeueUpload(): Promise<UploadRow | null> {
    const rows = await this.db.query<UploadRow>(
      `UPDATE codeintel_uploads SET state = 'processing', started_at = now(), last_heartbeat_at = now(), failure_message = NULL
       WHERE id = (SELECT id FROM codeintel_uploads WHERE state = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING ${UPLOAD_COLUMNS}`,
    );
    return rows[0] ?? null;
  }

  async heartbeatUpload(id: number): Promise<void> {
    await this.db.query(`UPDATE codeintel_uploads SET last_heartbeat_at = now() WHERE id = $1 AND state = 'processing'`, [id]);
  }

  /** Processing uploads without a heartbeat for `maxAgeMs` go back to queued, or errored after `maxResets`. */
  async resetStalledUploads(maxAgeMs: number, maxResets: number): Promise<{ resetIds: number[]; erroredIds: number[] }> {
    const rows = await this.db.query<{ id: number; errored: boolean }>(
      `UPDATE codeintel_uploads SET
         state = CASE WHEN num_resets >= $2 THEN 'errored' ELSE 'queued' END,
         failure_message = CASE WHEN num_resets >= $2 THEN 'the coordinator processing this upload stopped too many times' ELSE failure_message END,
         finished_at = CASE WHEN num_resets >= $2 THEN now() ELSE NULL END,
         num_resets = num_resets + 1, last_heartbeat_at = NULL
       WHERE state = 'processing' AND last_heartbeat_at < now() - $1 * interval '1 millisecond'
       RETURNING id, state = 'errored' AS errored`,
      [maxAgeMs, maxResets],
    );
    return { resetIds: rows.filter((r) => !r.errored).map((r) => r.id), erroredIds: rows.filter((r) => r.errored).map((r) => r.id) };
  }

  /**
   * processing → completed with its counts, in one transaction with the replacement: older completed
   * uploads of the same (repository, commit, root, indexer) get `replaced_by`. Returns the replaced ids
   * (their data is deleted afterwards), or null when the upload was no longer processing.
   */
  async completeUpload(id: number, counts: { numDocuments: number; numOccurrences: number; numSymbols: number; numDroppedPaths: number }): Promise<number[] | null> {
    return this.db.transaction(async (tx) => {
      const done = await tx.query<{ repositoryName: string; commit: string; root: string; indexer: string }>(
        `UPDATE codeintel_uploads SET state = 'completed', finished_at = now(), last_heartbeat_at = NULL,
           num_documents = $2, num_occurrences = $3, num_symbols = $4, num_dropped_paths = $5
         WHERE id = $1 AND state = 'processing'
         RETURNING repository_name AS "repositoryName", commit, root, indexer`,
        [id, counts.numDocuments, counts.numOccurrences, counts.numSymbols, counts.numDroppedPaths],
      );
      const u = done[0];
      if (!u) return null;
      const replaced = await tx.query<{ id: number }>(
        `UPDATE codeintel_uploads SET replaced_by = $1
         WHERE repository_name = $2 AND commit = $3 AND root = $4 AND indexer = $5 AND state = 'completed' AND replaced_by IS NULL AND id <> $1
         RETURNING id`,
        [id, u.repositoryName, u.commit, u.root, u.indexer],
      );
      return replaced.map((r) => r.id);
    });
  }

  /** Deletes an upload's processed data (documents, symbols, locations, packages); the upload row stays. */
  async deleteUploadData(id: number): Promise<void> {
    for (const table of ['codeintel_symbol_locations', 'codeintel_symbols', 'codeintel_documents', 'codeintel_packages']) {
      await this.db.query(`DELETE FROM ${table} WHERE upload_id = $1`, [id]);
    }
  }

  async insertDocuments(uploadId: number, docs: readonly DocumentInsert[]): Promise<void> {
    if (docs.length === 0) return;
    await this.db.query(
      `INSERT INTO codeintel_documents (upload_id, id, path, occurrences)
       SELECT $1, d.id, d.path, decode(d.occ, 'hex') FROM unnest($2::int[], $3::text[], $4::text[]) AS d(id, path, occ)`,
      [uploadId, docs.map((d) => d.id), docs.map((d) => d.path), docs.map((d) => d.occurrences.toString('hex'))],
    );
  }

  async insertSymbols(uploadId: number, symbols: readonly SymbolInsert[]): Promise<void> {
    if (symbols.length === 0) return;
    await this.db.query(
      `INSERT INTO codeintel_symbols (upload_id, id, name, document_id, documentation)
       SELECT $1, s.id, s.name, s.doc_id, s.documentation FROM unnest($2::int[], $3::text[], $4::int[], $5::text[]) AS s(id, name, doc_id, documentation)`,
      [uploadId, symbols.map((s) => s.id), symbols.map((s) => s.name), symbols.map((s) => s.documentId), symbols.map((s) => s.documentation)],
    );
  }

  /** Sets documentation where a symbol has none yet (SCIP puts a symbol's information in one document, or in external symbols). */
  async setSymbolDocumentation(uploadId: number, docs: ReadonlyArray<{ id: number; documentation: string }>): Promise<void> {
    if (docs.length === 0) return;
    await this.db.query(
      `UPDATE codeintel_symbols s SET documentation = d.documentation
       FROM unnest($2::int[], $3::text[]) AS d(id, documentation)
       WHERE s.upload_id = $1 AND s.id = d.id AND s.documentation IS NULL`,
      [uploadId, docs.map((d) => d.id), docs.map((d) => d.documentation)],
    );
  }

  async insertSymbolLocations(uploadId: number, rows: readonly SymbolLocationInsert[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db.query(
      `INSERT INTO codeintel_symbol_locations (upload_id, symbol_id, segment, definitions, "references")
       SELECT $1, l.symbol_id, l.segment, decode(l.defs, 'hex'), decode(l.refs, 'hex')
       FROM unnest($2::int[], $3::int[], $4::text[], $5::text[]) AS l(symbol_id, segment, defs, refs)`,
      [uploadId, rows.map((r) => r.symbolId), rows.map((r) => r.segment), rows.map((r) => hex(r.definitions)), rows.map((r) => hex(r.references))],
    );
  }

  async insertPackages(uploadId: number, packages: ReadonlyArray<{ manager: string; name: string; version: string }>): Promise<void> {
    if (packages.length === 0) return;
    await this.db.query(
      `INSERT INTO codeintel_packages (upload_id, manager, name, version)
       SELECT $1, p.manager, p.name, p.version FROM unnest($2::text[], $3::text[], $4::text[]) AS p(manager, name, version)
       ON CONFLICT DO NOTHING`,
      [uploadId, packages.map((p) => p.manager), packages.map((p) => p.name), packages.map((p) => p.version)],
    );
  }

  // --- reading processed indexes ---------------------------------------------------------------------

  /** Current (completed, not replaced) uploads of a commit whose root holds `path`, deepest root first. */
  async uploadsForPath(repositoryName: string, commit: string, path: string): Promise<UploadRow[]> {
    return this.db.query<UploadRow>(
      `SELECT ${UPLOAD_COLUMNS} FROM codeintel_uploads
       WHERE repository_name = $1 AND commit = $2 AND state = 'completed' AND replaced_by IS NULL
         AND (root = '' OR left($3, length(root)) = root)
       ORDER BY length(root) DESC, id DESC`,
      [repositoryName, commit, path],
    );
  }

  /**
   * The document at `path` of the commit's current uploads, with its upload, deepest root first: the
   * first step of every navigation query, in one round trip.
   */
  async documentsAt(repositoryName: string, commit: string, path: string): Promise<Array<{ upload: UploadRow; documentId: number; occurrences: Uint8Array }>> {
    const rows = await this.db.query<UploadRow & { documentId: number; occurrences: Uint8Array }>(
      `SELECT ${uploadColumns('u')}, d.id AS "documentId", d.occurrences
       FROM codeintel_uploads u JOIN codeintel_documents d ON d.upload_id = u.id AND d.path = $3
       WHERE u.repository_name = $1 AND u.commit = $2 AND u.state = 'completed' AND u.replaced_by IS NULL
       ORDER BY length(u.root) DESC, u.id DESC`,
      [repositoryName, commit, path],
    );
    return rows.map(({ documentId, occurrences, ...upload }) => ({ upload: upload as UploadRow, documentId, occurrences }));
  }

  /** Of `commits`, those of the repository with a current upload. */
  async indexedCommits(repositoryName: string, commits: readonly string[]): Promise<string[]> {
    const rows = await this.db.query<{ commit: string }>(
      `SELECT DISTINCT commit FROM codeintel_uploads
       WHERE repository_name = $1 AND commit = ANY($2::text[]) AND state = 'completed' AND replaced_by IS NULL`,
      [repositoryName, commits],
    );
    return rows.map((r) => r.commit);
  }

  /** The repository's indexed commits, most recently uploaded first. */
  async recentIndexedCommits(repositoryName: string, limit: number): Promise<string[]> {
    const rows = await this.db.query<{ commit: string }>(
      `SELECT commit FROM codeintel_uploads WHERE repository_name = $1 AND state = 'completed' AND replaced_by IS NULL
       GROUP BY commit ORDER BY max(id) DESC LIMIT $2`,
      [repositoryName, limit],
    );
    return rows.map((r) => r.commit);
  }

  async getDocument(uploadId: number, path: string): Promise<{ id: number; occurrences: Uint8Array } | null> {
    const rows = await this.db.query<{ id: number; occurrences: Uint8Array }>(
      `SELECT id, occurrences FROM codeintel_documents WHERE upload_id = $1 AND path = $2`,
      [uploadId, path],
    );
    return rows[0] ?? null;
  }

  async documentPaths(uploadId: number, ids: readonly number[]): Promise<Map<number, string>> {
    const rows = await this.db.query<{ id: number; path: string }>(`SELECT id, path FROM codeintel_documents WHERE upload_id = $1 AND id = ANY($2::int[])`, [uploadId, ids]);
    return new Map(rows.map((r) => [r.id, r.path]));
  }

  /** Every document path of an upload by id (an upload's documents never change once it completed). */
  async allDocumentPaths(uploadId: number): Promise<Map<number, string>> {
    const rows = await this.db.query<{ id: number; path: string }>(`SELECT id, path FROM codeintel_documents WHERE upload_id = $1`, [uploadId]);
    return new Map(rows.map((r) => [r.id, r.path]));
  }

  async listDocumentPaths(uploadId: number, limit: number): Promise<string[]> {
    const rows = await this.db.query<{ path: string }>(`SELECT path FROM codeintel_documents WHERE upload_id = $1 ORDER BY path LIMIT $2`, [uploadId, limit]);
    return rows.map((r) => r.path);
  }

  async symbolsByIds(uploadId: number, ids: readonly number[]): Promise<Array<{ id: number; name: string; documentId: number | null; documentation: string | null }>> {
    return this.db.query(
      `SELECT id, name, document_id AS "documentId", documentation FROM codeintel_symbols WHERE upload_id = $1 AND id = ANY($2::int[])`,
      [uploadId, ids],
    );
  }

  /** The global symbol `name` in each of `uploadIds` (or in every current upload when undefined). */
  async findGlobalSymbols(name: string, uploadIds?: readonly number[]): Promise<Array<{ uploadId: number; id: number; documentation: string | null }>> {
    return this.db.query(
      `SELECT s.upload_id AS "uploadId", s.id, s.documentation FROM codeintel_symbols s
       JOIN codeintel_uploads u ON u.id = s.upload_id AND u.state = 'completed' AND u.replaced_by IS NULL
       WHERE md5(s.name) = md5($1) AND s.name = $1 AND s.document_id IS NULL AND ($2::bigint[] IS NULL OR s.upload_id = ANY($2::bigint[]))
       ORDER BY s.upload_id`,
      [name, uploadIds ?? null],
    );
  }

  /** Current uploads that define symbols of a package, newest first. */
  async uploadsDefiningPackage(manager: string, name: string, version: string): Promise<number[]> {
    const rows = await this.db.query<{ id: number }>(
      `SELECT u.id FROM codeintel_packages p JOIN codeintel_uploads u ON u.id = p.upload_id AND u.state = 'completed' AND u.replaced_by IS NULL
       WHERE p.manager = $1 AND p.name = $2 AND p.version = $3 ORDER BY u.id DESC LIMIT 10`,
      [manager, name, version],
    );
    return rows.map((r) => r.id);
  }

  /** The location rows (segments, in order) of symbols of an upload. */
  async symbolLocations(uploadId: number, symbolIds: readonly number[]): Promise<SymbolLocationRow[]> {
    if (symbolIds.length === 0) return [];
    return this.db.query<SymbolLocationRow>(
      `SELECT upload_id AS "uploadId", symbol_id AS "symbolId", segment, definitions, "references"
       FROM codeintel_symbol_locations WHERE upload_id = $1 AND symbol_id = ANY($2::int[]) ORDER BY symbol_id, segment`,
      [uploadId, symbolIds],
    );
  }

  /** Only the definitions of symbols of an upload (a file view's links), segments in order. */
  async symbolDefinitions(uploadId: number, symbolIds: readonly number[]): Promise<Array<{ symbolId: number; definitions: Uint8Array }>> {
    if (symbolIds.length === 0) return [];
    return this.db.query(
      `SELECT symbol_id AS "symbolId", definitions FROM codeintel_symbol_locations
       WHERE upload_id = $1 AND symbol_id = ANY($2::int[]) AND definitions IS NOT NULL ORDER BY symbol_id, segment`,
      [uploadId, symbolIds],
    );
  }

  // --- index jobs ------------------------------------------------------------------------------------

  async insertIndexJob(q: Queryable, row: NewIndexJob): Promise<void> {
    await q.query(
      `INSERT INTO codeintel_index_jobs (job_id, repository_name, commit, root, indexer, indexer_name, outfile, source, config_hash, requested_env_vars)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [row.jobId, row.repositoryName, row.commit, row.root, row.indexer, row.indexerName, row.outfile, row.source, row.configHash, row.requestedEnvVars],
    );
  }

  async getIndexJob(jobId: number): Promise<IndexJobRow | null> {
    return (await this.db.query<IndexJobRow>(`SELECT ${INDEX_JOB_COLUMNS} FROM codeintel_index_jobs i JOIN jobs j ON j.id = i.job_id WHERE i.job_id = $1`, [jobId]))[0] ?? null;
  }

  /** A page of index jobs, newest first; with `readableBy`, only those of repositories that user may read (so a page is full). */
  async listIndexJobs(options: { repositoryName?: string; limit: number; beforeId?: number; readableBy?: number }): Promise<IndexJobRow[]> {
    return this.db.query<IndexJobRow>(
      `SELECT ${INDEX_JOB_COLUMNS} FROM codeintel_index_jobs i JOIN jobs j ON j.id = i.job_id
       WHERE ($1::text IS NULL OR i.repository_name = $1) AND ($2::bigint IS NULL OR i.job_id < $2)
         AND ($4::bigint IS NULL OR EXISTS (SELECT 1 FROM repositories r WHERE r.name = i.repository_name AND ${USER_READS_REPOSITORY('$4::bigint')}))
       ORDER BY i.job_id DESC LIMIT $3`,
      [options.repositoryName ?? null, options.beforeId ?? null, options.limit, options.readableBy ?? null],
    );
  }

  /** A job for the same (repository, commit, root, indexer) that is queued, processing or completed: a duplicate. */
  async liveIndexJob(q: Queryable, key: { repositoryName: string; commit: string; root: string; indexerName: string }): Promise<number | null> {
    const rows = await q.query<{ jobId: number }>(
      `SELECT i.job_id AS "jobId" FROM codeintel_index_jobs i JOIN jobs j ON j.id = i.job_id
       WHERE i.repository_name = $1 AND i.commit = $2 AND i.root = $3 AND i.indexer_name = $4 AND j.state IN ('queued', 'processing', 'completed')
       ORDER BY i.job_id DESC LIMIT 1`,
      [key.repositoryName, key.commit, key.root, key.indexerName],
    );
    return rows[0]?.jobId ?? null;
  }

  async queuedIndexJobCount(q: Queryable, repositoryName: string): Promise<number> {
    const rows = await q.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM codeintel_index_jobs i JOIN jobs j ON j.id = i.job_id WHERE i.repository_name = $1 AND j.state IN ('queued', 'processing')`,
      [repositoryName],
    );
    return rows[0]?.n ?? 0;
  }

  /** The latest finished jobs of a (repository, root, indexer), newest first: for the failure back-off. */
  async recentFinishedIndexJobs(q: Queryable, key: { repositoryName: string; root: string; indexerName: string }, limit: number): Promise<Array<{ jobId: number; state: string; configHash: string; failureMessage: string | null }>> {
    return q.query(
      `SELECT i.job_id AS "jobId", j.state, i.config_hash AS "configHash", j.failure_message AS "failureMessage"
       FROM codeintel_index_jobs i JOIN jobs j ON j.id = i.job_id
       WHERE i.repository_name = $1 AND i.root = $2 AND i.indexer_name = $3 AND j.state IN ('completed', 'errored', 'failed')
       ORDER BY i.job_id DESC LIMIT $4`,
      [key.repositoryName, key.root, key.indexerName, limit],
    );
  }

  /** Serialises scheduling of one repository across replicas for the rest of the transaction. */
  async lockRepository(q: Queryable, repositoryName: string): Promise<void> {
    await q.query(`SELECT pg_advisory_xact_lock(7234014, hashtext($1))`, [repositoryName]);
  }

  // --- configurations, policies, status ---------------------------------------------------------------

  async getConfiguration(repositoryName: string): Promise<{ config: unknown; updatedAt: Date } | null> {
    const rows = await this.db.query<{ config: unknown; updatedAt: Date }>(
      `SELECT config, updated_at AS "updatedAt" FROM codeintel_index_configurations WHERE repository_name = $1`,
      [repositoryName],
    );
    return rows[0] ?? null;
  }

  async setConfiguration(repositoryName: string, config: unknown): Promise<void> {
    await this.db.query(
      `INSERT INTO codeintel_index_configurations (repository_name, config) VALUES ($1, $2)
       ON CONFLICT (repository_name) DO UPDATE SET config = excluded.config, updated_at = now()`,
      [repositoryName, JSON.stringify(config)],
    );
  }

  async deleteConfiguration(repositoryName: string): Promise<boolean> {
    return (await this.db.query(`DELETE FROM codeintel_index_configurations WHERE repository_name = $1 RETURNING repository_name`, [repositoryName])).length > 0;
  }

  async listPolicies(): Promise<PolicyRow[]> {
    return this.db.query<PolicyRow>(`SELECT ${POLICY_COLUMNS} FROM codeintel_policies ORDER BY id`);
  }

  async createPolicy(p: { name: string; repositoryPattern: string; branch: string; intervalMs: number; enabled: boolean }): Promise<PolicyRow> {
    const rows = await this.db.query<PolicyRow>(
      `INSERT INTO codeintel_policies (name, repository_pattern, branch, interval_ms, enabled) VALUES ($1, $2, $3, $4, $5) RETURNING ${POLICY_COLUMNS}`,
      [p.name, p.repositoryPattern, p.branch, p.intervalMs, p.enabled],
    );
    return rows[0]!;
  }

  async deletePolicy(id: number): Promise<boolean> {
    return (await this.db.query(`DELETE FROM codeintel_policies WHERE id = $1 RETURNING id`, [id])).length > 0;
  }

  async policyLastRun(policyId: number, repositoryName: string): Promise<Date | null> {
    const rows = await this.db.query<{ at: Date }>(`SELECT last_run_at AS at FROM codeintel_policy_runs WHERE policy_id = $1 AND repository_name = $2`, [policyId, repositoryName]);
    return rows[0]?.at ?? null;
  }

  async setPolicyLastRun(policyId: number, repositoryName: string): Promise<void> {
    await this.db.query(
      `INSERT INTO codeintel_policy_runs (policy_id, repository_name, last_run_at) VALUES ($1, $2, now())
       ON CONFLICT (policy_id, repository_name) DO UPDATE SET last_run_at = now()`,
      [policyId, repositoryName],
    );
  }

  async setRepositoryStatus(status: { repositoryName: string; commit: string; outcome: string; message: string }): Promise<void> {
    await this.db.query(
      `INSERT INTO codeintel_repository_status (repository_name, commit, outcome, message) VALUES ($1, $2, $3, $4)
       ON CONFLICT (repository_name) DO UPDATE SET commit = excluded.commit, outcome = excluded.outcome, message = excluded.message, checked_at = now()`,
      [status.repositoryName, status.commit, status.outcome, status.message],
    );
  }

  async getRepositoryStatus(repositoryName: string): Promise<RepositoryStatusRow | null> {
    const rows = await this.db.query<RepositoryStatusRow>(
      `SELECT repository_name AS "repositoryName", commit, outcome, message, checked_at AS "checkedAt" FROM codeintel_repository_status WHERE repository_name = $1`,
      [repositoryName],
    );
    return rows[0] ?? null;
  }

  /** Per repository: counts of index jobs and uploads (for the UI's overview). */
  async repositorySummaries(): Promise<Array<{ repositoryName: string; indexJobs: number; uploads: number; completedUploads: number }>> {
    return this.db.query(
      `SELECT r.name AS "repositoryName",
         (SELECT count(*)::int FROM codeintel_index_jobs i WHERE i.repository_name = r.name) AS "indexJobs",
         (SELECT count(*)::int FROM codeintel_uploads u WHERE u.repository_name = r.name) AS uploads,
         (SELECT count(*)::int FROM codeintel_uploads u WHERE u.repository_name = r.name AND u.state = 'completed' AND u.replaced_by IS NULL) AS "completedUploads"
       FROM repositories r ORDER BY r.name`,
    );
  }
}
