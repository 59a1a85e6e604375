--
-- ddl: what a backend caches (table names, plans, settings) follows every
-- DDL on the tables it came from, and the settings follow DROPs (the
-- sql_drop event trigger). A look-alike table that takes an old name is
-- never read or written.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_ddl;
DROP ROLE IF EXISTS regress_le_ddl_attacker;
RESET client_min_messages;
CREATE DATABASE regress_le_ddl;
SELECT current_database() AS regress_home \gset
\c regress_le_ddl
\set VERBOSITY terse
CREATE EXTENSION logout_everywhere;

-- make_tables(schema, jti): users with user 1, tokens with one live token of
-- user 1 whose jti says which table it is in
CREATE PROCEDURE make_tables(schema text, jti text) LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TABLE %I.users (id integer PRIMARY KEY, hashed_password text)', schema);
  EXECUTE format('INSERT INTO %I.users VALUES (1, %L)', schema, 'h');
  EXECUTE format('CREATE TABLE %I.tokens (jti text PRIMARY KEY, subject text NOT NULL,
    expires_at timestamp(0) NOT NULL, purpose text NOT NULL)', schema);
  EXECUTE format('CREATE INDEX ON %I.tokens (subject)', schema);
  EXECUTE format('INSERT INTO %I.tokens VALUES (%L, %L, now() AT TIME ZONE %L + interval %L, %L)',
                 schema, jti, 'user?id=1', 'utc', '1 day', 'user');
END $$;
CREATE SCHEMA app;
CALL make_tables('app', 'own-1');
SELECT logout_everywhere.enable('app.users', 'app.tokens', apply_on_password_change => true);
-- this backend caches plans naming app.tokens and app.users
SELECT logout_everywhere.token_valid('own-1');
SELECT logout_everywhere.subject_for(1);

-- The schema renamed, a look-alike in its old name: the registered tables
-- are still the ones read and written.
ALTER SCHEMA app RENAME TO app_v1;
CREATE SCHEMA app;
CALL make_tables('app', 'lookalike-1');
SELECT logout_everywhere.token_valid('lookalike-1') AS lookalike_token_seen;
SELECT logout_everywhere.token_valid('own-1') AS own_token_seen;
SELECT logout_everywhere.log_out_everywhere(1);
SELECT jti, purpose FROM app_v1.tokens UNION ALL SELECT jti, purpose FROM app.tokens ORDER BY 1;

-- The tables renamed, look-alikes in their old names.
INSERT INTO app_v1.tokens VALUES ('own-2', 'user?id=1', now() AT TIME ZONE 'utc' + interval '1 day', 'user');
SELECT logout_everywhere.token_valid('own-2');
ALTER TABLE app_v1.tokens RENAME TO tokens_v1;
ALTER TABLE app_v1.users RENAME TO users_v1;
CALL make_tables('app_v1', 'lookalike-2');
SELECT logout_everywhere.token_valid('lookalike-2') AS lookalike_token_seen;
SELECT logout_everywhere.token_valid('own-2') AS own_token_seen;
SELECT logout_everywhere.log_out_everywhere(1);
UPDATE app_v1.users SET hashed_password = 'other';
SELECT jti, purpose FROM app_v1.tokens_v1 UNION ALL SELECT jti, purpose FROM app_v1.tokens ORDER BY 1;

-- SET SCHEMA, then a look-alike in the old place. The action moves with the
-- user table (it is <schema of user_table>.<action_name>), and disable()
-- removes it.
CREATE SCHEMA moved;
ALTER TABLE app_v1.tokens_v1 SET SCHEMA moved;
ALTER TABLE app_v1.users_v1 SET SCHEMA moved;
CREATE TABLE app_v1.tokens_v1 (LIKE moved.tokens_v1 INCLUDING ALL);
INSERT INTO app_v1.tokens_v1 VALUES ('lookalike-3', 'user?id=1', now() AT TIME ZONE 'utc' + interval '1 day', 'user');
INSERT INTO moved.tokens_v1 VALUES ('own-3', 'user?id=1', now() AT TIME ZONE 'utc' + interval '1 day', 'user');
SELECT logout_everywhere.token_valid('lookalike-3') AS lookalike_token_seen;
SELECT logout_everywhere.token_valid('own-3') AS own_token_seen;
SELECT logout_everywhere.log_out_everywhere(1);
SELECT jti, purpose FROM moved.tokens_v1 UNION ALL SELECT jti, purpose FROM app_v1.tokens_v1 ORDER BY 1;
SELECT p.oid::regprocedure AS action FROM pg_proc p WHERE proname = 'log_out_everywhere'
   AND pronamespace <> 'logout_everywhere'::regnamespace;
-- enable() again with another action name: the old action goes, the new
-- one is made in the table's schema (then back to the default name)
SELECT logout_everywhere.enable('moved.users_v1', 'moved.tokens_v1', action_name => 'sign_out_all');
SELECT p.oid::regprocedure AS action FROM pg_proc p
 WHERE proname IN ('log_out_everywhere', 'sign_out_all') AND pronamespace <> 'logout_everywhere'::regnamespace;
SELECT logout_everywhere.enable('moved.users_v1', 'moved.tokens_v1');
SELECT logout_everywhere.disable('moved.users_v1');
SELECT count(*) AS actions_left FROM pg_proc WHERE proname = 'log_out_everywhere'
   AND pronamespace <> 'logout_everywhere'::regnamespace;
SELECT count(*) AS triggers_left FROM pg_trigger WHERE tgname LIKE 'logout_everywhere%';

-- Columns renamed after enable(). The token table's columns have fixed
-- names: a renamed one is an error naming it. The user table's id and
-- password columns are followed to their new names (the action and the
-- password trigger depend on them), and a look-alike that takes an old name
-- is not used.
SELECT logout_everywhere.enable('moved.users_v1', 'moved.tokens_v1');
INSERT INTO moved.tokens_v1 VALUES ('own-4', 'user?id=1', now() AT TIME ZONE 'utc' + interval '1 day', 'user');
SELECT logout_everywhere.token_valid('own-4');
ALTER TABLE moved.tokens_v1 RENAME COLUMN subject TO subject_v1;
SELECT logout_everywhere.log_out_everywhere(1);
ALTER TABLE moved.tokens_v1 RENAME COLUMN subject_v1 TO subject;
ALTER TABLE moved.users_v1 RENAME COLUMN id TO user_id;
SELECT id_column FROM logout_everywhere.settings;
SELECT logout_everywhere.log_out_everywhere(1);
ALTER TABLE moved.users_v1 ADD COLUMN id integer;
UPDATE moved.users_v1 SET id = 2;
INSERT INTO moved.users_v1 (user_id, id) VALUES (2, 1);
INSERT INTO moved.tokens_v1 VALUES ('own-5', 'user?id=2', now() AT TIME ZONE 'utc' + interval '1 day', 'user');
-- user 2 is the row whose user_id is 2, whatever its column "id" says
SELECT logout_everywhere.log_out_everywhere(2);
SELECT jti, purpose FROM moved.tokens_v1 WHERE jti LIKE 'own-%' ORDER BY jti;
ALTER TABLE moved.users_v1 DROP COLUMN id;
DELETE FROM moved.users_v1 WHERE user_id = 2;
ALTER TABLE moved.users_v1 RENAME COLUMN user_id TO id;
SELECT id_column FROM logout_everywhere.settings;
SELECT logout_everywhere.log_out_everywhere(1);
-- the password column, with a look-alike in its old name
SELECT logout_everywhere.enable('moved.users_v1', 'moved.tokens_v1', apply_on_password_change => true);
INSERT INTO moved.tokens_v1 VALUES ('own-6', 'user?id=1', now() AT TIME ZONE 'utc' + interval '1 day', 'user');
ALTER TABLE moved.users_v1 RENAME COLUMN hashed_password TO pw;
ALTER TABLE moved.users_v1 ADD COLUMN hashed_password text;
SELECT password_column FROM logout_everywhere.settings;
UPDATE moved.users_v1 SET hashed_password = 'the look-alike';
SELECT jti, purpose FROM moved.tokens_v1 WHERE jti = 'own-6';
UPDATE moved.users_v1 SET pw = 'changed';
SELECT jti, purpose FROM moved.tokens_v1 WHERE jti = 'own-6';
ALTER TABLE moved.users_v1 DROP COLUMN hashed_password;
ALTER TABLE moved.users_v1 RENAME COLUMN pw TO hashed_password;
SELECT password_column FROM logout_everywhere.settings;
-- an inheritance child of an enabled user table is refused; one of a token
-- table gets the guard
CREATE TABLE moved.users_child () INHERITS (moved.users_v1);
\echo :LAST_ERROR_SQLSTATE
CREATE TABLE moved.tokens_child () INHERITS (moved.tokens_v1);
SELECT tgname FROM pg_trigger WHERE tgrelid = 'moved.tokens_child'::regclass;
SELECT logout_everywhere.log_out_everywhere(1);
-- another ALTER TABLE of a child leaves its guard alone (a restore adds a
-- child's keys after loading the settings, then creates the guard itself):
-- with the guard dropped, an ALTER TABLE does not put it back
DROP TRIGGER logout_everywhere_token_guard ON moved.tokens_child;
ALTER TABLE moved.tokens_child ADD PRIMARY KEY (jti);
SELECT count(*) AS guards FROM pg_trigger WHERE tgrelid = 'moved.tokens_child'::regclass;
DROP TABLE moved.tokens_child;
-- the same for children made by CREATE SCHEMA ... CREATE TABLE, and for
-- foreign tables (CREATE and ALTER FOREIGN TABLE)
CREATE SCHEMA kids CREATE TABLE users_kid () INHERITS (moved.users_v1);
\echo :LAST_ERROR_SQLSTATE
CREATE SCHEMA kids CREATE TABLE tokens_kid () INHERITS (moved.tokens_v1);
SELECT tgname FROM pg_trigger WHERE tgrelid = 'kids.tokens_kid'::regclass;
DROP SCHEMA kids CASCADE;
CREATE EXTENSION postgres_fdw;
CREATE SERVER elsewhere FOREIGN DATA WRAPPER postgres_fdw;
CREATE FOREIGN TABLE moved.users_remote () INHERITS (moved.users_v1) SERVER elsewhere;
\echo :LAST_ERROR_SQLSTATE
CREATE FOREIGN TABLE moved.tokens_remote () INHERITS (moved.tokens_v1) SERVER elsewhere;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'moved.tokens_remote'::regclass;
DROP FOREIGN TABLE moved.tokens_remote;
CREATE FOREIGN TABLE moved.tokens_remote (jti text NOT NULL, subject text NOT NULL,
  expires_at timestamp(0) NOT NULL, purpose text NOT NULL) SERVER elsewhere;
ALTER FOREIGN TABLE moved.tokens_remote INHERIT moved.tokens_v1;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'moved.tokens_remote'::regclass;
DROP FOREIGN TABLE moved.tokens_remote;
DROP SERVER elsewhere;
DROP EXTENSION postgres_fdw;

--
-- DROPs keep the settings describing what exists (the sql_drop event trigger).
--
SELECT user_table, token_table, apply_on_password_change FROM logout_everywhere.settings;
-- the token table dropped: the user table is disabled, its action removed
DROP TABLE moved.tokens_v1;
SELECT count(*) AS settings_rows FROM logout_everywhere.settings;
SELECT count(*) AS actions_left FROM pg_proc WHERE proname = 'log_out_everywhere'
   AND pronamespace <> 'logout_everywhere'::regnamespace;
SELECT logout_everywhere.log_out_everywhere(1);
\echo :LAST_ERROR_SQLSTATE
-- the user table dropped with CASCADE (the action goes with it): the row goes,
-- and the guard of a token table no other user table uses
SELECT logout_everywhere.enable('app.users', 'app.tokens', apply_on_password_change => true);
SELECT logout_everywhere.enable('app_v1.users', 'app.tokens', subject_name => 'v1');
DROP TABLE app.users;
DROP TABLE app.users CASCADE;
SELECT user_table, token_table FROM logout_everywhere.settings;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'app.tokens'::regclass AND NOT tgisinternal;
DROP TABLE app_v1.users CASCADE;
SELECT count(*) AS settings_rows FROM logout_everywhere.settings;
SELECT count(*) AS guards_left FROM pg_trigger WHERE tgrelid = 'app.tokens'::regclass AND NOT tgisinternal;
-- the password trigger dropped by hand: apply_on_password_change follows
SELECT logout_everywhere.enable('moved.users_v1', 'app.tokens', apply_on_password_change => true);
DROP TRIGGER logout_everywhere_password ON moved.users_v1;
SELECT apply_on_password_change FROM logout_everywhere.settings;
-- the id column dropped: disabled
ALTER TABLE moved.users_v1 DROP COLUMN id CASCADE;
SELECT count(*) AS settings_rows FROM logout_everywhere.settings;
-- a rolled-back DROP changes nothing
SELECT logout_everywhere.enable('app_v1.tokens', 'app.tokens', id_column => 'jti');
BEGIN;
DROP TABLE app.tokens;
ROLLBACK;
SELECT user_table, token_table FROM logout_everywhere.settings;
-- a user who may drop the token table but does not own the user table: the
-- configuration still goes (the event trigger acts as the settings' owner)
CREATE ROLE regress_le_ddl_dropper;
ALTER TABLE app.tokens OWNER TO regress_le_ddl_dropper;
GRANT USAGE ON SCHEMA app TO regress_le_ddl_dropper;
SET ROLE regress_le_ddl_dropper;
DROP TABLE app.tokens;
RESET ROLE;
SELECT count(*) AS settings_rows FROM logout_everywhere.settings;

--
-- Another role's function that looks like the action (same name, the user
-- table's row type) is never taken for it: not to follow a "rename", not to
-- move, not to drop.
--
CREATE ROLE regress_le_ddl_attacker;
CREATE SCHEMA aaa AUTHORIZATION regress_le_ddl_attacker;
CREATE SCHEMA bbb AUTHORIZATION regress_le_ddl_attacker;
CREATE TABLE app.people (email text, id integer PRIMARY KEY, hashed_password text);
INSERT INTO app.people VALUES ('p@example.com', 1, 'h');
CREATE TABLE app.people_tokens (jti text PRIMARY KEY, subject text NOT NULL,
  expires_at timestamp(0) NOT NULL, purpose text NOT NULL);
INSERT INTO app.people_tokens VALUES ('p1', 'user?id=1', now() AT TIME ZONE 'utc' + interval '1 day', 'user');
SET client_min_messages = warning;
SELECT logout_everywhere.enable('app.people', 'app.people_tokens', apply_on_password_change => true);
RESET client_min_messages;
GRANT USAGE ON SCHEMA app, logout_everywhere TO regress_le_ddl_attacker;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA logout_everywhere TO regress_le_ddl_attacker;
SET ROLE regress_le_ddl_attacker;
CREATE FUNCTION aaa.log_out_everywhere(u app.people) RETURNS bigint LANGUAGE sql
  RETURN logout_everywhere.log_out_everywhere((u).email, user_table => 'app.people');
CREATE FUNCTION bbb.log_out_everywhere(u app.people) RETURNS bigint LANGUAGE sql RETURN 0;
ALTER FUNCTION bbb.log_out_everywhere(app.people) DEPENDS ON EXTENSION logout_everywhere;
RESET ROLE;
ALTER TABLE app.people ADD COLUMN nickname text;
SELECT id_column, password_column FROM logout_everywhere.settings WHERE user_table = 'app.people'::regclass;
UPDATE app.people SET hashed_password = 'new';
SELECT jti, purpose FROM app.people_tokens;
SELECT logout_everywhere.disable('app.people');
SELECT p.oid::regprocedure FROM pg_proc p WHERE proname = 'log_out_everywhere'
   AND pronamespace <> 'logout_everywhere'::regnamespace ORDER BY 1::text;
DROP SCHEMA aaa, bbb CASCADE;

-- Token tables of two user tables in one tree would share guards, which
-- disable() and DETACH PARTITION take from both: enable refuses a partition
-- of another user table's token table, and its parent (0A000).
CREATE TABLE tree_users (id integer PRIMARY KEY, hashed_password text);
CREATE TABLE leaf_users (id integer PRIMARY KEY, hashed_password text);
CREATE TABLE tree_tokens (jti text NOT NULL, subject text NOT NULL,
  expires_at timestamp(0) NOT NULL, purpose text NOT NULL, app text NOT NULL,
  PRIMARY KEY (jti, app)) PARTITION BY LIST (app);
CREATE TABLE tree_tokens_x PARTITION OF tree_tokens FOR VALUES IN ('x');
SELECT logout_everywhere.enable('tree_users', 'tree_tokens');
SELECT logout_everywhere.enable('leaf_users', 'tree_tokens_x');
\echo :LAST_ERROR_SQLSTATE
SELECT logout_everywhere.disable('tree_users');
SELECT logout_everywhere.enable('leaf_users', 'tree_tokens_x');
SELECT logout_everywhere.enable('tree_users', 'tree_tokens');
\echo :LAST_ERROR_SQLSTATE
SELECT logout_everywhere.disable('leaf_users');
-- made one tree by DDL after enable(): disable() of the parent's user table
-- keeps the guard that the child's log-outs need, and only that one
CREATE TABLE inh_users (id integer PRIMARY KEY, hashed_password text);
CREATE TABLE child_users (id integer PRIMARY KEY, hashed_password text);
INSERT INTO child_users VALUES (1, 'h');
CREATE TABLE inh_tokens (jti text PRIMARY KEY, subject text NOT NULL,
  expires_at timestamp(0) NOT NULL, purpose text NOT NULL);
CREATE TABLE child_tokens (jti text PRIMARY KEY, subject text NOT NULL,
  expires_at timestamp(0) NOT NULL, purpose text NOT NULL);
SELECT logout_everywhere.enable('inh_users', 'inh_tokens');
SELECT logout_everywhere.enable('child_users', 'child_tokens', subject_name => 'child');
ALTER TABLE child_tokens INHERIT inh_tokens;
SELECT logout_everywhere.disable('inh_users');
SELECT tgrelid::regclass AS still_guarded FROM pg_trigger
 WHERE tgname = 'logout_everywhere_token_guard' AND tgrelid IN ('inh_tokens'::regclass, 'child_tokens'::regclass)
 ORDER BY tgrelid::regclass::text;
SELECT logout_everywhere.log_out_everywhere(1, user_table => 'child_users');
SELECT logout_everywhere.disable('child_users');
SELECT count(*) AS guards_left FROM pg_trigger
 WHERE tgname = 'logout_everywhere_token_guard' AND tgrelid IN ('inh_tokens'::regclass, 'child_tokens'::regclass);

\c :regress_home
DROP DATABASE regress_le_ddl WITH (FORCE);
DROP ROLE regress_le_ddl_dropper;
DROP ROLE regress_le_ddl_attacker;
