// The coordinator's worker that processes SCIP uploads: claims a queued upload (SKIP LOCKED, so replicas
// share the work), heartbeats it, imports it document by document, then marks it completed (replacing an
// older upload of the same commit, root and indexer) or errored with a readable reason. Nothing of a
// failed upload stays stored: its rows are deleted, and queries only ever read completed uploads.
import { AppError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { repositoryDirFor } from '../git/repository-mirror.js';
import type { CodeIntelStore, UploadRow } from '../store/codeintel-store.js';
import type { FileStore } from '../store/file-store.js';
import { RepositoryReader } from './repository-reader.js';
import { ScipImporter } from './scip-importer.js';
import { deleteUploadBlob, readUploadBlob } from './upload-blobs.js';

export interface UploadProcessorOptions {
  /** How often to look for queued uploads when not woken, in ms. */
  pollIntervalMs: number;
  /** How often a processing upload's heartbeat is refreshed, in ms. */
  heartbeatIntervalMs: number;
  /** A processing upload without a heartbeat for this long is requeued, in ms. */
  stalledMaxAgeMs: number;
  /** Requeues before an upload errors. */
  maxResets: number;
}

export class UploadProcessor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private wakeRequested = false;

  constructor(
    private readonly store: CodeIntelStore,
    private readonly files: FileStore,
    private readonly repositoriesDir: string,
    private readonly logger: Logger,
    private readonly options: UploadProcessorOptions,
  ) {}

  start(): void {
    this.schedule(0);
  }

  /** Looks for work now (an upload was just queued on this replica). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.wakeRequested = true;
      return;
    }
    this.schedule(0);
  }

  /** Stops taking uploads and waits for the one in progress. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.drain().finally(() => {
        this.running = undefined;
        const again = this.wakeRequested;
        this.wakeRequested = false;
        this.schedule(again ? 0 : this.options.pollIntervalMs);
      });
    }, delayMs);
    this.timer.unref?.();
  }

  /** Processes queued uploads until none is left (or stop). */
  private async drain(): Promise<void> {
    try {
      const { resetIds, erroredIds } = await this.store.resetStalledUploads(this.options.stalledMaxAgeMs, this.options.maxResets);
      if (resetIds.length > 0) this.logger.warn('requeued uploads whose processing stopped', { uploadIds: resetIds });
      if (erroredIds.length > 0) this.logger.warn('uploads whose processing stopped too many times errored', { uploadIds: erroredIds });
      while (!this.stopped && (await this.processNext())) {
        // next
      }
    } catch (err) {
      this.logger.error('upload processing loop failed', { err: (err as Error).stack ?? String(err) });
    }
  }

  /** Processes one queued upload; false when there was none. */
  async processNext(): Promise<boolean> {
    const upload = await this.store.dequeueUpload();
    if (!upload) return false;
    await this.process(upload);
    return true;
  }

  private async process(upload: UploadRow): Promise<void> {
    const logger = this.logger.with({ uploadId: upload.id, repository: upload.repositoryName, commit: upload.commit });
    const started = performance.now();
    const heartbeat = setInterval(() => void this.store.heartbeatUpload(upload.id).catch(() => undefined), this.options.heartbeatIntervalMs);
    try {
      const reader = new RepositoryReader(repositoryDirFor(this.repositoriesDir, upload.repositoryName));
      if (!(await reader.hasCommit(upload.commit))) {
        throw new AppError('codeintel.unknown_commit', `commit ${upload.commit} is not in repository ${upload.repositoryName}: fetch it (POST /api/v1/repositories) and upload again`);
      }
      const commitFiles = new Set(await reader.listFiles(upload.commit));
      // An earlier attempt (a coordinator that stopped mid-way) may have left rows.
      await this.store.deleteUploadData(upload.id);
      const importer = new ScipImporter(this.store, { uploadId: upload.id, root: upload.root, commitFiles });
      const counts = await importer.import(readUploadBlob(this.files, upload.id));
      if (counts.numDocuments === 0 && counts.numDroppedPaths > 0) {
        throw new AppError('codeintel.no_documents', `none of the index's ${counts.numDroppedPaths} documents is a file of commit ${upload.commit} under root ${JSON.stringify(upload.root || '.')} (was it indexed from another directory?)`);
      }
      const replaced = await this.store.completeUpload(upload.id, counts);
      if (replaced === null) {
        // Requeued meanwhile (this replica looked dead): the other attempt owns it now.
        logger.warn('upload was taken from this coordinator while it processed it');
        return;
      }
      for (const old of replaced) await this.store.deleteUploadData(old);
      await deleteUploadBlob(this.files, upload.id);
      logger.info('processed upload', {
        documents: counts.numDocuments,
        occurrences: counts.numOccurrences,
        symbols: counts.numSymbols,
        droppedPaths: counts.numDroppedPaths,
        replaced,
        durationMs: Math.round(performance.now() - started),
      });
    } catch (err) {
      const message = err instanceof AppError ? err.message : `processing failed: ${(err as Error).message}`;
      if (!(err instanceof AppError)) logger.error('processing an upload failed', { err: (err as Error).stack ?? String(err) });
      else logger.warn('upload errored', { reason: message });
      await this.store.deleteUploadData(upload.id).catch(() => undefined);
      await this.store.markUploadErrored(upload.id, message);
      await deleteUploadBlob(this.files, upload.id).catch(() => undefined);
    } finally {
      clearInterval(heartbeat);
    }
  }
}
