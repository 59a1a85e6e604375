--
-- configuration: enable() / disable() / logout_everywhere.settings
--
-- Every regression file works in a database of its own (names are unique to
-- the file), so that the files are independent and may run in parallel.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_configuration;
RESET client_min_messages;
CREATE DATABASE regress_le_configuration TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
SELECT current_database() AS regress_home \gset
\c regress_le_configuration

-- The extension installs in a database that has neither a users nor a tokens
-- table yet, into its fixed schema, and is not relocatable.
CREATE EXTENSION logout_everywhere;
SELECT extname, extnamespace::regnamespace AS schema, extrelocatable, extversion
  FROM pg_extension WHERE extname = 'logout_everywhere';
-- The settings table is kept by pg_dump.
SELECT extconfig::regclass[] FROM pg_extension WHERE extname = 'logout_everywhere';
CREATE SCHEMA elsewhere;
\set VERBOSITY sqlstate
ALTER EXTENSION logout_everywhere SET SCHEMA elsewhere;
\set VERBOSITY default
DROP SCHEMA elsewhere;

-- The token table exactly as AshAuthentication + AshPostgres create it
-- (no index but the primary key), and an Ash-like users table.
CREATE EXTENSION citext;
CREATE TABLE tokens (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));
CREATE TABLE users (
  id              uuid NOT NULL PRIMARY KEY,
  email           citext NOT NULL UNIQUE,
  hashed_password text);
INSERT INTO users VALUES
  ('11111111-1111-1111-1111-111111111111', 'alice@example.com', 'hash-a'),
  ('22222222-2222-2222-2222-222222222222', 'bob@example.com', 'hash-b');
INSERT INTO tokens (jti, subject, expires_at, purpose, created_at, updated_at) VALUES
  ('a1', 'user?id=11111111-1111-1111-1111-111111111111', (now() AT TIME ZONE 'utc') + interval '7 days', 'user', '2000-01-01', '2000-01-01'),
  ('a2', 'user?id=11111111-1111-1111-1111-111111111111', (now() AT TIME ZONE 'utc') + interval '7 days', 'remember_me', '2000-01-01', '2000-01-01'),
  ('b1', 'user?id=22222222-2222-2222-2222-222222222222', (now() AT TIME ZONE 'utc') + interval '7 days', 'user', '2000-01-01', '2000-01-01');

-- What the extension has attached: indexes led by "subject", triggers that
-- are not internal, actions (functions taking a row of an enabled table).
CREATE VIEW subject_indexes AS
  SELECT i.indexrelid::regclass AS index, i.indrelid::regclass AS on_table
    FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
   WHERE a.attname = 'subject';
CREATE VIEW user_triggers AS
  SELECT tgrelid::regclass AS on_table, tgname
    FROM pg_trigger WHERE NOT tgisinternal
     AND tgrelid::regclass::text <> 'logout_everywhere.settings';
CREATE VIEW actions AS
  SELECT p.oid::regprocedure AS action,
         pg_catalog.pg_get_function_arguments(p.oid) AS arguments,
         p.prorettype::regtype AS returns
    FROM pg_proc p
   WHERE p.pronamespace::regnamespace::text NOT IN ('logout_everywhere', 'pg_catalog')
     AND p.pronargs = 1
     AND p.proargtypes[0] IN (SELECT reltype FROM pg_class WHERE relkind = 'r');
-- Proof that no token was written: each row's xmin, kept aside.
CREATE TABLE token_snapshot AS SELECT xmin::text AS x, * FROM tokens;
CREATE VIEW tokens_written AS
  SELECT count(*) AS written FROM tokens t FULL JOIN token_snapshot s USING (jti)
   WHERE t.xmin::text IS DISTINCT FROM s.x
      OR (t.subject, t.expires_at, t.purpose, t.extra_data, t.created_at, t.updated_at)
         IS DISTINCT FROM (s.subject, s.expires_at, s.purpose, s.extra_data, s.created_at, s.updated_at);

-- Nothing enabled yet.
SELECT * FROM logout_everywhere.settings;
SELECT * FROM subject_indexes;

--
-- A failed enable leaves no trace: no NOTICE, no index, no settings row, no
-- action, no trigger (the password column is missing and is checked before
-- anything is created, although the token table lacks its index).
--
\set VERBOSITY sqlstate
SELECT logout_everywhere.enable('users', password_column => 'no_such_column', apply_on_password_change => true);
-- a token table of the wrong shape fails the same way
CREATE TABLE bad_tokens (jti text PRIMARY KEY, subject text, purpose text, expires_at text);
SELECT logout_everywhere.enable('users', 'bad_tokens');
\set VERBOSITY default
SELECT * FROM logout_everywhere.settings;
SELECT * FROM subject_indexes;
SELECT * FROM user_triggers;
SELECT * FROM actions;
-- and the backend still knows of no enabled table
\set VERBOSITY sqlstate
SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid);
\set VERBOSITY default
-- the password column is checked only with apply_on_password_change
BEGIN;
SELECT logout_everywhere.enable('users', password_column => 'no_such_column');
ROLLBACK;

--
-- enable with every default: token table "tokens" found on search_path, the
-- index created with a NOTICE, the action public.log_out_everywhere("user" users).
--
SELECT logout_everywhere.enable('users');
SELECT * FROM logout_everywhere.settings;
SELECT * FROM subject_indexes;
SELECT * FROM actions;
-- no password trigger without apply_on_password_change
SELECT * FROM user_triggers WHERE on_table = 'users'::regclass;
SELECT * FROM tokens_written;
-- the action works as the contract shows it
SELECT log_out_everywhere(u) FROM users u WHERE email = 'Alice@Example.com';
SELECT jti, purpose FROM tokens ORDER BY jti;
UPDATE users SET hashed_password = 'changed' WHERE email = 'bob@example.com';
SELECT jti, purpose FROM tokens ORDER BY jti;

--
-- enable again: the settings row, the action and the trigger are replaced;
-- the index is there now, so no NOTICE and no second index.
--
SELECT logout_everywhere.enable('users', 'tokens',
         subject_name => 'member', include_purposes => '{user,remember_me}',
         exclude_purposes => '{revocation,remember_me}', apply_on_password_change => true,
         action_name => 'sign_out_all', argument_name => 'who');
SELECT * FROM logout_everywhere.settings;
SELECT * FROM subject_indexes;
SELECT * FROM actions;
SELECT * FROM user_triggers WHERE on_table = 'users'::regclass ORDER BY tgname;
-- the new settings are in force at once in this session
SELECT logout_everywhere.subject_for('11111111-1111-1111-1111-111111111111'::uuid);
INSERT INTO tokens (jti, subject, expires_at, purpose) VALUES
  ('m1', 'member?id=22222222-2222-2222-2222-222222222222', (now() AT TIME ZONE 'utc') + interval '1 day', 'user'),
  ('m2', 'member?id=22222222-2222-2222-2222-222222222222', (now() AT TIME ZONE 'utc') + interval '1 day', 'remember_me');
UPDATE users SET hashed_password = 'changed again' WHERE email = 'bob@example.com';
SELECT jti, purpose FROM tokens WHERE jti LIKE 'm%' ORDER BY jti;
-- the trigger fires only on a real change of the password (see password_trigger)
-- and re-enabling without apply_on_password_change removes it
SELECT logout_everywhere.enable('users', action_name => 'sign_out_all', argument_name => 'who');
SELECT * FROM user_triggers WHERE on_table = 'users'::regclass ORDER BY tgname;
SELECT * FROM actions;
SELECT action_name, argument_name, apply_on_password_change FROM logout_everywhere.settings;
-- The same action name and argument name: the action is replaced in place
-- (the same function), so it keeps its grants and what depends on it.
CREATE ROLE regress_le_conf_app;
GRANT EXECUTE ON FUNCTION sign_out_all(users) TO regress_le_conf_app;
CREATE FUNCTION sign_out_by_email(e text) RETURNS bigint LANGUAGE sql
  BEGIN ATOMIC SELECT sign_out_all(u) FROM users u WHERE email = e; END;
SELECT 'sign_out_all(users)'::regprocedure::oid AS action_oid \gset
SELECT logout_everywhere.enable('users', action_name => 'sign_out_all', argument_name => 'who',
                                exclude_purposes => '{revocation,magic_link}');
SELECT 'sign_out_all(users)'::regprocedure::oid = :action_oid AS same_function,
       has_function_privilege('regress_le_conf_app', 'sign_out_all(users)', 'EXECUTE') AS still_granted;
SELECT sign_out_by_email('bob@example.com') AS via_dependent;
-- a new argument name makes a new function: with a dependent, refused
-- (2BP01) and nothing changes
SELECT logout_everywhere.enable('users', action_name => 'sign_out_all', argument_name => 'member');
SELECT argument_name, exclude_purposes FROM logout_everywhere.settings WHERE user_table = 'users'::regclass;
DROP FUNCTION sign_out_by_email(text);
REVOKE ALL ON FUNCTION sign_out_all(users) FROM regress_le_conf_app;
DROP ROLE regress_le_conf_app;
SELECT logout_everywhere.enable('users', action_name => 'sign_out_all', argument_name => 'who');

--
-- An index whose leading column is "subject" satisfies enable (no NOTICE, no
-- new index); one where "subject" comes second does not.
--
CREATE TABLE tokens2 (LIKE tokens INCLUDING DEFAULTS);
ALTER TABLE tokens2 ADD PRIMARY KEY (jti);
CREATE INDEX tokens2_subject_purpose ON tokens2 (subject, purpose);
CREATE TABLE tokens3 (LIKE tokens INCLUDING DEFAULTS);
ALTER TABLE tokens3 ADD PRIMARY KEY (jti);
CREATE INDEX tokens3_purpose_subject ON tokens3 (purpose, subject);
CREATE TABLE admins (id integer PRIMARY KEY, hashed_password text);
SELECT logout_everywhere.enable('admins', 'tokens2', subject_name => 'admin');
SELECT logout_everywhere.enable('admins', 'tokens3', subject_name => 'admin');
SELECT * FROM subject_indexes ORDER BY on_table::text, index::text;
SELECT count(*) AS indexes_on_tokens2 FROM pg_index WHERE indrelid = 'tokens2'::regclass;
SELECT user_table, token_table, subject_name FROM logout_everywhere.settings ORDER BY user_table::text;
-- tokens2 serves no enabled table any more: nothing of enable's is left on it
SELECT * FROM user_triggers WHERE on_table = 'tokens2'::regclass;

--
-- The action goes to the schema of the user table; every name is quoted.
--
CREATE SCHEMA "My App";
CREATE TABLE "My App"."User Accounts" ("User ID" text PRIMARY KEY, "Pass Word" text);
CREATE TABLE "My App"."Auth Tokens" (
  "jti" varchar(64) PRIMARY KEY, "subject" varchar(255) NOT NULL,
  "expires_at" timestamptz NOT NULL, "purpose" varchar(32) NOT NULL);
INSERT INTO "My App"."User Accounts" VALUES ('O''Brien "x"', 'pw');
INSERT INTO "My App"."Auth Tokens" VALUES
  ('q1', 'Account?id=O%27Brien+%22x%22', now() + interval '1 day', 'user'),
  ('q2', 'Account?id=O%27Brien+%22x%22', now() + interval '1 day', 'user');
SELECT logout_everywhere.enable('"My App"."User Accounts"', '"My App"."Auth Tokens"',
         id_column => 'User ID', password_column => 'Pass Word', subject_name => 'Account',
         apply_on_password_change => true, action_name => 'Log Out; DROP TABLE users',
         argument_name => 'The "User"');
SELECT * FROM actions WHERE action::text LIKE '"My App".%';
SELECT * FROM user_triggers WHERE on_table::text LIKE '"My App".%' ORDER BY on_table::text, tgname;
SELECT "My App"."Log Out; DROP TABLE users"(u) FROM "My App"."User Accounts" u;
UPDATE "My App"."Auth Tokens" SET purpose = 'user' WHERE jti = 'q1';
UPDATE "My App"."User Accounts" SET "Pass Word" = 'new';
SELECT jti, subject, purpose FROM "My App"."Auth Tokens" ORDER BY jti;
SELECT to_regclass('users') IS NOT NULL AS users_still_there;

--
-- disable removes the settings row, the action and the triggers of that
-- table, keeps the index and touches no token.
--
TRUNCATE token_snapshot;
INSERT INTO token_snapshot SELECT xmin::text, * FROM tokens;
SELECT logout_everywhere.disable('users');
SELECT user_table FROM logout_everywhere.settings ORDER BY user_table::text;
SELECT * FROM actions WHERE action::text NOT LIKE '"My App".%';
SELECT * FROM user_triggers WHERE on_table IN ('users'::regclass, 'tokens'::regclass);
SELECT * FROM subject_indexes WHERE on_table = 'tokens'::regclass;
SELECT * FROM tokens_written;
\set VERBOSITY sqlstate
SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid, user_table => 'users');
-- disabling a table that is not enabled is an error
SELECT logout_everywhere.disable('users');
\set VERBOSITY default
SELECT logout_everywhere.disable('admins');
SELECT logout_everywhere.disable('"My App"."User Accounts"');
SELECT * FROM logout_everywhere.settings;
SELECT * FROM actions;
SELECT * FROM user_triggers;

--
-- An enabled table keeps the extension from being dropped; CASCADE takes
-- the actions and triggers with it.
--
SELECT logout_everywhere.enable('users', apply_on_password_change => true);
\set VERBOSITY sqlstate
DROP EXTENSION logout_everywhere;
\set VERBOSITY default
SET client_min_messages = warning;
DROP EXTENSION logout_everywhere CASCADE;
RESET client_min_messages;
SELECT * FROM actions;
SELECT * FROM user_triggers;
SELECT count(*) AS tokens_kept FROM tokens;

\c :regress_home
DROP DATABASE regress_le_configuration WITH (FORCE);
