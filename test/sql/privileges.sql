--
-- privileges: EXECUTE revoked from PUBLIC, what an application role needs,
-- the caller's own privileges and row-level security, enable/disable by owners only
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_privileges;
DROP ROLE IF EXISTS regress_le_priv_app;
DROP ROLE IF EXISTS regress_le_priv_nobody;
DROP ROLE IF EXISTS regress_le_priv_reader;
DROP ROLE IF EXISTS regress_le_priv_owner;
RESET client_min_messages;
CREATE DATABASE regress_le_privileges TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
SELECT current_database() AS regress_home \gset
\c regress_le_privileges
\set VERBOSITY sqlstate

CREATE ROLE regress_le_priv_app;      -- the application: only what it needs
CREATE ROLE regress_le_priv_nobody;   -- table privileges but no EXECUTE
CREATE ROLE regress_le_priv_reader;   -- EXECUTE but only SELECT on the tables
CREATE ROLE regress_le_priv_owner;    -- owns a user table of its own, not "users"

CREATE EXTENSION logout_everywhere;
CREATE TABLE tokens (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));
CREATE INDEX ON tokens (subject);
CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL UNIQUE, hashed_password text);
INSERT INTO users VALUES
  ('11111111-1111-1111-1111-111111111111', 'alice@example.com', 'h1'),
  ('22222222-2222-2222-2222-222222222222', 'bob@example.com', 'h2');
CREATE PROCEDURE seed() LANGUAGE sql AS $$
  DELETE FROM tokens;
  INSERT INTO tokens (jti, subject, expires_at, purpose, extra_data)
  SELECT u || '-' || n, 'user?id=' || id, (now() AT TIME ZONE 'utc') + interval '1 day', 'user',
         jsonb_build_object('tenant', CASE WHEN n = 3 THEN 'hidden' ELSE 'shown' END)
    FROM (VALUES ('a', '11111111-1111-1111-1111-111111111111'),
                 ('b', '22222222-2222-2222-2222-222222222222')) v(u, id),
         generate_series(1, 3) n;
  INSERT INTO tokens (jti, subject, expires_at, purpose)
  VALUES ('a-dead', 'user?id=11111111-1111-1111-1111-111111111111',
          (now() AT TIME ZONE 'utc') - interval '1 day', 'user');
$$;
CREATE VIEW state AS
  SELECT string_agg(jti || ':' || purpose, ' ' ORDER BY jti) AS tokens FROM tokens;
GRANT SELECT ON state TO PUBLIC;
SELECT logout_everywhere.enable('users', apply_on_password_change => true);

--
-- EXECUTE is revoked from PUBLIC on every function of the schema, and on the
-- generated action.
--
SELECT p.oid::regprocedure AS function,
       EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_may_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'logout_everywhere'::regnamespace
 ORDER BY p.proname, p.oid::regprocedure::text COLLATE "C";
SELECT p.oid::regprocedure AS action,
       EXISTS (SELECT 1 FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE') AS public_may_execute
  FROM pg_proc p
 WHERE p.proname = 'log_out_everywhere' AND p.pronamespace = 'public'::regnamespace;
-- the settings table is not readable by PUBLIC either
SELECT has_table_privilege('regress_le_priv_app', 'logout_everywhere.settings', 'SELECT') AS app_reads_settings;

--
-- A role with table privileges and USAGE, but no EXECUTE: refused.
--
GRANT USAGE ON SCHEMA logout_everywhere TO regress_le_priv_nobody;
GRANT SELECT, INSERT, UPDATE, DELETE ON tokens TO regress_le_priv_nobody;
GRANT SELECT, UPDATE ON users TO regress_le_priv_nobody;
CALL seed();
SET ROLE regress_le_priv_nobody;
SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid);
SELECT logout_everywhere.revoke_subject('user?id=11111111-1111-1111-1111-111111111111');
SELECT logout_everywhere.subject_for('11111111-1111-1111-1111-111111111111'::uuid);
SELECT logout_everywhere.token_valid('a-1');
SELECT logout_everywhere.is_revoked('a-1');
SELECT logout_everywhere.expunge_expired();
CALL logout_everywhere.expunge_expired_committing();
SELECT logout_everywhere.enable('users');
SELECT logout_everywhere.disable('users');
SELECT log_out_everywhere(u) FROM users u;
-- a token write and a password change need no EXECUTE (the triggers are the extension's)
INSERT INTO tokens (jti, subject, expires_at, purpose)
  VALUES ('b-4', 'user?id=22222222-2222-2222-2222-222222222222', (now() AT TIME ZONE 'utc') + interval '1 day', 'user');
UPDATE users SET hashed_password = 'nobody changed it' WHERE email = 'bob@example.com';
RESET ROLE;
SELECT * FROM state;

--
-- The application role: USAGE on the schema, EXECUTE on what it calls, its
-- own privileges on the user and token tables, no grant on the settings.
--
GRANT USAGE ON SCHEMA logout_everywhere TO regress_le_priv_app;
GRANT EXECUTE ON FUNCTION
    logout_everywhere.log_out_everywhere("any", text[], text[], text, regclass),
    logout_everywhere.revoke_subject(text, text[], text[], text, regclass),
    logout_everywhere.subject_for("any", regclass),
    logout_everywhere.token_valid(text, text, regclass),
    logout_everywhere.is_revoked(text, regclass),
    logout_everywhere.expunge_expired(regclass, integer),
    public.log_out_everywhere(users)
  TO regress_le_priv_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON tokens TO regress_le_priv_app;
GRANT SELECT, UPDATE ON users TO regress_le_priv_app;
CALL seed();
SET ROLE regress_le_priv_app;
SELECT * FROM logout_everywhere.settings;
SELECT logout_everywhere.subject_for('11111111-1111-1111-1111-111111111111'::uuid);
SELECT logout_everywhere.token_valid('a-1'), logout_everywhere.is_revoked('a-1');
SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid, except_jti => 'a-2');
SELECT logout_everywhere.token_valid('a-1'), logout_everywhere.is_revoked('a-1');
SELECT logout_everywhere.revoke_subject('user?id=11111111-1111-1111-1111-111111111111');
SELECT log_out_everywhere(u) FROM users u WHERE email = 'bob@example.com';
SELECT * FROM state;
INSERT INTO tokens (jti, subject, expires_at, purpose)
  VALUES ('b-4', 'user?id=22222222-2222-2222-2222-222222222222', (now() AT TIME ZONE 'utc') + interval '1 day', 'user');
UPDATE users SET hashed_password = 'changed by app' WHERE email = 'bob@example.com';
SELECT logout_everywhere.expunge_expired();
SELECT * FROM state;
-- not enable/disable
SELECT logout_everywhere.enable('users');
SELECT logout_everywhere.disable('users');
RESET ROLE;

--
-- Functions run with the caller's privileges on the tables: EXECUTE on
-- everything but only SELECT on the tables is not enough to revoke,
-- expunge, or change a password; without SELECT on users no log-out by id.
--
GRANT USAGE ON SCHEMA logout_everywhere TO regress_le_priv_reader;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA logout_everywhere TO regress_le_priv_reader;
GRANT EXECUTE ON ALL PROCEDURES IN SCHEMA logout_everywhere TO regress_le_priv_reader;
GRANT EXECUTE ON FUNCTION public.log_out_everywhere(users) TO regress_le_priv_reader;
GRANT SELECT ON tokens TO regress_le_priv_reader;
GRANT SELECT (id, email), UPDATE (hashed_password) ON users TO regress_le_priv_reader;
CALL seed();
SET ROLE regress_le_priv_reader;
SELECT logout_everywhere.token_valid('a-1'), logout_everywhere.is_revoked('a-1');
SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid);
SELECT logout_everywhere.revoke_subject('user?id=11111111-1111-1111-1111-111111111111');
SELECT logout_everywhere.expunge_expired();
CALL logout_everywhere.expunge_expired_committing();
UPDATE users SET hashed_password = 'reader' WHERE email = 'alice@example.com';
RESET ROLE;
SELECT * FROM state;
REVOKE SELECT ON users FROM regress_le_priv_reader;
GRANT UPDATE ON tokens TO regress_le_priv_reader;
SET ROLE regress_le_priv_reader;
SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid);
-- revoke_subject does not look the user up, so it needs no privilege on users
SELECT logout_everywhere.revoke_subject('user?id=11111111-1111-1111-1111-111111111111');
RESET ROLE;
SELECT * FROM state;

--
-- Row-level security on the token table: rows the caller cannot see are not
-- revoked, and the count says so.
--
ALTER TABLE tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON tokens TO regress_le_priv_app
  USING (extra_data->>'tenant' IS DISTINCT FROM 'hidden');
CALL seed();
SET ROLE regress_le_priv_app;
SELECT count(*) AS visible FROM tokens;
SELECT logout_everywhere.token_valid('a-3') AS hidden_valid, logout_everywhere.token_valid('a-1') AS shown_valid;
SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid);
SELECT logout_everywhere.revoke_subject('user?id=22222222-2222-2222-2222-222222222222');
SELECT logout_everywhere.expunge_expired();
RESET ROLE;
SELECT * FROM state;
ALTER TABLE tokens DISABLE ROW LEVEL SECURITY;

--
-- A role that may UPDATE only the columns a revocation changes (purpose,
-- updated_at) logs out and changes passwords all the same. For a role that
-- may update subject, the revoking UPDATE also writes subject, unchanged
-- (see the README's Performance section); this session's plans were made
-- for the superuser, who may.
--
SELECT logout_everywhere.revoke_subject('user?id=nobody');
REVOKE UPDATE ON tokens FROM regress_le_priv_app;
GRANT UPDATE (purpose, updated_at) ON tokens TO regress_le_priv_app;
CALL seed();
SET ROLE regress_le_priv_app;
SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid, except_jti => 'a-2');
SELECT logout_everywhere.revoke_subject('user?id=11111111-1111-1111-1111-111111111111');
UPDATE users SET hashed_password = 'changed by a column grantee' WHERE email = 'bob@example.com';
-- the role may not write subject itself
UPDATE tokens SET subject = subject WHERE jti = 'b-1';
RESET ROLE;
SELECT * FROM state;
-- The least a log-out needs on the token table (the README's Privileges):
-- SELECT (jti, subject, purpose, expires_at) and UPDATE (purpose,
-- updated_at); without SELECT on jti, 42501 and nothing revoked.
REVOKE SELECT ON tokens FROM regress_le_priv_app;
GRANT SELECT (jti, subject, purpose, expires_at) ON tokens TO regress_le_priv_app;
CALL seed();
SET ROLE regress_le_priv_app;
SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid, except_jti => 'a-2');
RESET ROLE;
CALL seed();
REVOKE SELECT (jti) ON tokens FROM regress_le_priv_app;
SET ROLE regress_le_priv_app;
SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid);
RESET ROLE;
SELECT * FROM state;
REVOKE SELECT (subject, purpose, expires_at) ON tokens FROM regress_le_priv_app;
GRANT SELECT ON tokens TO regress_le_priv_app;
REVOKE UPDATE (purpose, updated_at) ON tokens FROM regress_le_priv_app;
GRANT UPDATE ON tokens TO regress_le_priv_app;

--
-- enable and disable require owning the user table (42501), even with EXECUTE;
-- nothing changes. An owner of its own tables may. (It needs EXECUTE on the
-- trigger functions too: CREATE TRIGGER checks it.)
--
CREATE TABLE locked_tokens (jti text PRIMARY KEY, subject text NOT NULL,
                            expires_at timestamp NOT NULL, purpose text NOT NULL);
GRANT USAGE, CREATE ON SCHEMA public TO regress_le_priv_owner;
GRANT USAGE ON SCHEMA logout_everywhere TO regress_le_priv_owner;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA logout_everywhere TO regress_le_priv_owner;
GRANT SELECT, UPDATE ON users, tokens, locked_tokens TO regress_le_priv_owner;
SET ROLE regress_le_priv_owner;
SELECT logout_everywhere.enable('users');
SELECT logout_everywhere.enable('users', apply_on_password_change => false, subject_name => 'mine');
SELECT logout_everywhere.disable('users');
CREATE TABLE own_users (id integer PRIMARY KEY, hashed_password text);
CREATE TABLE own_tokens (jti text PRIMARY KEY, subject text NOT NULL,
                         expires_at timestamp NOT NULL, purpose text NOT NULL);
CREATE INDEX ON own_tokens (subject);
INSERT INTO own_users VALUES (1, 'x');
INSERT INTO own_tokens VALUES ('o1', 'own?id=1', (now() AT TIME ZONE 'utc') + interval '1 day', 'user');
SELECT logout_everywhere.enable('own_users', 'own_tokens', subject_name => 'own', apply_on_password_change => true);
SELECT logout_everywhere.log_out_everywhere(1, user_table => 'own_users');
SELECT jti, purpose FROM own_tokens;
-- it cannot put an index or a trigger on a token table it does not own,
-- and says so before it announces any index
SELECT logout_everywhere.enable('own_users', 'locked_tokens', subject_name => 'own');
-- nor register somebody else's token table that has its index and guard
-- already: enable() needs to own the token table as well (42501)
SELECT logout_everywhere.enable('own_users', 'tokens', subject_name => 'own');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT user_table, token_table FROM logout_everywhere.settings ORDER BY user_table::text;
-- A superuser enabling the owner's table makes the action the owner's, so
-- that enable() again replaces it and disable() removes it.
SELECT logout_everywhere.enable('own_users', 'own_tokens', subject_name => 'own', action_name => 'sign_out');
SELECT proowner::regrole AS action_owner FROM pg_proc WHERE oid = 'sign_out(own_users)'::regprocedure;
SELECT logout_everywhere.enable('own_users', 'own_tokens', subject_name => 'own', action_name => 'sign_out',
                                exclude_purposes => '{revocation,api}');
SELECT logout_everywhere.enable('own_users', 'own_tokens', subject_name => 'own', apply_on_password_change => true);
SELECT count(*) AS sign_out_left FROM pg_proc WHERE proname = 'sign_out';
-- a member of the owner's role, with default privileges that grant its new
-- functions to another role: the action is the owner's and granted to nobody
CREATE ROLE regress_le_priv_member IN ROLE regress_le_priv_owner;
GRANT CREATE ON SCHEMA public TO regress_le_priv_member;
ALTER DEFAULT PRIVILEGES FOR ROLE regress_le_priv_member GRANT EXECUTE ON FUNCTIONS TO regress_le_priv_app;
SET ROLE regress_le_priv_member;
SELECT logout_everywhere.enable('own_users', 'own_tokens', subject_name => 'own', action_name => 'by_member');
RESET ROLE;
SELECT proowner::regrole AS action_owner, proacl FROM pg_proc WHERE oid = 'by_member(own_users)'::regprocedure;
SELECT logout_everywhere.enable('own_users', 'own_tokens', subject_name => 'own', apply_on_password_change => true);
-- the owner without CREATE on the schema: a clear 42501 that names it
REVOKE CREATE ON SCHEMA public FROM regress_le_priv_owner;
SET ROLE regress_le_priv_member;
\set VERBOSITY default
SELECT logout_everywhere.enable('own_users', 'own_tokens', subject_name => 'own', action_name => 'by_member');
\set VERBOSITY sqlstate
RESET ROLE;
GRANT CREATE ON SCHEMA public TO regress_le_priv_owner;
ALTER DEFAULT PRIVILEGES FOR ROLE regress_le_priv_member REVOKE EXECUTE ON FUNCTIONS FROM regress_le_priv_app;
REVOKE CREATE ON SCHEMA public FROM regress_le_priv_member;
DROP ROLE regress_le_priv_member;
SET ROLE regress_le_priv_owner;
SELECT logout_everywhere.disable('own_users');
RESET ROLE;
SELECT to_regprocedure('log_out_everywhere(own_users)') IS NULL AS action_removed;
SELECT user_table, subject_name, apply_on_password_change FROM logout_everywhere.settings ORDER BY user_table::text;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'users'::regclass AND NOT tgisinternal ORDER BY 1;

--
-- A role without USAGE on the tables' schema gets what SQL would give it,
-- 42501, even when this backend's plans were made by a role that has it
-- (SET ROLE, as a pool or PostgREST does): the cached plans do not skip the
-- check that parsing makes.
--
CREATE SCHEMA hidden;
CREATE TABLE hidden.users (id integer PRIMARY KEY, hashed_password text);
CREATE TABLE hidden.tokens (jti text PRIMARY KEY, subject text NOT NULL,
                            expires_at timestamp NOT NULL, purpose text NOT NULL);
INSERT INTO hidden.users VALUES (1, 'x');
INSERT INTO hidden.tokens VALUES ('h1', 'hidden?id=1', (now() AT TIME ZONE 'utc') + interval '1 day', 'user');
SET client_min_messages = warning;
SELECT logout_everywhere.enable('hidden.users', 'hidden.tokens', subject_name => 'hidden');
RESET client_min_messages;
GRANT SELECT, UPDATE ON hidden.users, hidden.tokens TO regress_le_priv_app;
SELECT 'hidden.users'::regclass::oid AS hidden_users, 'hidden.tokens'::regclass::oid AS hidden_tokens \gset
-- the superuser fills this backend's caches
SELECT logout_everywhere.token_valid('h1', 'user', :hidden_tokens);
SELECT logout_everywhere.log_out_everywhere(2, user_table => :hidden_users);
SELECT logout_everywhere.is_revoked('h1', :hidden_tokens),
       logout_everywhere.subject_for(1, user_table => :hidden_users),
       logout_everywhere.revoke_subject('nobody', user_table => :hidden_users),
       logout_everywhere.expunge_expired(:hidden_tokens);
SET ROLE regress_le_priv_app;
SELECT count(*) FROM hidden.tokens;
\echo :LAST_ERROR_SQLSTATE
SELECT logout_everywhere.token_valid('h1', 'user', :hidden_tokens);
\echo :LAST_ERROR_SQLSTATE
SELECT logout_everywhere.is_revoked('h1', :hidden_tokens);
\echo :LAST_ERROR_SQLSTATE
SELECT logout_everywhere.log_out_everywhere(1, user_table => :hidden_users);
\echo :LAST_ERROR_SQLSTATE
SELECT logout_everywhere.log_out_everywhere(2, user_table => :hidden_users);
\echo :LAST_ERROR_SQLSTATE
SELECT logout_everywhere.subject_for(1, user_table => :hidden_users);
\echo :LAST_ERROR_SQLSTATE
SELECT logout_everywhere.revoke_subject('hidden?id=1', user_table => :hidden_users);
\echo :LAST_ERROR_SQLSTATE
SELECT logout_everywhere.expunge_expired(:hidden_tokens);
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT USAGE ON SCHEMA hidden TO regress_le_priv_app;
SET ROLE regress_le_priv_app;
SELECT logout_everywhere.log_out_everywhere(1, user_table => :hidden_users);
RESET ROLE;
SELECT jti, purpose FROM hidden.tokens;

--
-- A schema logout_everywhere made before CREATE EXTENSION by a role that is
-- not a superuser (it could plant functions that shadow the extension's for
-- its callers), or holding objects, or that another role may create in, is
-- refused (42501); once dropped, CREATE EXTENSION makes its own.
--
\c :regress_home
CREATE DATABASE regress_le_priv_schema;
GRANT CREATE ON DATABASE regress_le_priv_schema TO regress_le_priv_app;
\c regress_le_priv_schema
SET ROLE regress_le_priv_app;
CREATE SCHEMA logout_everywhere;
RESET ROLE;
CREATE EXTENSION logout_everywhere;
\echo :LAST_ERROR_SQLSTATE
DROP SCHEMA logout_everywhere;
CREATE SCHEMA logout_everywhere;
CREATE FUNCTION logout_everywhere.log_out_everywhere(integer) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
CREATE EXTENSION logout_everywhere;
\echo :LAST_ERROR_SQLSTATE
DROP FUNCTION logout_everywhere.log_out_everywhere(integer);
GRANT CREATE ON SCHEMA logout_everywhere TO regress_le_priv_app;
CREATE EXTENSION logout_everywhere;
\echo :LAST_ERROR_SQLSTATE
DROP SCHEMA logout_everywhere;
-- default privileges of the installing role grant nothing of the extension's
ALTER DEFAULT PRIVILEGES GRANT EXECUTE ON FUNCTIONS TO regress_le_priv_app;
ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO regress_le_priv_app, PUBLIC;
CREATE EXTENSION logout_everywhere;
SELECT nspowner::regrole = current_user::regrole AS owned_by_installer
  FROM pg_namespace WHERE nspname = 'logout_everywhere';
SELECT count(*) AS granted_to_others
  FROM (SELECT (aclexplode(proacl)).grantee, proowner AS owner FROM pg_proc
         WHERE pronamespace = 'logout_everywhere'::regnamespace
        UNION ALL
        SELECT (aclexplode(relacl)).grantee, relowner FROM pg_class
         WHERE relnamespace = 'logout_everywhere'::regnamespace) g
 WHERE grantee <> owner;
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM regress_le_priv_app;
ALTER DEFAULT PRIVILEGES REVOKE ALL ON TABLES FROM regress_le_priv_app, PUBLIC;

\c :regress_home
DROP DATABASE regress_le_privileges WITH (FORCE);
DROP DATABASE regress_le_priv_schema WITH (FORCE);
DROP ROLE regress_le_priv_app;
DROP ROLE regress_le_priv_nobody;
DROP ROLE regress_le_priv_reader;
DROP ROLE regress_le_priv_owner;
