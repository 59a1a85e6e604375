-- the hand-written revoking UPDATE on the copy of the token table that has
-- no extension (the "without" side of the mixed workload), rolled back
\set uid random(1, :nusers)
\startpipeline
BEGIN;
UPDATE tokens_noguard SET purpose = 'revocation', updated_at = now() AT TIME ZONE 'utc'
 WHERE subject = 'user?id=' || md5('u' || :uid::text)::uuid
   AND expires_at > now() AT TIME ZONE 'utc'
   AND purpose <> 'revocation';
ROLLBACK;
\endpipeline
