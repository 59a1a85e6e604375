-- the DBA's two statements of bulk_sql.sql, the second with "subject =
-- subject" in its SET list, as the extension writes it (a control).
-- Rolled back. Run with -M simple.
\set s random(1, :nusers - :bulk + 1)
BEGIN;
UPDATE users_plain SET hashed_password = md5(random()::text), updated_at = now() AT TIME ZONE 'utc'
 WHERE id IN (SELECT md5('u' || g)::uuid FROM generate_series(:s, :s + :bulk - 1) g);
UPDATE tokens SET purpose = 'revocation', updated_at = now() AT TIME ZONE 'utc', subject = subject
 WHERE subject IN (SELECT 'user?id=' || md5('u' || g)::uuid FROM generate_series(:s, :s + :bulk - 1) g)
   AND expires_at > now() AT TIME ZONE 'utc'
   AND purpose <> 'revocation';
ROLLBACK;
