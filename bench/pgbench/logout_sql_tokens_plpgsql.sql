-- the hand-written UPDATE of logout_sql.sql on the PL/pgSQL baseline's token
-- table (same rows, same indexes), rolled back
\set uid random(1, :nusers)
\startpipeline
BEGIN;
UPDATE tokens_plpgsql SET purpose = 'revocation', updated_at = now() AT TIME ZONE 'utc'
 WHERE subject = 'user?id=' || md5('u' || :uid::text)::uuid
   AND expires_at > now() AT TIME ZONE 'utc'
   AND purpose <> 'revocation';
ROLLBACK;
\endpipeline
