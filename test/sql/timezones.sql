--
-- timezones: timestamp (UTC wall clock, as Ash writes it) and timestamptz
-- expires_at / updated_at, whatever the session's TimeZone
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_timezones;
RESET client_min_messages;
CREATE DATABASE regress_le_timezones TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
SELECT current_database() AS regress_home \gset
\c regress_le_timezones
\set VERBOSITY sqlstate

CREATE EXTENSION logout_everywhere;
-- Ash's table: timestamp(0) expires_at, timestamp updated_at (both UTC).
CREATE TABLE tokens (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));
-- Both timestamptz.
CREATE TABLE tokens_tz (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamptz NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now());
-- Mixed: timestamptz expires_at, timestamp (UTC) updated_at.
CREATE TABLE tokens_mix (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamptz(0) NOT NULL,
  purpose    text NOT NULL,
  updated_at timestamp NOT NULL);
-- ... and the other way round: timestamp expires_at, timestamptz updated_at.
CREATE TABLE tokens_xim (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp NOT NULL,
  purpose    text NOT NULL,
  updated_at timestamptz NOT NULL);
CREATE TABLE users     (id integer PRIMARY KEY, hashed_password text);
CREATE TABLE users_tz  (id integer PRIMARY KEY, hashed_password text);
CREATE TABLE users_mix (id integer PRIMARY KEY, hashed_password text);
CREATE TABLE users_xim (id integer PRIMARY KEY, hashed_password text);
INSERT INTO users VALUES (1, 'a');
INSERT INTO users_tz VALUES (1, 'a');
INSERT INTO users_mix VALUES (1, 'a');
INSERT INTO users_xim VALUES (1, 'a');
SET client_min_messages = warning;  -- the index NOTICE is checked in "configuration"
SELECT logout_everywhere.enable('users', 'tokens');
SELECT logout_everywhere.enable('users_tz', 'tokens_tz');
SELECT logout_everywhere.enable('users_mix', 'tokens_mix');
SELECT logout_everywhere.enable('users_xim', 'tokens_xim');
RESET client_min_messages;

-- In each token table, for user 1: 'past' expired an hour ago, 'future'
-- expires in an hour, 'gone' expired a day ago and was revoked; the
-- values are written correctly for the column type, in UTC where it has
-- no time zone, from the session's own clock.
CREATE PROCEDURE seed() LANGUAGE plpgsql AS $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY '{tokens,tokens_tz,tokens_mix,tokens_xim}'::text[] LOOP
    EXECUTE format('DELETE FROM %I', t);
    EXECUTE format($q$
      INSERT INTO %1$I (jti, subject, expires_at, purpose, updated_at)
      SELECT j, 'user?id=1',
             CASE WHEN %2$L = 'timestamp with time zone' THEN (now() + d)::text
                  ELSE ((now() + d) AT TIME ZONE 'utc')::text END::%2$s,
             p,
             '2000-01-01 00:00:00+00'
        FROM (VALUES ('past', interval '-1 hour', 'user'),
                     ('future', interval '1 hour', 'user'),
                     ('gone', interval '-1 day', 'revocation')) v(j, d, p)
    $q$, t, format_type((SELECT atttypid FROM pg_attribute
                          WHERE attrelid = t::regclass AND attname = 'expires_at'), NULL));
  END LOOP;
END $$;

-- Everything the extension does with "now", for one table, in one
-- transaction (so that now() is the same throughout).
CREATE FUNCTION scenario(user_table regclass, token_table regclass)
RETURNS TABLE (step text, result text) LANGUAGE plpgsql AS $$
DECLARE
  n bigint;
  upd_is_timestamptz boolean;
BEGIN
  SELECT format_type(atttypid, NULL) = 'timestamp with time zone' INTO upd_is_timestamptz
    FROM pg_attribute WHERE attrelid = token_table AND attname = 'updated_at';
  step := 'token_valid past';   result := logout_everywhere.token_valid('past', 'user', token_table);   RETURN NEXT;
  step := 'token_valid future'; result := logout_everywhere.token_valid('future', 'user', token_table); RETURN NEXT;
  step := 'is_revoked gone';    result := logout_everywhere.is_revoked('gone', token_table);            RETURN NEXT;
  step := 'log_out_everywhere'; result := logout_everywhere.log_out_everywhere(1, user_table => user_table); RETURN NEXT;
  FOR step, result IN EXECUTE format(
      'SELECT jti || '' '' || purpose,
              CASE WHEN updated_at = %s THEN ''updated_at = now''
                   WHEN updated_at = ''2000-01-01 00:00:00+00'' THEN ''updated_at kept''
                   ELSE ''updated_at = '' || updated_at END
         FROM %s ORDER BY jti',
      CASE WHEN upd_is_timestamptz THEN 'now()' ELSE '(now() AT TIME ZONE ''utc'')' END,
      token_table) LOOP
    RETURN NEXT;
  END LOOP;
  step := 'is_revoked future';  result := logout_everywhere.is_revoked('future', token_table);          RETURN NEXT;
  step := 'expunge_expired';    result := logout_everywhere.expunge_expired(token_table);               RETURN NEXT;
  step := 'left';
  EXECUTE format('SELECT string_agg(jti, '','' ORDER BY jti) FROM %s', token_table) INTO result;
  RETURN NEXT;
END $$;

--
-- UTC+14
--
SET TimeZone = 'Pacific/Kiritimati';
CALL seed();
SELECT * FROM scenario('users', 'tokens');
SELECT * FROM scenario('users_tz', 'tokens_tz');
SELECT * FROM scenario('users_mix', 'tokens_mix');
SELECT * FROM scenario('users_xim', 'tokens_xim');

--
-- UTC-8
--
SET TimeZone = 'Etc/GMT+8';
CALL seed();
SELECT * FROM scenario('users', 'tokens');
SELECT * FROM scenario('users_tz', 'tokens_tz');
SELECT * FROM scenario('users_mix', 'tokens_mix');
SELECT * FROM scenario('users_xim', 'tokens_xim');

--
-- Tokens written at UTC+14, checked at UTC-8 (America/Los_Angeles, -7 or
-- -8 by season) and the other way round: what is stored does not depend on
-- the writer's TimeZone, nor the check on the reader's.
--
SET TimeZone = 'Pacific/Kiritimati';
CALL seed();
SET TimeZone = 'America/Los_Angeles';
SELECT * FROM scenario('users', 'tokens');
SELECT * FROM scenario('users_tz', 'tokens_tz');
SET TimeZone = 'Etc/GMT+8';
CALL seed();
SET TimeZone = 'Pacific/Kiritimati';
SELECT * FROM scenario('users', 'tokens');
SELECT * FROM scenario('users_tz', 'tokens_tz');

--
-- The password trigger, at UTC+14 and UTC-8.
--
SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true);
SET TimeZone = 'Pacific/Kiritimati';
CALL seed();
BEGIN;
UPDATE users SET hashed_password = 'b';
SELECT jti, purpose, updated_at = now() AT TIME ZONE 'utc' AS updated_now FROM tokens ORDER BY jti;
COMMIT;
SET TimeZone = 'Etc/GMT+8';
CALL seed();
BEGIN;
UPDATE users SET hashed_password = 'c';
SELECT jti, purpose, updated_at = now() AT TIME ZONE 'utc' AS updated_now FROM tokens ORDER BY jti;
COMMIT;

RESET TimeZone;
\c :regress_home
DROP DATABASE regress_le_timezones WITH (FORCE);
