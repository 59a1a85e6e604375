-- the hand-written UPDATE a DBA would write, same table and index, rolled back
\set uid random(1, :nusers)
\startpipeline
BEGIN;
UPDATE tokens SET purpose = 'revocation', updated_at = now() AT TIME ZONE 'utc'
 WHERE subject = 'user?id=' || md5('u' || :uid::text)::uuid
   AND expires_at > now() AT TIME ZONE 'utc'
   AND purpose <> 'revocation';
ROLLBACK;
\endpipeline
