--
-- PostgREST's db-pre-request hook: logout_everywhere.require_valid_jwt().
--
-- PostgREST runs each request in a transaction: it switches to the role of
-- the JWT, sets the claims with set_config('request.jwt.claims', <json>,
-- true) (transaction-local) and then calls the db-pre-request function.
-- Here each "request" does the same. A refused token raises SQLSTATE 'PGRST'
-- with PostgREST's JSON message and a detail that makes the answer HTTP 401.
--
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_postgrest;
DROP ROLE IF EXISTS regress_le_web_user;
DROP ROLE IF EXISTS regress_le_anon;
DROP ROLE IF EXISTS regress_le_nobody;
RESET client_min_messages;
CREATE DATABASE regress_le_postgrest TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
SELECT current_database() AS regress_home \gset
\c regress_le_postgrest

CREATE EXTENSION logout_everywhere;
CREATE SCHEMA le_pgrst;
CREATE TABLE le_pgrst.users (id bigint PRIMARY KEY, email text NOT NULL, hashed_password text NOT NULL);
CREATE TABLE le_pgrst.tokens (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));
CREATE INDEX ON le_pgrst.tokens (subject);
SELECT logout_everywhere.enable('le_pgrst.users', 'le_pgrst.tokens');
INSERT INTO le_pgrst.users VALUES (1, 'a@example.com', 'h1'), (2, 'b@example.com', 'h2');
-- Times are UTC wall clock (as Ash writes them); the session is far from UTC.
SET TimeZone = 'Pacific/Kiritimati';
INSERT INTO le_pgrst.tokens (jti, subject, expires_at, purpose) VALUES
  ('jti-laptop',   'user?id=1', now() AT TIME ZONE 'utc' + interval '2 hours',  'user'),
  ('jti-phone',    'user?id=1', now() AT TIME ZONE 'utc' + interval '7 days',   'user'),
  ('jti-remember', 'user?id=1', now() AT TIME ZONE 'utc' + interval '30 days',  'remember_me'),
  ('jti-expired',  'user?id=1', now() AT TIME ZONE 'utc' - interval '1 hour',   'user'),
  ('jti-other',    'user?id=2', now() AT TIME ZONE 'utc' + interval '7 days',   'user');
-- User 1 logs out their other devices from the laptop: the phone's token is revoked.
SELECT logout_everywhere.log_out_everywhere(1, except_jti => 'jti-laptop', exclude_purposes => '{revocation,remember_me}');
SELECT jti, purpose FROM le_pgrst.tokens ORDER BY jti;

-- The roles PostgREST switches to, with exactly the grants the README lists.
CREATE ROLE regress_le_web_user NOLOGIN;
CREATE ROLE regress_le_anon NOLOGIN;
GRANT USAGE ON SCHEMA logout_everywhere TO regress_le_web_user, regress_le_anon;
GRANT EXECUTE ON FUNCTION logout_everywhere.require_valid_jwt() TO regress_le_web_user, regress_le_anon;
GRANT USAGE ON SCHEMA le_pgrst TO regress_le_web_user;
GRANT SELECT ON le_pgrst.tokens TO regress_le_web_user;

--
-- An anonymous request on a new connection: request.jwt.claims was never
-- set (NULL). Passes, without any privilege on the token table.
--
BEGIN;
SET LOCAL ROLE regress_le_anon;
SELECT current_setting('request.jwt.claims', true) IS NULL AS no_claims;
SELECT logout_everywhere.require_valid_jwt();
COMMIT;

--
-- Requests with a stored, live token pass.
--
BEGIN;
SET LOCAL ROLE regress_le_web_user;
SELECT set_config('request.jwt.claims', '{"sub":"user?id=1","role":"regress_le_web_user","jti":"jti-laptop"}', true);
SELECT logout_everywhere.require_valid_jwt();
COMMIT;

BEGIN;
SET LOCAL ROLE regress_le_web_user;
SELECT set_config('request.jwt.claims', '{"sub":"user?id=2","role":"regress_le_web_user","jti":"jti-other","purpose":"user","exp":4102444800}', true);
SELECT logout_everywhere.require_valid_jwt();
COMMIT;

--
-- Refused: HTTP 401 through SQLSTATE PGRST, the JSON message and the detail.
--
-- A revoked token.
BEGIN;
SET LOCAL ROLE regress_le_web_user;
SELECT set_config('request.jwt.claims', '{"sub":"user?id=1","role":"regress_le_web_user","jti":"jti-phone"}', true);
SELECT logout_everywhere.require_valid_jwt();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- A token that was never stored.
BEGIN;
SET LOCAL ROLE regress_le_web_user;
SELECT set_config('request.jwt.claims', '{"sub":"user?id=1","role":"regress_le_web_user","jti":"jti-unknown"}', true);
SELECT logout_everywhere.require_valid_jwt();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- An expired token.
BEGIN;
SET LOCAL ROLE regress_le_web_user;
SELECT set_config('request.jwt.claims', '{"sub":"user?id=1","role":"regress_le_web_user","jti":"jti-expired"}', true);
SELECT logout_everywhere.require_valid_jwt();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

--
-- The optional "purpose" claim (default 'user') must match the stored purpose.
--
BEGIN;
SET LOCAL ROLE regress_le_web_user;
SELECT set_config('request.jwt.claims', '{"sub":"user?id=1","role":"regress_le_web_user","jti":"jti-remember","purpose":"remember_me"}', true);
SELECT logout_everywhere.require_valid_jwt();
COMMIT;
-- The same jti without a purpose claim is checked as a 'user' token: refused.
BEGIN;
SET LOCAL ROLE regress_le_web_user;
SELECT set_config('request.jwt.claims', '{"sub":"user?id=1","role":"regress_le_web_user","jti":"jti-remember"}', true);
SELECT logout_everywhere.require_valid_jwt();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- A 'user' token presented with another purpose: refused.
BEGIN;
SET LOCAL ROLE regress_le_web_user;
SELECT set_config('request.jwt.claims', '{"sub":"user?id=1","role":"regress_le_web_user","jti":"jti-laptop","purpose":"remember_me"}', true);
SELECT logout_everywhere.require_valid_jwt();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;
-- A revoked token that claims the purpose 'revocation' is still refused.
BEGIN;
SET LOCAL ROLE regress_le_web_user;
SELECT set_config('request.jwt.claims', '{"sub":"user?id=1","role":"regress_le_web_user","jti":"jti-phone","purpose":"revocation"}', true);
SELECT logout_everywhere.require_valid_jwt();
\echo :LAST_ERROR_SQLSTATE
ROLLBACK;

--
-- More anonymous requests: they pass, without any privilege on the token table.
--
-- request.jwt.claims set by an earlier request on the same connection is
-- now the empty string.
SELECT current_setting('request.jwt.claims', true) = '' AS empty_claims;
BEGIN;
SET LOCAL ROLE regress_le_anon;
SELECT logout_everywhere.require_valid_jwt();
COMMIT;
-- Claims without a jti: an empty object, a role only, a jti that is null.
BEGIN;
SET LOCAL ROLE regress_le_anon;
SELECT set_config('request.jwt.claims', '{}', true);
SELECT logout_everywhere.require_valid_jwt();
SELECT set_config('request.jwt.claims', '{"role":"regress_le_anon"}', true);
SELECT logout_everywhere.require_valid_jwt();
SELECT set_config('request.jwt.claims', '{"sub":"user?id=1","role":"regress_le_anon","jti":null}', true);
SELECT logout_everywhere.require_valid_jwt();
COMMIT;

--
-- Privileges.
--
\set VERBOSITY sqlstate
-- A role that may not read the token table cannot have its token accepted.
BEGIN;
SET LOCAL ROLE regress_le_anon;
SELECT set_config('request.jwt.claims', '{"sub":"user?id=1","role":"regress_le_anon","jti":"jti-laptop"}', true);
SELECT logout_everywhere.require_valid_jwt();
ROLLBACK;
-- Not executable by PUBLIC.
CREATE ROLE regress_le_nobody NOLOGIN;
BEGIN;
SET LOCAL ROLE regress_le_nobody;
SELECT logout_everywhere.require_valid_jwt();
ROLLBACK;
DROP ROLE regress_le_nobody;

--
-- Without an enabled user table there is no token table to look in: a
-- request with a jti fails (55000), an anonymous one still passes.
--
SELECT logout_everywhere.disable('le_pgrst.users');
BEGIN;
SELECT set_config('request.jwt.claims', '{"sub":"user?id=1","jti":"jti-laptop"}', true);
SELECT logout_everywhere.require_valid_jwt();
ROLLBACK;
BEGIN;
SELECT set_config('request.jwt.claims', '{"role":"regress_le_anon"}', true);
SELECT logout_everywhere.require_valid_jwt();
COMMIT;
\set VERBOSITY default

\c :regress_home
DROP DATABASE regress_le_postgrest WITH (FORCE);
DROP ROLE regress_le_web_user, regress_le_anon;
