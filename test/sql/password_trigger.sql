--
-- password_trigger: apply_on_password_change
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_password_trigger;
RESET client_min_messages;
CREATE DATABASE regress_le_password_trigger TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
SELECT current_database() AS regress_home \gset
\c regress_le_password_trigger
\set VERBOSITY sqlstate

CREATE EXTENSION logout_everywhere;
CREATE EXTENSION citext;
CREATE TABLE tokens (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));
CREATE INDEX ON tokens (subject);
CREATE TABLE users (
  id              uuid NOT NULL PRIMARY KEY,
  email           citext NOT NULL UNIQUE,
  hashed_password text,
  confirmed_at    timestamp);
-- users 1..5, ids 00000000-0000-0000-0000-00000000000<n>
CREATE FUNCTION uid(n integer) RETURNS uuid LANGUAGE sql IMMUTABLE
  AS $$ SELECT ('00000000-0000-0000-0000-' || lpad(n::text, 12, '0'))::uuid $$;
INSERT INTO users SELECT uid(n), 'user' || n || '@example.com', 'hash-' || n FROM generate_series(1, 5) n;
-- seed(): for every user, tokens <n>-user, <n>-remember, <n>-magic (live),
-- <n>-old (expired) and <n>-rev (already revoked).
CREATE PROCEDURE seed() LANGUAGE sql AS $$
  DELETE FROM tokens;
  INSERT INTO tokens (jti, subject, expires_at, purpose, updated_at)
  SELECT n || '-' || j, 'user?id=' || uid(n),
         (now() AT TIME ZONE 'utc') + d, p, '2000-01-01'
    FROM generate_series(1, 5) n,
         (VALUES ('user', 'user', interval '7 days'),
                 ('remember', 'remember_me', interval '30 days'),
                 ('magic', 'magic_link', interval '10 minutes'),
                 ('old', 'user', interval '-1 day'),
                 ('rev', 'revocation', interval '1 day')) t(j, p, d);
$$;
-- what was revoked, per user
CREATE VIEW revoked AS
  SELECT split_part(jti, '-', 1) AS "user", string_agg(split_part(jti, '-', 2), ',' ORDER BY jti) AS revoked
    FROM tokens WHERE purpose = 'revocation' AND jti NOT LIKE '%-rev'
   GROUP BY 1 ORDER BY 1;
CREATE VIEW rewritten AS  -- rows whose updated_at moved: revoked ones only
  SELECT count(*) AS rewritten FROM tokens WHERE updated_at <> '2000-01-01';

-- Without apply_on_password_change a password change revokes nothing.
SELECT logout_everywhere.enable('users');
CALL seed();
UPDATE users SET hashed_password = 'new' WHERE id = uid(1);
SELECT * FROM revoked;

-- With it: the configured purposes (here: all but magic_link).
SELECT logout_everywhere.enable('users', exclude_purposes => '{revocation,magic_link}',
                                apply_on_password_change => true);

--
-- A real change of one user's password: that user's live tokens, not the
-- expired ones, not the excluded purpose, not another user's.
--
CALL seed();
UPDATE users SET hashed_password = 'newer' WHERE id = uid(1);
SELECT * FROM revoked;
SELECT * FROM rewritten;

--
-- What revokes nothing.
--
CALL seed();
-- the same value (an ORM saving every column)
UPDATE users SET hashed_password = hashed_password;
UPDATE users SET hashed_password = 'hash-2', email = email WHERE id = uid(2);
-- other columns
UPDATE users SET confirmed_at = '2024-01-01', email = upper(email::text);
-- INSERT and DELETE
INSERT INTO tokens (jti, subject, expires_at, purpose, updated_at)
  VALUES ('6-user', 'user?id=' || uid(6), (now() AT TIME ZONE 'utc') + interval '1 day', 'user', '2000-01-01');
INSERT INTO users VALUES (uid(6), 'user6@example.com', 'hash-6');
DELETE FROM users WHERE id = uid(5);
-- an UPDATE that matches no row
UPDATE users SET hashed_password = 'x' WHERE false;
SELECT * FROM revoked;
SELECT * FROM rewritten;
INSERT INTO users VALUES (uid(5), 'user5@example.com', 'hash-5');
DELETE FROM users WHERE id = uid(6);
DELETE FROM tokens WHERE jti = '6-user';

--
-- NULL is a value: NULL -> something and something -> NULL are changes,
-- NULL -> NULL is not.
--
UPDATE users SET hashed_password = NULL WHERE id = uid(3);
CALL seed();
UPDATE users SET hashed_password = NULL WHERE id = uid(3);
SELECT * FROM revoked;
UPDATE users SET hashed_password = 'set' WHERE id = uid(3);
SELECT * FROM revoked;
CALL seed();
UPDATE users SET hashed_password = NULL WHERE id = uid(4);
SELECT * FROM revoked;

--
-- A multi-row UPDATE: every user whose password really changed, and only they.
--
CALL seed();
UPDATE users SET hashed_password = CASE WHEN id IN (uid(1), uid(3), uid(4)) THEN 'bulk' ELSE hashed_password END;
SELECT * FROM revoked;
SELECT * FROM rewritten;
-- set-based: one bulk UPDATE of every password revokes in a statement or
-- two on the token table, not one per user
CREATE TABLE token_statements (n bigint);
CREATE FUNCTION log_token_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO token_statements SELECT count(*) FROM changed;
  RETURN NULL;
END $$;
CREATE TRIGGER log_token_statement AFTER UPDATE ON tokens REFERENCING NEW TABLE AS changed
  FOR EACH STATEMENT EXECUTE FUNCTION log_token_statement();
CALL seed();
UPDATE users SET hashed_password = 'everyone-' || email;
SELECT * FROM revoked;
SELECT count(*) FILTER (WHERE n > 0) <= 2 AS set_based, sum(n) AS rows_revoked FROM token_statements;
DROP TRIGGER log_token_statement ON tokens;
-- two UPDATEs in one transaction, and the same user twice
CALL seed();
BEGIN;
UPDATE users SET hashed_password = 'one' WHERE id = uid(1);
INSERT INTO tokens (jti, subject, expires_at, purpose)
  VALUES ('1-fresh', 'user?id=' || uid(1), (now() AT TIME ZONE 'utc') + interval '1 day', 'user');
UPDATE users SET hashed_password = 'two' WHERE id IN (uid(1), uid(2));
COMMIT;
SELECT * FROM revoked;
DELETE FROM tokens WHERE jti = '1-fresh';

-- INSERT ... ON CONFLICT DO UPDATE and MERGE are UPDATEs too.
CALL seed();
INSERT INTO users VALUES (uid(2), 'user2@example.com', 'upserted')
  ON CONFLICT (id) DO UPDATE SET hashed_password = excluded.hashed_password;
INSERT INTO users VALUES (uid(3), 'user3@example.com', 'ignored')
  ON CONFLICT (id) DO UPDATE SET email = excluded.email;
MERGE INTO users u USING (VALUES (uid(4), 'merged')) v(id, pw) ON u.id = v.id
  WHEN MATCHED THEN UPDATE SET hashed_password = v.pw;
SELECT * FROM revoked;

--
-- The same transaction: a ROLLBACK undoes the revocations; a failed
-- revocation fails the UPDATE.
--
CALL seed();
BEGIN;
UPDATE users SET hashed_password = 'rolled back' WHERE id = uid(1);
SELECT * FROM revoked;
ROLLBACK;
SELECT * FROM revoked;
SELECT hashed_password FROM users WHERE id = uid(1);
BEGIN;
SAVEPOINT s;
UPDATE users SET hashed_password = 'to savepoint' WHERE id = uid(2);
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT * FROM revoked;
CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'tokens are read-only today' USING ERRCODE = 'P0001'; END $$;
CREATE TRIGGER refuse BEFORE UPDATE ON tokens FOR EACH ROW EXECUTE FUNCTION refuse();
UPDATE users SET hashed_password = 'cannot' WHERE id = uid(1);
SELECT hashed_password FROM users WHERE id = uid(1);
DROP TRIGGER refuse ON tokens;
SELECT * FROM revoked;

--
-- SET LOCAL logout_everywhere.current_jti spares that one token, for this
-- transaction only.
--
CALL seed();
BEGIN;
SET LOCAL logout_everywhere.current_jti = '1-user';
UPDATE users SET hashed_password = 'mine' WHERE id = uid(1);
COMMIT;
SELECT * FROM revoked;
SHOW logout_everywhere.current_jti;
UPDATE users SET hashed_password = 'mine again' WHERE id = uid(1);
SELECT * FROM revoked;
-- the prefix is reserved: a misspelt name is an error, not a silent no-op
SET logout_everywhere.curent_jti = '1-user';
-- in a bulk UPDATE it spares only that token
CALL seed();
BEGIN;
SET LOCAL logout_everywhere.current_jti = '2-remember';
UPDATE users SET hashed_password = 'bulk2' WHERE id IN (uid(1), uid(2));
COMMIT;
SELECT * FROM revoked;

--
-- A BEFORE trigger that rewrites the password column counts: the row as
-- stored is what matters, not the SET list.
--
CREATE FUNCTION hash_password() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.email IS DISTINCT FROM OLD.email AND NEW.email LIKE 'rehash%' THEN
    NEW.hashed_password := 'rehashed:' || OLD.hashed_password;   -- a change not in the SET list
  ELSIF NEW.email LIKE 'keep%' THEN
    NEW.hashed_password := OLD.hashed_password;                  -- a SET undone
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER hash_password BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION hash_password();
CALL seed();
UPDATE users SET email = 'rehash1@example.com' WHERE id = uid(1);
UPDATE users SET email = 'keep2@example.com', hashed_password = 'not kept' WHERE id = uid(2);
SELECT * FROM revoked;
SELECT email, hashed_password FROM users WHERE id IN (uid(1), uid(2)) ORDER BY id;
DROP TRIGGER hash_password ON users;

--
-- "Changes value" is the column type's own equality: for a citext password
-- column a change of letter case alone is no change.
--
CREATE TABLE ci_users (id integer PRIMARY KEY, pw citext);
INSERT INTO ci_users VALUES (1, 'Secret'), (2, 'Secret'), (3, 'Secret');
SELECT logout_everywhere.enable('ci_users', password_column => 'pw', subject_name => 'ci',
                                apply_on_password_change => true);
CREATE PROCEDURE seed_ci() LANGUAGE sql AS $$
  DELETE FROM tokens WHERE subject LIKE 'ci?%';
  INSERT INTO tokens (jti, subject, expires_at, purpose)
  SELECT 'ci' || n, 'ci?id=' || n, (now() AT TIME ZONE 'utc') + interval '1 day', 'user'
    FROM generate_series(1, 3) n;
$$;
CREATE VIEW ci_revoked AS
  SELECT string_agg(jti, ',' ORDER BY jti) AS revoked FROM tokens
   WHERE subject LIKE 'ci?%' AND purpose = 'revocation';
CALL seed_ci();
UPDATE ci_users SET pw = 'SECRET' WHERE id = 1;  -- same value for citext
UPDATE ci_users SET pw = 'other' WHERE id = 2;   -- a change
SELECT * FROM ci_revoked;

-- The trigger depends on the password column, as a WHEN clause naming it
-- would: dropping it or changing its type is refused.
ALTER TABLE ci_users DROP COLUMN pw;
ALTER TABLE ci_users ALTER COLUMN pw TYPE text;
-- A renamed password column is followed (the password trigger depends on
-- it): the settings take the new name, and a change under it logs out.
ALTER TABLE ci_users RENAME COLUMN pw TO password;
SELECT password_column FROM logout_everywhere.settings WHERE user_table = 'ci_users'::regclass;
CALL seed_ci();
UPDATE ci_users SET password = 'renamed' WHERE id = 3;
SELECT * FROM ci_revoked;
SELECT logout_everywhere.enable('ci_users', password_column => 'password', subject_name => 'ci',
                                apply_on_password_change => true);
CALL seed_ci();
UPDATE ci_users SET password = 'renamed again' WHERE id = 3;
SELECT * FROM ci_revoked;

-- A table that inherits from the user table is refused: an UPDATE of the
-- child would change passwords that the user table's trigger never sees.
CREATE TABLE ci_admins () INHERITS (ci_users);
\echo :LAST_ERROR_SQLSTATE
SELECT logout_everywhere.disable('ci_users');

-- After disable, a password change revokes nothing.
SELECT logout_everywhere.disable('users');
CALL seed();
UPDATE users SET hashed_password = 'after disable';
SELECT * FROM revoked;

\c :regress_home
DROP DATABASE regress_le_password_trigger WITH (FORCE);
