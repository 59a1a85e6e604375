--
-- purposes: include_purposes / exclude_purposes, configured and per call
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_purposes;
RESET client_min_messages;
CREATE DATABASE regress_le_purposes TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
SELECT current_database() AS regress_home \gset
\c regress_le_purposes
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
CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL UNIQUE, hashed_password text);
INSERT INTO users VALUES ('11111111-1111-1111-1111-111111111111', 'alice@example.com', 'h');
SET client_min_messages = warning;  -- the index NOTICE is checked in "configuration"
SELECT logout_everywhere.enable('users');
RESET client_min_messages;

-- One live token of Alice per purpose, its jti named after its purpose,
-- plus 'old' (already a revocation); 'revoked' lists what has been revoked.
CREATE PROCEDURE seed() LANGUAGE sql AS $$
  DELETE FROM tokens;
  INSERT INTO tokens (jti, subject, expires_at, purpose)
  SELECT p, 'user?id=11111111-1111-1111-1111-111111111111',
         (now() AT TIME ZONE 'utc') + interval '1 day', p
    FROM unnest('{user,remember_me,magic_link,otp,confirm}'::text[]) p;
  INSERT INTO tokens (jti, subject, expires_at, purpose)
  VALUES ('old', 'user?id=11111111-1111-1111-1111-111111111111',
          (now() AT TIME ZONE 'utc') + interval '1 day', 'revocation');
$$;
CREATE VIEW revoked AS
  SELECT coalesce(string_agg(jti, ',' ORDER BY jti), '(none)') AS revoked
    FROM tokens WHERE purpose = 'revocation' AND jti <> 'old';
\set alice '''11111111-1111-1111-1111-111111111111''::uuid'

--
-- Defaults of enable: include NULL (every purpose), exclude {revocation}.
--
CALL seed();
SELECT logout_everywhere.log_out_everywhere(:alice);
SELECT * FROM revoked;
-- include only some
CALL seed();
SELECT logout_everywhere.log_out_everywhere(:alice, include_purposes => '{remember_me,otp}');
SELECT * FROM revoked;
-- exclude some (this replaces the configured exclude list)
CALL seed();
SELECT logout_everywhere.log_out_everywhere(:alice, exclude_purposes => '{magic_link}');
SELECT * FROM revoked;
-- both: included and not excluded
CALL seed();
SELECT logout_everywhere.log_out_everywhere(:alice, include_purposes => '{user,otp,magic_link}',
                                            exclude_purposes => '{otp}');
SELECT * FROM revoked;
-- '{}' include: nothing is included, nothing revoked
CALL seed();
SELECT logout_everywhere.log_out_everywhere(:alice, include_purposes => '{}');
SELECT * FROM revoked;
-- a purpose that no token has
CALL seed();
SELECT logout_everywhere.log_out_everywhere(:alice, include_purposes => '{nothing_like_it}');
SELECT * FROM revoked;
-- purposes are matched exactly (case matters)
CALL seed();
SELECT logout_everywhere.log_out_everywhere(:alice, include_purposes => '{User,OTP}');
SELECT * FROM revoked;

--
-- Configured purposes: include {user,remember_me,otp}, exclude {revocation,otp}.
-- A NULL argument means the configured value, each argument on its own.
--
SELECT logout_everywhere.enable('users', include_purposes => '{user,remember_me,otp}',
                                exclude_purposes => '{revocation,otp}');
CALL seed();
SELECT logout_everywhere.log_out_everywhere(:alice);
SELECT * FROM revoked;
CALL seed();
SELECT logout_everywhere.log_out_everywhere(:alice, NULL, NULL);
SELECT * FROM revoked;
-- include given, exclude configured (otp stays excluded)
CALL seed();
SELECT logout_everywhere.log_out_everywhere(:alice, include_purposes => '{otp,magic_link}');
SELECT * FROM revoked;
-- include configured, exclude given
CALL seed();
SELECT logout_everywhere.log_out_everywhere(:alice, exclude_purposes => '{user}');
SELECT * FROM revoked;
-- '{}' exclude: exclude nothing (not the configured list); include still configured
CALL seed();
SELECT logout_everywhere.log_out_everywhere(:alice, exclude_purposes => '{}');
SELECT * FROM revoked;
-- '{}' exclude and an include that asks for everything
CALL seed();
SELECT logout_everywhere.log_out_everywhere(:alice,
         include_purposes => '{user,remember_me,magic_link,otp,confirm,revocation}', exclude_purposes => '{}');
SELECT * FROM revoked;
-- the generated action uses the configured purposes
CALL seed();
SELECT log_out_everywhere(u) FROM users u;
SELECT * FROM revoked;

--
-- revoke_subject follows the same rules.
--
CALL seed();
SELECT logout_everywhere.revoke_subject('user?id=11111111-1111-1111-1111-111111111111');
SELECT * FROM revoked;
CALL seed();
SELECT logout_everywhere.revoke_subject('user?id=11111111-1111-1111-1111-111111111111',
                                        include_purposes => '{magic_link,otp}');
SELECT * FROM revoked;
CALL seed();
SELECT logout_everywhere.revoke_subject('user?id=11111111-1111-1111-1111-111111111111',
                                        exclude_purposes => '{}');
SELECT * FROM revoked;
CALL seed();
SELECT logout_everywhere.revoke_subject('user?id=11111111-1111-1111-1111-111111111111',
                                        include_purposes => '{}', exclude_purposes => '{}');
SELECT * FROM revoked;

--
-- Configured include '{}': by default nothing is revoked; an explicit
-- include still works. Configured exclude '{}': nothing excluded.
--
SELECT logout_everywhere.enable('users', include_purposes => '{}');
CALL seed();
SELECT logout_everywhere.log_out_everywhere(:alice);
SELECT * FROM revoked;
SELECT logout_everywhere.log_out_everywhere(:alice, include_purposes => '{user}');
SELECT * FROM revoked;
SELECT logout_everywhere.enable('users', exclude_purposes => '{}');
CALL seed();
SELECT logout_everywhere.log_out_everywhere(:alice);
SELECT * FROM revoked;
SELECT include_purposes, exclude_purposes FROM logout_everywhere.settings;
-- Configured exclude NULL: nothing excluded either (as for include, NULL is
-- no list), and it is kept as NULL.
SELECT logout_everywhere.enable('users', exclude_purposes => NULL);
CALL seed();
SELECT logout_everywhere.log_out_everywhere(:alice);
SELECT * FROM revoked;
SELECT include_purposes, exclude_purposes IS NULL AS exclude_null FROM logout_everywhere.settings;

--
-- Each user table has its own configured purposes, even on a shared token table.
--
CREATE TABLE admins (id integer PRIMARY KEY, hashed_password text);
INSERT INTO admins VALUES (1, 'h');
SELECT logout_everywhere.enable('admins', 'tokens', subject_name => 'user',
                                exclude_purposes => '{revocation,user,otp}');
CALL seed();
UPDATE tokens SET subject = 'user?id=1' WHERE jti IN ('user', 'otp', 'confirm');
SELECT logout_everywhere.log_out_everywhere(1, user_table => 'admins');
SELECT logout_everywhere.log_out_everywhere(:alice, user_table => 'users');
SELECT * FROM revoked;

\c :regress_home
DROP DATABASE regress_le_purposes WITH (FORCE);
