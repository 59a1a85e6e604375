-- the hand-written UPDATE of logout_sql.sql with "subject = subject" in its
-- SET list, as the extension writes it (a control: it shows what that costs
-- and saves); same table and index, rolled back
\set uid random(1, :nusers)
\startpipeline
BEGIN;
UPDATE tokens SET purpose = 'revocation', updated_at = now() AT TIME ZONE 'utc', subject = subject
 WHERE subject = 'user?id=' || md5('u' || :uid::text)::uuid
   AND expires_at > now() AT TIME ZONE 'utc'
   AND purpose <> 'revocation';
ROLLBACK;
\endpipeline
