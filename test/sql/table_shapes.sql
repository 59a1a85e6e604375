--
-- table_shapes: the trigger functions read columns of whatever table their
-- owner attached them to. Every shape that is not a token or user table of
-- the recorded kind is a clear error, never a wrong read (a crash).
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_table_shapes;
RESET client_min_messages;
CREATE DATABASE regress_le_table_shapes;
SELECT current_database() AS regress_home \gset
\c regress_le_table_shapes
\set VERBOSITY terse
CREATE EXTENSION logout_everywhere;

-- The guard attached by hand to tables whose subject or purpose is no text.
CREATE TABLE int_subjects (jti text PRIMARY KEY, subject bigint, purpose text);
CREATE TRIGGER g BEFORE INSERT OR UPDATE ON int_subjects
  FOR EACH ROW EXECUTE FUNCTION logout_everywhere.token_guard();
INSERT INTO int_subjects VALUES ('a', 42, 'user');
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE int_purposes (jti text PRIMARY KEY, subject text, purpose integer);
CREATE TRIGGER g BEFORE INSERT OR UPDATE ON int_purposes
  FOR EACH ROW EXECUTE FUNCTION logout_everywhere.token_guard();
INSERT INTO int_purposes VALUES ('a', 'user?id=1', 7);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE no_subject (jti text PRIMARY KEY, purpose text);
CREATE TRIGGER g BEFORE INSERT ON no_subject
  FOR EACH ROW EXECUTE FUNCTION logout_everywhere.token_guard();
INSERT INTO no_subject VALUES ('a', 'user');
\echo :LAST_ERROR_SQLSTATE
-- a domain over text is text
CREATE DOMAIN subject_text AS text;
CREATE TABLE domain_subjects (jti text PRIMARY KEY, subject subject_text, purpose varchar);
CREATE TRIGGER g BEFORE INSERT OR UPDATE ON domain_subjects
  FOR EACH ROW EXECUTE FUNCTION logout_everywhere.token_guard();
INSERT INTO domain_subjects VALUES ('a', 'user?id=1', 'user');
-- the wrong timing or level
CREATE TRIGGER after_row AFTER INSERT ON domain_subjects
  FOR EACH ROW EXECUTE FUNCTION logout_everywhere.token_guard();
INSERT INTO domain_subjects VALUES ('b', 'user?id=1', 'user');
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER after_row ON domain_subjects;
CREATE TRIGGER per_statement BEFORE INSERT ON domain_subjects
  FOR EACH STATEMENT EXECUTE FUNCTION logout_everywhere.token_guard();
INSERT INTO domain_subjects VALUES ('c', 'user?id=1', 'user');
DROP TRIGGER per_statement ON domain_subjects;
CREATE TRIGGER on_delete BEFORE DELETE ON domain_subjects
  FOR EACH ROW EXECUTE FUNCTION logout_everywhere.token_guard();
DELETE FROM domain_subjects;
DROP TRIGGER on_delete ON domain_subjects;
SELECT jti FROM domain_subjects ORDER BY jti;

-- An enabled token table whose columns change type afterwards.
CREATE TABLE users (id integer PRIMARY KEY, hashed_password text);
INSERT INTO users VALUES (1, 'h');
CREATE TABLE tokens (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));
CREATE INDEX ON tokens (subject);
SELECT logout_everywhere.enable('users', apply_on_password_change => true);
INSERT INTO tokens VALUES ('t1', 'user?id=1', now() AT TIME ZONE 'utc' + interval '1 day', 'user');
SELECT logout_everywhere.log_out_everywhere(1);
DROP INDEX tokens_subject_idx;
ALTER TABLE tokens ALTER COLUMN subject TYPE bigint USING 0;
INSERT INTO tokens VALUES ('t2', 7, now() AT TIME ZONE 'utc' + interval '1 day', 'user');
\echo :LAST_ERROR_SQLSTATE
SELECT logout_everywhere.log_out_everywhere(1);
UPDATE users SET hashed_password = 'h2';
ALTER TABLE tokens ALTER COLUMN subject TYPE text;
-- purpose dropped and added again as an integer: token writes, checks,
-- log-outs and enable() are refused (42804), nothing crashes
ALTER TABLE tokens DROP COLUMN purpose;
ALTER TABLE tokens ADD COLUMN purpose integer;
INSERT INTO tokens (jti, subject, expires_at, purpose) VALUES ('t3', 'user?id=1', now() AT TIME ZONE 'utc' + interval '1 day', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT logout_everywhere.log_out_everywhere(1);
\echo :LAST_ERROR_SQLSTATE
SELECT logout_everywhere.token_valid('t1');
SELECT logout_everywhere.enable('users', apply_on_password_change => true);
\echo :LAST_ERROR_SQLSTATE
-- back to text: everything works again
ALTER TABLE tokens DROP COLUMN purpose;
ALTER TABLE tokens ADD COLUMN purpose text NOT NULL DEFAULT 'user';
INSERT INTO tokens (jti, subject, expires_at) VALUES ('t3', 'user?id=1', now() AT TIME ZONE 'utc' + interval '1 day');
-- the guard dropped by hand: a log-out refuses until enable() puts it back
DROP TRIGGER logout_everywhere_token_guard ON tokens;
SELECT logout_everywhere.log_out_everywhere(1);
\echo :LAST_ERROR_SQLSTATE
SELECT logout_everywhere.enable('users', apply_on_password_change => true);
INSERT INTO tokens (jti, subject, expires_at) VALUES ('t4', 'user?id=1', now() AT TIME ZONE 'utc' + interval '1 day');
SELECT logout_everywhere.log_out_everywhere(1);
-- generated token columns are refused: the revoking UPDATE writes purpose,
-- and a BEFORE trigger sees no value of a stored generated subject
CREATE TABLE gen_tokens (jti text PRIMARY KEY, uid integer,
  subject text GENERATED ALWAYS AS ('user?id=' || uid) STORED,
  expires_at timestamp NOT NULL, purpose text NOT NULL);
SELECT logout_everywhere.enable('users', 'gen_tokens');
\echo :LAST_ERROR_SQLSTATE

-- The user table's columns change after enable(): the id column's type (the
-- action's body depends on it), the password column dropped and added again.
ALTER TABLE users ALTER COLUMN id TYPE bigint;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO tokens (jti, subject, expires_at) VALUES ('t5', 'user?id=1', now() AT TIME ZONE 'utc' + interval '1 day');
UPDATE users SET hashed_password = 'h3';
SELECT jti, purpose FROM tokens ORDER BY jti;
ALTER TABLE users DROP COLUMN hashed_password CASCADE;
SELECT apply_on_password_change FROM logout_everywhere.settings;
ALTER TABLE users ADD COLUMN hashed_password integer;
UPDATE users SET hashed_password = 4;
SELECT logout_everywhere.enable('users', apply_on_password_change => true);
INSERT INTO tokens (jti, subject, expires_at) VALUES ('t6', 'user?id=1', now() AT TIME ZONE 'utc' + interval '1 day');
UPDATE users SET hashed_password = 5;
SELECT jti, purpose FROM tokens ORDER BY jti;

-- The password trigger attached by hand: to a table that is not enabled, as a
-- row trigger, without transition tables.
CREATE TABLE others (id integer, hashed_password text);
INSERT INTO others VALUES (1, 'h');
CREATE TRIGGER p AFTER UPDATE ON others REFERENCING OLD TABLE AS o NEW TABLE AS n
  FOR EACH STATEMENT EXECUTE FUNCTION logout_everywhere.password_trigger();
UPDATE others SET hashed_password = 'x';
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER p ON others;
CREATE TRIGGER p AFTER UPDATE ON users FOR EACH ROW
  EXECUTE FUNCTION logout_everywhere.password_trigger();
UPDATE users SET hashed_password = 6;
\echo :LAST_ERROR_SQLSTATE
DROP TRIGGER p ON users;
CREATE TRIGGER p AFTER UPDATE ON users FOR EACH STATEMENT
  EXECUTE FUNCTION logout_everywhere.password_trigger();
UPDATE users SET hashed_password = 7;
DROP TRIGGER p ON users;
-- the settings trigger function elsewhere only resets caches
CREATE TRIGGER s AFTER INSERT ON others FOR EACH STATEMENT
  EXECUTE FUNCTION logout_everywhere.settings_changed();
INSERT INTO others VALUES (2, 'h');
SELECT logout_everywhere.token_guard();
SELECT logout_everywhere.password_trigger();

-- A subject with a nondeterministic collation (the guard locks the subject's
-- bytes; the log-out would revoke equal but different subjects unawaited):
-- enable refuses it, and so does a log-out once the column is changed.
CREATE COLLATION case_insensitive (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE ci_users (id integer PRIMARY KEY);
CREATE TABLE ci_tokens (jti text PRIMARY KEY, subject text COLLATE case_insensitive NOT NULL,
  expires_at timestamp(0) NOT NULL, purpose text NOT NULL);
SELECT logout_everywhere.enable('ci_users', 'ci_tokens');
\echo :LAST_ERROR_SQLSTATE
ALTER TABLE ci_tokens ALTER COLUMN subject TYPE text COLLATE "C";
SELECT logout_everywhere.enable('ci_users', 'ci_tokens');
INSERT INTO ci_users VALUES (1);
ALTER TABLE ci_tokens ALTER COLUMN subject TYPE text COLLATE case_insensitive;
SELECT logout_everywhere.log_out_everywhere(1, user_table => 'ci_users');
\echo :LAST_ERROR_SQLSTATE
SELECT logout_everywhere.disable('ci_users');

\c :regress_home
DROP DATABASE regress_le_table_shapes WITH (FORCE);
