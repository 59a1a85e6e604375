-- Peer 2: the same bulk password change on the table with the PL/pgSQL
-- baseline's (row by row) password trigger. Rolled back. Run with -M simple.
\set s random(1, :nusers - :bulk + 1)
BEGIN;
UPDATE users_plpgsql SET hashed_password = md5(random()::text), updated_at = now() AT TIME ZONE 'utc'
 WHERE id IN (SELECT md5('u' || g)::uuid FROM generate_series(:s, :s + :bulk - 1) g);
ROLLBACK;
