--
-- errors: every SQLSTATE of the contract, and enable's validation errors
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_errors;
RESET client_min_messages;
CREATE DATABASE regress_le_errors TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
SELECT current_database() AS regress_home \gset
\c regress_le_errors

CREATE EXTENSION logout_everywhere;

-- err(statement): the SQLSTATE, message and hint of the error it raises.
-- Whatever the statement did is rolled back with its error.
CREATE FUNCTION err(stmt text, OUT state text, OUT message text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  state := 'none';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
END $$;
-- mentions(statement, words): its SQLSTATE, and whether its message (with
-- detail) names every one of the words.
CREATE FUNCTION mentions(stmt text, words text[], OUT state text, OUT names_them boolean)
LANGUAGE plpgsql AS $$
DECLARE
  msg text;
  det text;
BEGIN
  EXECUTE stmt;
  state := 'none';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
  SELECT bool_and(position(w IN msg || ' ' || coalesce(det, '')) > 0) INTO names_them FROM unnest(words) w;
END $$;

--
-- 55000 before anything is enabled, with a hint that names enable.
--
SELECT * FROM err($$SELECT logout_everywhere.log_out_everywhere(1)$$);
SELECT state, hint LIKE '%logout_everywhere.enable%' AS hint_names_enable
  FROM err($$SELECT logout_everywhere.log_out_everywhere(1)$$);
SELECT state, hint LIKE '%enable%' AS hint_names_enable FROM err($$SELECT logout_everywhere.revoke_subject('user?id=1')$$);
SELECT state, hint LIKE '%enable%' AS hint_names_enable FROM err($$SELECT logout_everywhere.subject_for(1)$$);
SELECT state, hint LIKE '%enable%' AS hint_names_enable FROM err($$SELECT logout_everywhere.token_valid('x')$$);
SELECT state, hint LIKE '%enable%' AS hint_names_enable FROM err($$SELECT logout_everywhere.is_revoked('x')$$);
SELECT state, hint LIKE '%enable%' AS hint_names_enable FROM err($$SELECT logout_everywhere.expunge_expired()$$);

--
-- enable's validation: each failure names the table and the column, and
-- leaves no trace.
--
CREATE TABLE tokens (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));
CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL UNIQUE, hashed_password text);
INSERT INTO users VALUES ('11111111-1111-1111-1111-111111111111', 'alice@example.com', 'h');
INSERT INTO tokens (jti, subject, expires_at, purpose) VALUES
  ('a1', 'user?id=11111111-1111-1111-1111-111111111111', (now() AT TIME ZONE 'utc') + interval '1 day', 'user');

-- 42703: a missing column
SELECT * FROM mentions($$SELECT logout_everywhere.enable('users', id_column => 'uid')$$, '{users,uid}');
SELECT * FROM mentions($$SELECT logout_everywhere.enable('users', password_column => 'pw', apply_on_password_change => true)$$, '{users,pw}');
CREATE TABLE no_jti        (subject text, expires_at timestamp, purpose text);
CREATE TABLE no_subject    (jti text, expires_at timestamp, purpose text);
CREATE TABLE no_expires_at (jti text, subject text, purpose text);
CREATE TABLE no_purpose    (jti text, subject text, expires_at timestamp);
SELECT t, m.*
  FROM (VALUES ('no_jti', 'jti'), ('no_subject', 'subject'),
               ('no_expires_at', 'expires_at'), ('no_purpose', 'purpose')) v(t, c),
       mentions(format('SELECT logout_everywhere.enable(%L, %L)', 'users', t), ARRAY[t, c]) m;
-- a dropped column does not count
CREATE TABLE dropped_purpose (jti text, subject text, expires_at timestamp, purpose text);
ALTER TABLE dropped_purpose DROP COLUMN purpose;
SELECT * FROM mentions($$SELECT logout_everywhere.enable('users', 'dropped_purpose')$$, '{dropped_purpose,purpose}');
-- 42804: a column of the wrong type
CREATE TABLE int_jti      (jti integer, subject text, expires_at timestamp, purpose text);
CREATE TABLE int_subject  (jti text, subject integer, expires_at timestamp, purpose text);
CREATE TABLE text_expires (jti text, subject text, expires_at text, purpose text);
CREATE TABLE date_expires (jti text, subject text, expires_at date, purpose text);
CREATE TABLE json_purpose (jti text, subject text, expires_at timestamp, purpose jsonb);
SELECT t, m.*
  FROM (VALUES ('int_jti', 'jti'), ('int_subject', 'subject'), ('text_expires', 'expires_at'),
               ('date_expires', 'expires_at'), ('json_purpose', 'purpose')) v(t, c),
       mentions(format('SELECT logout_everywhere.enable(%L, %L)', 'users', t), ARRAY[t, c]) m;
-- text-like columns are fine: varchar, a domain over text; timestamptz(0)
CREATE DOMAIN jti_text AS text CHECK (length(VALUE) > 0);
CREATE TABLE texty_tokens (jti jti_text PRIMARY KEY, subject varchar(300) NOT NULL,
                           expires_at timestamptz(0) NOT NULL, purpose character varying NOT NULL);
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT logout_everywhere.enable('users', 'texty_tokens');
ROLLBACK;
-- 42809: not a table
CREATE VIEW users_view AS SELECT * FROM users;
CREATE VIEW tokens_view AS SELECT * FROM tokens;
CREATE SEQUENCE a_sequence;
SELECT * FROM mentions($$SELECT logout_everywhere.enable('users_view')$$, '{users_view}');
SELECT * FROM mentions($$SELECT logout_everywhere.enable('users', 'tokens_view')$$, '{tokens_view}');
SELECT * FROM mentions($$SELECT logout_everywhere.enable('a_sequence')$$, '{a_sequence}');
-- 42P01: no token table given and none called "tokens" on search_path
SET search_path = pg_catalog;
SELECT * FROM public.mentions($$SELECT logout_everywhere.enable('public.users')$$, '{tokens}');
RESET search_path;
-- 22004: a NULL where a value is needed
SELECT * FROM err($$SELECT logout_everywhere.enable(NULL)$$);
SELECT * FROM err($$SELECT logout_everywhere.enable('users', id_column => NULL)$$);
SELECT * FROM err($$SELECT logout_everywhere.enable('users', password_column => NULL)$$);
SELECT * FROM err($$SELECT logout_everywhere.enable('users', subject_name => NULL)$$);
SELECT * FROM err($$SELECT logout_everywhere.enable('users', apply_on_password_change => NULL)$$);
SELECT * FROM err($$SELECT logout_everywhere.enable('users', action_name => NULL)$$);
SELECT * FROM err($$SELECT logout_everywhere.enable('users', argument_name => NULL)$$);
SELECT * FROM err($$SELECT logout_everywhere.enable('users', include_purposes => '{user,NULL}')$$);
SELECT * FROM err($$SELECT logout_everywhere.enable('users', exclude_purposes => '{NULL}')$$);
SELECT * FROM err($$SELECT logout_everywhere.disable(NULL)$$);
-- 42P01 for a table that does not exist is regclass's own
SELECT * FROM err($$SELECT logout_everywhere.enable('no_such_table')$$);
-- none of the above left a trace
SELECT count(*) AS settings FROM logout_everywhere.settings;
SELECT count(*) AS triggers FROM pg_trigger WHERE NOT tgisinternal
   AND tgrelid <> 'logout_everywhere.settings'::regclass;
SELECT count(*) AS actions FROM pg_proc WHERE proname = 'log_out_everywhere'
   AND pronamespace <> 'logout_everywhere'::regnamespace;
SELECT count(*) AS indexes_on_tokens FROM pg_index WHERE indrelid = 'tokens'::regclass;

--
-- Logging out.
--
SET client_min_messages = warning;
SELECT logout_everywhere.enable('users');
RESET client_min_messages;
-- 22004: NULL id / subject
SELECT * FROM err($$SELECT logout_everywhere.log_out_everywhere(NULL::uuid)$$);
SELECT * FROM err($$SELECT logout_everywhere.log_out_everywhere(NULL)$$);
SELECT * FROM err($$SELECT logout_everywhere.revoke_subject(NULL)$$);
SELECT * FROM err($$SELECT logout_everywhere.subject_for(NULL::uuid)$$);
-- 22004: a NULL element in a purposes array
SELECT * FROM err($$SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid, include_purposes => '{user,NULL}')$$);
SELECT * FROM err($$SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid, exclude_purposes => ARRAY[NULL::text])$$);
SELECT * FROM err($$SELECT logout_everywhere.revoke_subject('user?id=1', include_purposes => '{NULL}')$$);
SELECT * FROM err($$SELECT logout_everywhere.revoke_subject('user?id=1', exclude_purposes => '{revocation,NULL}')$$);
-- 2202E: a purposes array of more than one dimension
SELECT * FROM err($$SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid, include_purposes => '{{user},{otp}}')$$);
SELECT * FROM err($$SELECT logout_everywhere.revoke_subject('user?id=1', exclude_purposes => '{{user},{otp}}')$$);
-- 22P02: not a valid id (uuid), and for an integer id the type's own errors
SELECT * FROM err($$SELECT logout_everywhere.log_out_everywhere('not-a-uuid')$$);
SELECT * FROM err($$SELECT logout_everywhere.log_out_everywhere('not-a-uuid'::text)$$);
SELECT * FROM err($$SELECT logout_everywhere.log_out_everywhere(42)$$);
SELECT * FROM err($$SELECT logout_everywhere.subject_for('not-a-uuid')$$);
CREATE TABLE accounts (id integer PRIMARY KEY, hashed_password text);
INSERT INTO accounts VALUES (1, 'x');
SELECT logout_everywhere.enable('accounts', 'tokens', subject_name => 'account');
SELECT * FROM err($$SELECT logout_everywhere.log_out_everywhere('abc', user_table => 'accounts')$$);
SELECT * FROM err($$SELECT logout_everywhere.log_out_everywhere('1.5'::text, user_table => 'accounts')$$);
SELECT * FROM err($$SELECT logout_everywhere.log_out_everywhere(99999999999, user_table => 'accounts')$$);
-- P0002: no such user; nothing is revoked
INSERT INTO tokens (jti, subject, expires_at, purpose) VALUES
  ('ghost', 'user?id=99999999-9999-9999-9999-999999999999', (now() AT TIME ZONE 'utc') + interval '1 day', 'user'),
  ('ghost-account', 'account?id=2', (now() AT TIME ZONE 'utc') + interval '1 day', 'user');
SELECT * FROM err($$SELECT logout_everywhere.log_out_everywhere('99999999-9999-9999-9999-999999999999'::uuid, user_table => 'users')$$);
SELECT * FROM err($$SELECT logout_everywhere.log_out_everywhere(2, user_table => 'accounts')$$);
SELECT jti, purpose FROM tokens ORDER BY jti;
-- 55000: two enabled user tables and user_table NULL, with the hint
SELECT state, hint LIKE '%enable%' AS hint_names_enable
  FROM err($$SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid)$$);
SELECT state, hint LIKE '%enable%' AS hint_names_enable
  FROM err($$SELECT logout_everywhere.revoke_subject('user?id=11111111-1111-1111-1111-111111111111')$$);
SELECT state, hint LIKE '%enable%' AS hint_names_enable
  FROM err($$SELECT logout_everywhere.subject_for('11111111-1111-1111-1111-111111111111'::uuid)$$);
-- 55000: a user table that is not enabled (a table, or not even a table)
SELECT state, hint LIKE '%enable%' AS hint_names_enable
  FROM err($$SELECT logout_everywhere.log_out_everywhere(1, user_table => 'no_jti')$$);
SELECT state, hint LIKE '%enable%' AS hint_names_enable
  FROM err($$SELECT logout_everywhere.revoke_subject('x', user_table => 'users_view')$$);
-- 55000: disable of a table that is not enabled
SELECT state FROM err($$SELECT logout_everywhere.disable('no_jti')$$);
-- 55000: token_table NULL with two token tables among the enabled tables
SET client_min_messages = warning;
SELECT logout_everywhere.enable('accounts', 'texty_tokens', subject_name => 'account');
RESET client_min_messages;
SELECT state, hint LIKE '%enable%' AS hint_names_enable FROM err($$SELECT logout_everywhere.token_valid('a1')$$);
SELECT state, hint LIKE '%enable%' AS hint_names_enable FROM err($$SELECT logout_everywhere.is_revoked('a1')$$);
SELECT state, hint LIKE '%enable%' AS hint_names_enable FROM err($$SELECT logout_everywhere.expunge_expired()$$);
-- nothing was revoked by any of the failed calls
SELECT jti, purpose FROM tokens ORDER BY jti;

--
-- 42501: enable / disable by a role that does not own the user table.
--
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_le_errors_stranger;
RESET client_min_messages;
CREATE ROLE regress_le_errors_stranger;
GRANT USAGE ON SCHEMA logout_everywhere TO regress_le_errors_stranger;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA logout_everywhere TO regress_le_errors_stranger;
SET ROLE regress_le_errors_stranger;
SELECT * FROM mentions($$SELECT logout_everywhere.enable('users')$$, '{users}');
SELECT * FROM mentions($$SELECT logout_everywhere.disable('users')$$, '{users}');
RESET ROLE;
SELECT user_table FROM logout_everywhere.settings ORDER BY user_table::text;

--
-- A token table dropped after enable(): the user table is no longer enabled
-- (the event trigger removed its settings, action and password trigger), so
-- a log-out is 55000 naming enable, password changes work, and disable()
-- has nothing to remove (55000).
--
CREATE TABLE gone_tokens (jti text PRIMARY KEY, subject text NOT NULL,
  expires_at timestamp(0) NOT NULL, purpose text NOT NULL);
CREATE TABLE gone_users (id integer PRIMARY KEY, hashed_password text, note text);
INSERT INTO gone_users VALUES (1, 'h1', NULL);
SET client_min_messages = warning;
SELECT logout_everywhere.enable('gone_users', 'gone_tokens', subject_name => 'gone',
                                apply_on_password_change => true);
RESET client_min_messages;
DROP TABLE gone_tokens;
SELECT state, hint LIKE '%enable%' AS hint_names_enable
  FROM err($$SELECT logout_everywhere.log_out_everywhere(1, user_table => 'gone_users')$$);
SELECT state, hint LIKE '%enable%' AS hint_names_enable
  FROM err($$UPDATE gone_users SET hashed_password = 'h2'$$);
UPDATE gone_users SET note = 'still writable';
SELECT count(*) AS settings_rows FROM logout_everywhere.settings WHERE user_table = 'gone_users'::regclass;
SELECT count(*) AS password_triggers FROM pg_trigger WHERE tgrelid = 'gone_users'::regclass;
SELECT state FROM err($$SELECT logout_everywhere.disable('gone_users')$$);
UPDATE gone_users SET hashed_password = 'h3';
SELECT * FROM gone_users;

\c :regress_home
DROP DATABASE regress_le_errors WITH (FORCE);
DROP ROLE regress_le_errors_stranger;
