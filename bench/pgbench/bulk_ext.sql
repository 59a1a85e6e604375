-- bulk password change of :bulk consecutive users; the extension's password
-- trigger revokes their tokens. Rolled back. Run with -M simple.
\set s random(1, :nusers - :bulk + 1)
BEGIN;
UPDATE users SET hashed_password = md5(random()::text), updated_at = now() AT TIME ZONE 'utc'
 WHERE id IN (SELECT md5('u' || g)::uuid FROM generate_series(:s, :s + :bulk - 1) g);
ROLLBACK;
