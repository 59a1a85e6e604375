--
-- user_lookup: log_out_everywhere finds its user with SQL, run with the
-- caller's privileges, and builds the subject from the id as stored. Each
-- case below has a user that a shortcut (an index probe, the id as given)
-- would get wrong: found where SQL does not see it, missing where SQL finds
-- it, or named in another form than the row's.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_user_lookup;
DROP ROLE IF EXISTS regress_le_lookup_app;
RESET client_min_messages;
CREATE DATABASE regress_le_user_lookup TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
SELECT current_database() AS regress_home \gset
\c regress_le_user_lookup
\set VERBOSITY sqlstate

CREATE EXTENSION logout_everywhere;
CREATE ROLE regress_le_lookup_app;
GRANT USAGE ON SCHEMA logout_everywhere TO regress_le_lookup_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA logout_everywhere TO regress_le_lookup_app;
CREATE TABLE tokens (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));
CREATE INDEX ON tokens (subject);
GRANT SELECT, UPDATE ON tokens TO regress_le_lookup_app;
-- two live tokens for each of these subjects
CREATE PROCEDURE sign_in(VARIADIC subjects text[]) LANGUAGE sql AS $$
  DELETE FROM tokens;
  INSERT INTO tokens (jti, subject, expires_at, purpose)
  SELECT s || '#' || n, s, (now() AT TIME ZONE 'utc') + interval '1 day', 'user'
    FROM unnest(subjects) s, generate_series(1, 2) n;
$$;
CREATE VIEW live AS
  SELECT subject, count(*) AS live_tokens FROM tokens
   WHERE purpose <> 'revocation' GROUP BY subject ORDER BY subject;

--
-- The plain case: a primary key. A user is found; a missing user is P0002,
-- even when tokens of that subject exist (a deleted user), and they stay live.
--
CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL, hashed_password text);
INSERT INTO users VALUES (1, 'one@example.com', 'h'), (2, 'two@example.com', 'h');
SELECT logout_everywhere.enable('users');
CALL sign_in('user?id=1', 'user?id=2', 'user?id=3');
SELECT logout_everywhere.log_out_everywhere(1);
SELECT logout_everywhere.log_out_everywhere(3);
SELECT * FROM live;

--
-- The primary key dropped in a session that has used it: SQL, same answers.
-- Then an index that leads with id but is not unique: the probe again.
--
ALTER TABLE users DROP CONSTRAINT users_pkey;
CALL sign_in('user?id=1', 'user?id=2', 'user?id=3');
SELECT logout_everywhere.log_out_everywhere(2);
SELECT logout_everywhere.log_out_everywhere(3);
CREATE INDEX users_id_email ON users (id, email);
SELECT logout_everywhere.log_out_everywhere(1);
SELECT logout_everywhere.log_out_everywhere(3);
SELECT * FROM live;

--
-- Indexes that cannot answer: one that does not lead with id, and a partial
-- one that leaves out user 1. Probing either would miss user 1.
--
DROP INDEX users_id_email;
CREATE INDEX users_email_id ON users (email, id);
CREATE UNIQUE INDEX users_id_above_1 ON users (id) WHERE id > 1;
CALL sign_in('user?id=1', 'user?id=3');
SELECT logout_everywhere.log_out_everywhere(1);
SELECT logout_everywhere.log_out_everywhere(3);
SELECT * FROM live;
DROP INDEX users_email_id, users_id_above_1;
ALTER TABLE users ADD PRIMARY KEY (id);

--
-- A table that inherits from an enabled user table is refused (0A000): its
-- password changes would not log its users out.
--
CREATE TABLE admins () INHERITS (users);
\echo :LAST_ERROR_SQLSTATE

--
-- The caller's privileges: SELECT on the id column is enough; without it,
-- 42501 and nothing is revoked, whether the user exists or not.
--
GRANT SELECT (id) ON users TO regress_le_lookup_app;
CALL sign_in('user?id=1', 'user?id=2');
SET ROLE regress_le_lookup_app;
SELECT logout_everywhere.log_out_everywhere(1);
SELECT logout_everywhere.log_out_everywhere(3);
RESET ROLE;
REVOKE SELECT (id) ON users FROM regress_le_lookup_app;
SET ROLE regress_le_lookup_app;
SELECT logout_everywhere.log_out_everywhere(2);
SELECT logout_everywhere.log_out_everywhere(3);
RESET ROLE;
SELECT * FROM live;

--
-- Row-level security on the user table: a user the caller's policy hides
-- does not exist for the caller (P0002, nothing revoked). The table owner
-- is not subject to the policy.
--
GRANT SELECT ON users TO regress_le_lookup_app;
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_one ON users TO regress_le_lookup_app USING (id = 1);
CALL sign_in('user?id=1', 'user?id=2');
SET ROLE regress_le_lookup_app;
SELECT logout_everywhere.log_out_everywhere(2);
SELECT logout_everywhere.log_out_everywhere(1);
RESET ROLE;
SELECT * FROM live;
SELECT logout_everywhere.log_out_everywhere(2);
SELECT * FROM live;
ALTER TABLE users DISABLE ROW LEVEL SECURITY;
SELECT logout_everywhere.disable('users');

--
-- Collations. A text id in a case-insensitive collation: 'ALICE' is the
-- user 'alice', as for SQL's "=", so nothing is P0002, and the subject is
-- built from the id as stored, so 'alice''s tokens are the ones revoked.
--
CREATE COLLATION case_insensitive (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE ci_users (id text COLLATE case_insensitive PRIMARY KEY, hashed_password text);
INSERT INTO ci_users VALUES ('alice', 'h');
SELECT logout_everywhere.enable('ci_users', subject_name => 'ci');
CALL sign_in('ci?id=alice', 'ci?id=ALICE');
SELECT logout_everywhere.log_out_everywhere('ALICE'::text);
SELECT logout_everywhere.log_out_everywhere('bob'::text);
SELECT * FROM live;
SELECT logout_everywhere.subject_for('ALICE'::text), logout_everywhere.subject_for('bob'::text);
SELECT logout_everywhere.disable('ci_users');
-- A numeric id given with another scale: the row's own text form, 1.50.
CREATE TABLE num_users (id numeric PRIMARY KEY, hashed_password text);
INSERT INTO num_users VALUES (1.50, 'h');
SELECT logout_everywhere.enable('num_users', subject_name => 'num');
CALL sign_in('num?id=1.5', 'num?id=1.50');
SELECT logout_everywhere.log_out_everywhere(1.5);
SELECT logout_everywhere.log_out_everywhere('1.500');
SELECT * FROM live;
SELECT logout_everywhere.subject_for(1.5), logout_everywhere.subject_for(2.0);
SELECT logout_everywhere.disable('num_users');
-- The other way round: the column compares bytes, its only index ignores
-- case. SQL's "=" uses the column's collation, so 'ALICE' is no user here.
CREATE TABLE cs_users (id text COLLATE "C" NOT NULL, hashed_password text);
CREATE UNIQUE INDEX cs_users_id ON cs_users (id COLLATE case_insensitive);
INSERT INTO cs_users VALUES ('alice', 'h');
SELECT logout_everywhere.enable('cs_users', subject_name => 'cs');
CALL sign_in('cs?id=alice', 'cs?id=ALICE');
SELECT logout_everywhere.log_out_everywhere('ALICE'::text);
SELECT logout_everywhere.log_out_everywhere('alice'::text);
SELECT * FROM live;

\c :regress_home
DROP DATABASE regress_le_user_lookup;
DROP ROLE regress_le_lookup_app;
