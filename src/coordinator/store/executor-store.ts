// The executor registry (reference §7.4): one row per executor process, upserted by every heartbeat.
import type { Telemetry } from '../../protocol/requests.js';
import type { Database } from './database.js';

export interface ExecutorRow {
  id: number;
  hostname: string;
  queueName: string | null;
  queueNames: string[] | null;
  os: string;
  architecture: string;
  dockerVersion: string;
  executorVersion: string;
  gitVersion: string;
  igniteVersion: string;
  srcCliVersion: string;
  firstSeenAt: Date;
  lastSeenAt: Date;
}

export interface ExecutorHeartbeat extends Omit<Telemetry, 'prometheusMetrics'> {
  hostname: string;
  /** Exactly one of `queueName` and `queueNames` is set. */
  queueName: string | null;
  queueNames: string[] | null;
  /** Already labelled; null keeps what the last good heartbeat stored, '' clears it. */
  prometheusMetrics: string | null;
}

/** An executor's stored forwarded metrics: its version changes whenever the text does (never reused). */
export interface MetricsDumpVersion {
  hostname: string;
  version: number;
  /** Size of the labelled text in UTF-8 bytes. */
  bytes: number;
}

const EXECUTOR_COLUMNS = `id, hostname, queue_name AS "queueName", queue_names AS "queueNames", os, architecture,
  docker_version AS "dockerVersion", executor_version AS "executorVersion", git_version AS "gitVersion",
  ignite_version AS "igniteVersion", src_cli_version AS "srcCliVersion", first_seen_at AS "firstSeenAt",
  last_seen_at AS "lastSeenAt"`;

export class ExecutorStore {
  constructor(private readonly db: Database) {}

  /**
   * Inserts or updates every field but `first_seen_at`. Resolves to the version of the metrics text now
   * stored: a new one when `prometheusMetrics` is not null, else the one already there (0: none ever).
   */
  async upsert(h: ExecutorHeartbeat): Promise<number> {
    const rows = await this.db.query<{ version: number }>(
      `INSERT INTO executors (hostname, queue_name, queue_names, os, architecture, docker_version, executor_version,
         git_version, ignite_version, src_cli_version, prometheus_metrics, metrics_version)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, ''),
         CASE WHEN $11::text IS NULL THEN 0 ELSE nextval('executor_metrics_versions') END)
       ON CONFLICT (hostname) DO UPDATE SET
         queue_name = excluded.queue_name, queue_names = excluded.queue_names, os = excluded.os,
         architecture = excluded.architecture, docker_version = excluded.docker_version,
         executor_version = excluded.executor_version, git_version = excluded.git_version,
         ignite_version = excluded.ignite_version, src_cli_version = excluded.src_cli_version,
         prometheus_metrics = coalesce($11, executors.prometheus_metrics),
         metrics_version = CASE WHEN $11::text IS NULL THEN executors.metrics_version ELSE excluded.metrics_version END,
         last_seen_at = now()
       RETURNING metrics_version AS version`,
      [h.hostname, h.queueName, h.queueNames, h.os, h.architecture, h.dockerVersion, h.executorVersion, h.gitVersion, h.igniteVersion, h.srcCliVersion, h.prometheusMetrics],
    );
    return rows[0]!.version;
  }

  /**
   * Sorted by first seen, newest first (as the original). `query` matches hostname, queues, os,
   * architecture and versions; `active` keeps those seen within `activeWithinMs` (true) or not (false).
   */
  async list(options: { query?: string; active?: boolean; activeWithinMs: number; limit: number; offset: number }): Promise<{ executors: ExecutorRow[]; totalCount: number }> {
    const where = `($1::text IS NULL OR concat_ws(' ', hostname, queue_name, array_to_string(queue_names, ' '), os, architecture,
        docker_version, executor_version, git_version, ignite_version, src_cli_version) ILIKE '%' || $1 || '%')
      AND ($2::boolean IS NULL OR (last_seen_at >= now() - $3 * interval '1 millisecond') = $2)`;
    const params = [options.query ? options.query.replace(/[\\%_]/g, (c) => '\\' + c) : null, options.active ?? null, options.activeWithinMs];
    const [executors, counts] = await Promise.all([
      this.db.query<ExecutorRow>(`SELECT ${EXECUTOR_COLUMNS} FROM executors WHERE ${where} ORDER BY first_seen_at DESC, id DESC LIMIT $4 OFFSET $5`, [
        ...params,
        options.limit,
        options.offset,
      ]),
      this.db.query<{ count: number }>(`SELECT count(*)::int AS count FROM executors WHERE ${where}`, params),
    ]);
    return { executors, totalCount: counts[0]?.count ?? 0 };
  }

  /**
   * Which executors seen within `seenWithinMs` have forwarded metrics, with each text's version and size
   * but not the text: what a replica's /metrics cache checks before reading any dump. Oldest first seen first.
   */
  metricsVersions(seenWithinMs: number): Promise<MetricsDumpVersion[]> {
    // octet_length of a TOASTed value reads its header, not the value.
    return this.db.query<MetricsDumpVersion>(
      `SELECT hostname, metrics_version AS version, octet_length(prometheus_metrics) AS bytes FROM executors
       WHERE octet_length(prometheus_metrics) > 0 AND last_seen_at >= now() - $1 * interval '1 millisecond'
       ORDER BY first_seen_at, id`,
      [seenWithinMs],
    );
  }

  /** The stored forwarded metrics of these executors, each with its version. */
  metricsTexts(hostnames: readonly string[]): Promise<Array<{ hostname: string; version: number; text: string }>> {
    return this.db.query(`SELECT hostname, metrics_version AS version, prometheus_metrics AS text FROM executors WHERE hostname = ANY($1::text[])`, [hostnames]);
  }

  /** Deletes executors not seen for `maxAgeMs` (reference §7.4, 168 h by default). Returns how many. */
  async deleteNotSeenFor(maxAgeMs: number): Promise<number> {
    const rows = await this.db.query(`DELETE FROM executors WHERE last_seen_at < now() - $1 * interval '1 millisecond' RETURNING id`, [maxAgeMs]);
    return rows.length;
  }
}
