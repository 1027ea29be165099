// The web UI's charts: a small time series of each queue (its size, sampled, and the jobs finished) and
// of the active executors, per minute and per ten minutes. Written every COORDINATOR_HISTORY_INTERVAL,
// rolled up from minutes to ten minutes, and pruned (minutes after 2 h, ten minutes after 2 days), so a
// chart reads at most a few hundred rows and never scans the jobs table.
export const sql = /* sql */ `
CREATE TABLE queue_history (
  -- 60: one row a minute, kept 2 hours (the last-hour chart); 600: ten minutes, kept 2 days (the day).
  resolution_s integer NOT NULL CHECK (resolution_s IN (60, 600)),
  bucket_start timestamptz NOT NULL,
  queue        text NOT NULL,
  -- The largest size sampled in the bucket: queued, and processing.
  queued       integer NOT NULL DEFAULT 0,
  processing   integer NOT NULL DEFAULT 0,
  -- Jobs that ended in the bucket, by the state their executor's mark call left.
  completed    integer NOT NULL DEFAULT 0,
  errored      integer NOT NULL DEFAULT 0,
  failed       integer NOT NULL DEFAULT 0,
  PRIMARY KEY (resolution_s, queue, bucket_start)
);

CREATE TABLE executor_history (
  resolution_s integer NOT NULL CHECK (resolution_s IN (60, 600)),
  bucket_start timestamptz NOT NULL,
  -- The most executors seen active (a heartbeat within 15 s) at once in the bucket.
  active       integer NOT NULL DEFAULT 0,
  PRIMARY KEY (resolution_s, bucket_start)
);
`;
