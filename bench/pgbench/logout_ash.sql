-- Peer 1: AshAuthentication's log-out query as it ships, on a copy of the
-- token table with no index on subject (AshPostgres creates none), rolled back
\set uid random(1, :nusers)
\startpipeline
BEGIN;
UPDATE tokens_ash
   SET purpose = 'revocation',
       updated_at = CASE WHEN 'revocation' <> purpose THEN now() AT TIME ZONE 'utc' ELSE updated_at END
 WHERE NOT (purpose = ANY ('{revocation}'::text[]))
   AND subject = 'user?id=' || md5('u' || :uid::text)::uuid;
ROLLBACK;
\endpipeline
