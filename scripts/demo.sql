-- scripts/demo.sql — run by scripts/demo in a throwaway cluster:
--   psql -X -q -v ON_ERROR_STOP=1 -f scripts/demo.sql
-- An Ash application's two tables, a user signed in on three devices, a
-- password change and a DBA's log-out; the tokens shown after each step.

\pset null '-'
\set VERBOSITY default
\set SHOW_CONTEXT never
SET client_min_messages = notice;

\echo
\echo '################################################################'
\echo '# 1. The schema of an Ash application, and the extension'
\echo '################################################################'
\echo
\set ECHO queries

CREATE EXTENSION logout_everywhere;
CREATE EXTENSION citext;     -- AshPostgres stores e-mail addresses as citext
CREATE EXTENSION pgcrypto;   -- only to make real bcrypt hashes for the demo

-- The token table exactly as AshAuthentication + AshPostgres create it.
CREATE TABLE tokens (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));

-- The users table of an Ash resource with a password strategy.
CREATE TABLE users (
  id              uuid   NOT NULL PRIMARY KEY DEFAULT gen_random_uuid(),
  email           citext NOT NULL UNIQUE,
  hashed_password text   NOT NULL);

INSERT INTO users (email, hashed_password) VALUES
  ('alice@example.com', crypt('correct horse battery staple', gen_salt('bf', 4))),
  ('bob@example.com',   crypt('hunter2',                      gen_salt('bf', 4)));

-- The add-on's DSL:  log_out_everywhere do apply_on_password_change? true end
SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true);

SELECT user_table, token_table, include_purposes, exclude_purposes,
       apply_on_password_change, action_name
  FROM logout_everywhere.settings;

\set ECHO none
\echo
\echo '################################################################'
\echo '# 2. Users sign in: the application stores every token it issues'
\echo '################################################################'
\echo
\echo 'sign_in() does what AshAuthentication does when it issues a JWT: an upsert'
\echo 'into tokens, jti = 24 characters of base32hex (Joken), subject user?id=<id>,'
\echo 'valid 7 days. extra_data records the device. Each jti is kept in a psql'
\echo 'variable for the later steps, and printed under its sign-in.'
\echo
\set ECHO queries

CREATE FUNCTION sign_in(email text, device text, purpose text DEFAULT 'user',
                        valid_for interval DEFAULT '7 days')
RETURNS text LANGUAGE sql AS $$
  INSERT INTO tokens (jti, subject, expires_at, purpose, extra_data)
  SELECT (SELECT string_agg(substr('0123456789abcdefghijklmnopqrstuv',
                                   1 + floor(random() * 32)::int, 1), '')
            FROM generate_series(1, 24)),
         'user?id=' || u.id,
         (now() AT TIME ZONE 'utc') + valid_for,
         purpose,
         jsonb_build_object('device', device)
    FROM users u
   WHERE u.email = sign_in.email
  ON CONFLICT (jti) DO UPDATE
     SET subject = excluded.subject, expires_at = excluded.expires_at,
         purpose = excluded.purpose, extra_data = excluded.extra_data,
         updated_at = excluded.updated_at
  RETURNING jti
$$;

-- What the application (and this demo) shows: who, which device, and what
-- the extension's checks say about the token.
CREATE VIEW token_overview AS
SELECT u.email                          AS who,
       t.extra_data ->> 'device'        AS device,
       t.purpose,
       t.jti,
       round(extract(epoch FROM t.expires_at - (now() AT TIME ZONE 'utc')) / 86400, 1)
                                        AS "expires in (days)",
       t.purpose <> 'revocation'
         AND logout_everywhere.token_valid(t.jti, t.purpose)         AS "valid?",
       logout_everywhere.is_revoked(t.jti)                           AS "revoked?"
  FROM tokens t
  LEFT JOIN users u ON t.subject = 'user?id=' || u.id
 ORDER BY who, t.created_at, device;

SELECT sign_in('alice@example.com', 'laptop')                 AS alice_laptop \gset
\echo '    -> alice_laptop   =' :alice_laptop
SELECT sign_in('alice@example.com', 'laptop', 'remember_me', '30 days') AS alice_remember \gset
\echo '    -> alice_remember =' :alice_remember
SELECT sign_in('alice@example.com', 'phone')                  AS alice_phone \gset
\echo '    -> alice_phone    =' :alice_phone
SELECT sign_in('alice@example.com', 'tablet')                 AS alice_tablet \gset
\echo '    -> alice_tablet   =' :alice_tablet
SELECT sign_in('alice@example.com', 'old phone', 'user', '-2 days') AS alice_expired \gset
\echo '    -> alice_expired  =' :alice_expired
SELECT sign_in('bob@example.com',   'laptop')                 AS bob_laptop \gset
\echo '    -> bob_laptop     =' :bob_laptop
SELECT sign_in('bob@example.com',   'phone')                  AS bob_phone \gset
\echo '    -> bob_phone      =' :bob_phone

TABLE token_overview;

\set ECHO none
\echo
\echo '################################################################'
\echo '# 3. Alice changes her password on her laptop'
\echo '################################################################'
\echo
\echo 'The application sets logout_everywhere.current_jti to the token of the'
\echo 'request, so the laptop session survives; every other live token of Alice'
\echo 'is revoked in the same transaction (purpose becomes revocation).'
\echo 'Her expired token is left alone, and Bob is not touched.'
\echo 'From an application, with the jti as a bound value, the SET LOCAL below is:'
\echo '  SELECT set_config(''logout_everywhere.current_jti'', $1, true);'
\echo
\set ECHO queries

BEGIN;
SET LOCAL logout_everywhere.current_jti = :'alice_laptop';
UPDATE users SET hashed_password = crypt('a much better passphrase', gen_salt('bf', 4))
 WHERE email = 'alice@example.com';
COMMIT;

TABLE token_overview;

\set ECHO none
\echo
\echo 'An ORM that saves every column writes the same hash again: not a change,'
\echo 'nothing is revoked.'
\echo
\set ECHO queries

UPDATE users SET hashed_password = hashed_password WHERE email = 'bob@example.com';

SELECT count(*) FILTER (WHERE purpose <> 'revocation') AS bob_live_tokens
  FROM tokens WHERE subject = logout_everywhere.subject_for(
         (SELECT id FROM users WHERE email = 'bob@example.com'));

\set ECHO none
\echo
\echo '################################################################'
\echo '# 4. A DBA logs Alice out everywhere'
\echo '################################################################'
\echo
\echo 'Alice signs in on her phone again; then her laptop is reported stolen.'
\echo 'log_out_everywhere() returns how many tokens it revoked.'
\echo
\set ECHO queries

SELECT sign_in('alice@example.com', 'phone') AS alice_phone2 \gset
\echo '    -> alice_phone2   =' :alice_phone2

SELECT logout_everywhere.log_out_everywhere(id) AS revoked
  FROM users WHERE email = 'alice@example.com';

TABLE token_overview;

\set ECHO none
\echo
\echo 'The same again revokes nothing (0), and an unknown user is an error that'
\echo 'revokes nothing (SQLSTATE P0002):'
\echo
\set ECHO queries

SELECT logout_everywhere.log_out_everywhere(id) AS revoked
  FROM users WHERE email = 'alice@example.com';

\set ON_ERROR_STOP 0
SELECT logout_everywhere.log_out_everywhere('00000000-0000-0000-0000-000000000000'::uuid);
\set ON_ERROR_STOP 1
\echo SQLSTATE :LAST_ERROR_SQLSTATE

\set ECHO none
\echo
\echo '################################################################'
\echo '# 5. The generated action, as Ash names it: log_out_everywhere(user)'
\echo '################################################################'
\echo
\set ECHO queries

SELECT log_out_everywhere(u) AS revoked FROM users u WHERE u.email = 'bob@example.com';

TABLE token_overview;

\set ECHO none
\echo
\echo '################################################################'
\echo '# 6. What the application checks on the next request'
\echo '################################################################'
\echo
\echo 'require_token_presence_for_authentication?: a token is accepted only if its'
\echo 'row exists with its purpose and has not expired. The tokens that the devices'
\echo 'still send:'
\echo
\set ECHO queries

SELECT t.token,
       logout_everywhere.token_valid(t.jti) AS "accepted?",
       logout_everywhere.is_revoked(t.jti)  AS "revoked?"
  FROM (VALUES
    ('alice, phone, 1st sign-in (revoked by the password change)', :'alice_phone'),
    ('alice, phone, 2nd sign-in (revoked by the DBA)',             :'alice_phone2'),
    ('alice, old phone (expired 2 days ago)',                      :'alice_expired'),
    ('bob, laptop (revoked by the generated action)',              :'bob_laptop'))
    AS t(token, jti);

-- Ash's expunger, in SQL: expired rows go (revoked ones stay until they expire).
SELECT logout_everywhere.expunge_expired() AS expunged;

TABLE token_overview;

\set ECHO none
\echo
\echo 'Done. The throwaway cluster is removed now.'
