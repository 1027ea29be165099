// What a user may use in a job, as one query: whether the user still exists (and is a site admin), may
// read the job's repository and stored files, and is a member of the job's organization. Asked at
// enqueue, and again at each dequeue, since grants, memberships and users change while a job waits.
import type { Database } from './database.js';
import { USER_READS_FILE } from './file-store.js';
import { USER_READS_REPOSITORY } from './repository-store.js';

export interface JobAccessQuestion {
  userId: number;
  /** '' when the job clones nothing. */
  repositoryName: string;
  /** The stored files the job names. */
  files: ReadonlyArray<{ bucket: string; key: string }>;
  /** The organization whose namespace the job runs in, or null for the user's own. */
  orgId: number | null;
  /**
   * Count files a producer stored as readable. At dequeue: only a producer (or a site admin) can have
   * queued a job naming one, and a producer's file never changes hands.
   */
  producerFilesReadable?: boolean;
}

export interface JobAccessFacts {
  /** Null when the user was deleted. */
  user: { id: number; username: string; siteAdmin: boolean } | null;
  /** Null when the job names no repository. */
  repository: { registered: boolean; readable: boolean } | null;
  /** Indexes into `files` of those the user may not read (missing, or another's); site admins aside. */
  unreadableFiles: number[];
  /** Null when the job runs in the user's own namespace. */
  orgMember: boolean | null;
}

export class AccessStore {
  constructor(private readonly db: Database) {}

  async jobAccess(q: JobAccessQuestion): Promise<JobAccessFacts> {
    const rows = await this.db.query<{
      id: number | null;
      username: string | null;
      siteAdmin: boolean | null;
      repositoryRegistered: boolean | null;
      repositoryReadable: boolean | null;
      unreadableFiles: number[];
      orgMember: boolean | null;
    }>(
      `SELECT u.id, u.username, u.site_admin AS "siteAdmin",
         CASE WHEN $2::text = '' THEN NULL ELSE EXISTS (SELECT 1 FROM repositories r WHERE r.name = $2) END AS "repositoryRegistered",
         CASE WHEN $2::text = '' THEN NULL ELSE EXISTS (SELECT 1 FROM repositories r WHERE r.name = $2 AND ${USER_READS_REPOSITORY('$1::bigint')}) END AS "repositoryReadable",
         ARRAY(SELECT (w.ord - 1)::int FROM unnest($3::text[], $4::text[]) WITH ORDINALITY AS w(bucket, key, ord)
               WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.bucket = w.bucket AND f.key = w.key
                 AND (${USER_READS_FILE('$1::bigint')} OR ($6::boolean AND f.owner_producer IS NOT NULL)))
               ORDER BY w.ord) AS "unreadableFiles",
         CASE WHEN $5::bigint IS NULL THEN NULL ELSE EXISTS (SELECT 1 FROM org_members WHERE org_id = $5 AND user_id = $1) END AS "orgMember"
       FROM (SELECT $1::bigint AS id) AS asked LEFT JOIN users u ON u.id = asked.id`,
      [q.userId, q.repositoryName, q.files.map((f) => f.bucket), q.files.map((f) => f.key), q.orgId, q.producerFilesReadable ?? false],
    );
    const row = rows[0]!;
    return {
      user: row.id === null ? null : { id: row.id, username: row.username!, siteAdmin: row.siteAdmin! },
      repository: row.repositoryRegistered === null ? null : { registered: row.repositoryRegistered, readable: row.repositoryReadable! },
      unreadableFiles: row.unreadableFiles,
      orgMember: row.orgMember,
    };
  }
}
