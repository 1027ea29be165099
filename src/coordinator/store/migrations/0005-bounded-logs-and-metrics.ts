// Bounds on what executors store (issue 11): a version per forwarded metrics dump, so each replica's
// /metrics cache reads a dump only after it changed, and the byte counts that cap a job's log.
export const sql = /* sql */ `
-- Never reused, even when an executor row is deleted and its name comes back: a replica that cached a
-- dump under version N can trust that N still means that text.
CREATE SEQUENCE executor_metrics_versions;
ALTER TABLE executors ADD COLUMN metrics_version bigint NOT NULL DEFAULT 0;
-- Dumps stored before this were labelled without the forwarding rules (allowed prefixes, the
-- coordinator's own families, sg_instance): the next heartbeat, 5 s away, brings a new one.
UPDATE executors SET prometheus_metrics = '' WHERE prometheus_metrics <> '';

-- Output bytes kept of each entry (without the coordinator's truncation line), and their sum per job:
-- COORDINATOR_MAX_LOG_BYTES_PER_JOB is checked against these in the statement that writes an entry.
ALTER TABLE job_log_entries ADD COLUMN out_bytes bigint NOT NULL DEFAULT 0;
-- The stored output's length in characters and its number of lines, counted when it is written: job
-- views list them without reading any output (length() of UTF-8 text reads all of it).
ALTER TABLE job_log_entries ADD COLUMN out_length integer NOT NULL DEFAULT 0;
ALTER TABLE job_log_entries ADD COLUMN out_lines integer NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN log_bytes bigint NOT NULL DEFAULT 0;
-- Entries past COORDINATOR_MAX_LOG_ENTRIES_PER_JOB that were dropped (the last kept entry says so).
ALTER TABLE jobs ADD COLUMN log_entries_dropped integer NOT NULL DEFAULT 0;
UPDATE job_log_entries SET out_bytes = octet_length(out), out_length = length(out),
  out_lines = length(out) - length(replace(out, E'\\n', '')) WHERE out IS NOT NULL;
UPDATE jobs j SET log_bytes = e.bytes
  FROM (SELECT job_id, sum(out_bytes) AS bytes FROM job_log_entries GROUP BY job_id) e
  WHERE j.id = e.job_id;
`;
