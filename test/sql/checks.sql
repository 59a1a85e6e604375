--
-- checks: token_valid(), is_revoked() and how a NULL token_table is resolved
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_checks;
RESET client_min_messages;
CREATE DATABASE regress_le_checks TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
SELECT current_database() AS regress_home \gset
\c regress_le_checks
\set VERBOSITY sqlstate

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
INSERT INTO tokens (jti, subject, expires_at, purpose) VALUES
  ('live-user',     'user?id=1', (now() AT TIME ZONE 'utc') + interval '7 days',  'user'),
  ('live-remember', 'user?id=1', (now() AT TIME ZONE 'utc') + interval '30 days', 'remember_me'),
  ('dead-user',     'user?id=1', (now() AT TIME ZONE 'utc') - interval '1 hour',  'user'),
  ('revoked',       'user?id=1', (now() AT TIME ZONE 'utc') + interval '7 days',  'revocation'),
  ('dead-revoked',  'user?id=1', (now() AT TIME ZONE 'utc') - interval '7 days',  'revocation');

--
-- No user table is enabled: a NULL token_table cannot be resolved (55000),
-- an explicit one works.
--
SELECT logout_everywhere.token_valid('live-user');
SELECT logout_everywhere.token_valid('live-user', 'user');
SELECT logout_everywhere.is_revoked('revoked');
SELECT logout_everywhere.token_valid('live-user', 'user', 'tokens');
SELECT logout_everywhere.is_revoked('revoked', 'tokens');

SELECT logout_everywhere.enable('users');

--
-- token_valid: a row with this jti and purpose that has not expired.
-- The purpose defaults to 'user'.
--
SELECT jti,
       logout_everywhere.token_valid(jti)                 AS "valid",
       logout_everywhere.token_valid(jti, 'user')         AS "valid user",
       logout_everywhere.token_valid(jti, 'remember_me')  AS "valid remember_me",
       logout_everywhere.token_valid(jti, 'revocation')   AS "valid revocation",
       logout_everywhere.is_revoked(jti)                  AS "revoked"
  FROM (VALUES ('live-user'), ('live-remember'), ('dead-user'), ('revoked'),
               ('dead-revoked'), ('no-such-jti'), ('LIVE-USER'), ('live-user ')) AS j(jti);
-- NULL jti or purpose: false (not NULL)
SELECT logout_everywhere.token_valid(NULL) AS "valid NULL",
       logout_everywhere.token_valid('live-user', NULL) AS "valid purpose NULL",
       logout_everywhere.is_revoked(NULL) AS "revoked NULL";

-- A revocation turns token_valid false and is_revoked true at once, in the
-- same transaction.
BEGIN;
SELECT logout_everywhere.revoke_subject('user?id=1');
SELECT logout_everywhere.token_valid('live-user') AS "valid", logout_everywhere.is_revoked('live-user') AS "revoked";
ROLLBACK;
SELECT logout_everywhere.token_valid('live-user') AS "valid", logout_everywhere.is_revoked('live-user') AS "revoked";

--
-- The instant of expiry: a token that expires exactly now is no longer
-- valid, is not revoked (only later than now is live) and not expunged
-- (only earlier than now is expired).
--
CREATE TABLE tokens_us (jti text PRIMARY KEY, subject text NOT NULL,
                        expires_at timestamptz NOT NULL, purpose text NOT NULL);
CREATE TABLE tokens_ts (jti text PRIMARY KEY, subject text NOT NULL,
                        expires_at timestamp NOT NULL, purpose text NOT NULL);
BEGIN;
INSERT INTO tokens_us VALUES ('now', 'user?id=1', now(), 'user'),
                             ('later', 'user?id=1', now() + interval '1 microsecond', 'user'),
                             ('earlier', 'user?id=1', now() - interval '1 microsecond', 'user');
INSERT INTO tokens_ts SELECT jti, subject, expires_at AT TIME ZONE 'utc', purpose FROM tokens_us;
SELECT jti, logout_everywhere.token_valid(jti, 'user', 'tokens_us') AS valid_tz,
            logout_everywhere.token_valid(jti, 'user', 'tokens_ts') AS valid_ts
  FROM tokens_us ORDER BY jti;
SELECT logout_everywhere.expunge_expired('tokens_us') AS expunged_tz,
       logout_everywhere.expunge_expired('tokens_ts') AS expunged_ts;
SELECT jti FROM tokens_us ORDER BY jti;
SELECT jti FROM tokens_ts ORDER BY jti;
ROLLBACK;
CREATE TABLE users_us (id integer PRIMARY KEY);
INSERT INTO users_us VALUES (1);
SET client_min_messages = warning;  -- the index NOTICE is checked in "configuration"
SELECT logout_everywhere.enable('users_us', 'tokens_us', password_column => 'none');
RESET client_min_messages;
BEGIN;
INSERT INTO tokens_us VALUES ('now', 'user?id=1', now(), 'user'),
                             ('later', 'user?id=1', now() + interval '1 microsecond', 'user');
SELECT logout_everywhere.log_out_everywhere(1, user_table => 'users_us');
SELECT jti, purpose FROM tokens_us ORDER BY jti;
ROLLBACK;
SELECT logout_everywhere.disable('users_us');

--
-- A NULL token_table: the token table of the enabled user tables when there
-- is exactly one.
--
-- Two user tables sharing "tokens": still exactly one token table.
CREATE TABLE admins (id integer PRIMARY KEY, hashed_password text);
SELECT logout_everywhere.enable('admins', 'tokens', subject_name => 'admin');
SELECT logout_everywhere.token_valid('live-user'), logout_everywhere.is_revoked('revoked');
-- A second token table: NULL is ambiguous (55000), explicit tables work.
CREATE TABLE other_tokens (jti text PRIMARY KEY, subject text NOT NULL,
                           expires_at timestamp NOT NULL, purpose text NOT NULL);
CREATE INDEX ON other_tokens (subject);
INSERT INTO other_tokens VALUES ('other', 'admin?id=1', (now() AT TIME ZONE 'utc') + interval '1 day', 'user');
SELECT logout_everywhere.enable('admins', 'other_tokens', subject_name => 'admin');
SELECT logout_everywhere.token_valid('live-user');
SELECT logout_everywhere.is_revoked('revoked');
SELECT logout_everywhere.token_valid('live-user', 'user', 'tokens'),
       logout_everywhere.token_valid('other', 'user', 'other_tokens'),
       logout_everywhere.token_valid('other', 'user', 'tokens');
-- Back to one.
SELECT logout_everywhere.disable('users');
SELECT logout_everywhere.token_valid('other'), logout_everywhere.token_valid('live-user');
-- None.
SELECT logout_everywhere.disable('admins');
SELECT logout_everywhere.token_valid('other');
SELECT logout_everywhere.is_revoked('other');

\c :regress_home
DROP DATABASE regress_le_checks WITH (FORCE);
