-- log_out_everywhere of one user (the C extension), rolled back
-- BEGIN, the log-out and ROLLBACK go in one pipeline: one round trip, as the
-- application's own call would take (run with -M prepared).
\set uid random(1, :nusers)
\startpipeline
BEGIN;
SELECT logout_everywhere.log_out_everywhere(md5('u' || :uid::text)::uuid);
ROLLBACK;
\endpipeline
