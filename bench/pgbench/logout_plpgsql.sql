-- Peer 2: the PL/pgSQL baseline's log_out_everywhere, rolled back
\set uid random(1, :nusers)
\startpipeline
BEGIN;
SELECT plpgsql_baseline.log_out_everywhere(md5('u' || :uid::text)::uuid);
ROLLBACK;
\endpipeline
