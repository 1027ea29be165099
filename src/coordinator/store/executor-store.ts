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
  /** Already labelled; null keeps what the last good heartbeat stored. */
  prometheusMetrics: string | null;
}

const EXECUTOR_COLUMNS = `id, hostname, queue_name AS "queueName", queue_names AS "queueNames", os, architecture,
  docker_version AS "dockerVersion", executor_version AS "executorVersion", git_version AS "gitVersion",
  ignite_version AS "igniteVersion", src_cli_version AS "srcCliVersion", first_seen_at AS "firstSeenAt",
  last_seen_at AS "lastSeenAt"`;

export class ExecutorStore {
  constructor(private readonly db: Database) {}

  /** Inserts or updates every field but `first_seen_at`. */
  async upsert(h: ExecutorHeartbeat): Promise<void> {
    await this.db.query(
      `INSERT INTO executors (hostname, queue_name, queue_names, os, architecture, docker_version, executor_version,
         git_version, ignite_version, src_cli_version, prometheus_metrics)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, ''))
       ON CONFLICT (hostname) DO UPDATE SET
         queue_name = excluded.queue_name, queue_names = excluded.queue_names, os = excluded.os,
         architecture = excluded.architecture, docker_version = excluded.docker_version,
         executor_version = excluded.executor_version, git_version = excluded.git_version,
         ignite_version = excluded.ignite_version, src_cli_version = excluded.src_cli_version,
         prometheus_metrics = coalesce($11, executors.prometheus_metrics), last_seen_at = now()`,
      [h.hostname, h.queueName, h.queueNames, h.os, h.architecture, h.dockerVersion, h.executorVersion, h.gitVersion, h.igniteVersion, h.srcCliVersion, h.prometheusMetrics],
    );
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

  /** The labelled metric dumps of executors seen within `seenWithinMs`. */
  async prometheusDumps(seenWithinMs: number): Promise<string[]> {
    const rows = await this.db.query<{ dump: string }>(
      `SELECT prometheus_metrics AS dump FROM executors
       WHERE prometheus_metrics <> '' AND last_seen_at >= now() - $1 * interval '1 millisecond' ORDER BY hostname`,
      [seenWithinMs],
    );
    return rows.map((r) => r.dump);
  }

  /** Deletes executors not seen for `maxAgeMs` (reference §7.4, 168 h by default). Returns how many. */
  async deleteNotSeenFor(maxAgeMs: number): Promise<number> {
    const rows = await this.db.query(`DELETE FROM executors WHERE last_seen_at < now() - $1 * interval '1 millisecond' RETURNING id`, [maxAgeMs]);
    return rows.length;
  }
}
