--
-- search_path: objects that shadow pg_catalog's operators and functions,
-- put first on search_path, change nothing the extension does
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_search_path;
RESET client_min_messages;
CREATE DATABASE regress_le_search_path TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
SELECT current_database() AS regress_home \gset
\c regress_le_search_path
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
INSERT INTO users VALUES
  ('11111111-1111-1111-1111-111111111111', 'alice@example.com', 'h1'),
  ('22222222-2222-2222-2222-222222222222', 'bob@example.com', 'h2');
CREATE TABLE tokens_tz (jti text PRIMARY KEY, subject text NOT NULL,
                        expires_at timestamptz NOT NULL, purpose text NOT NULL,
                        updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE members (id integer PRIMARY KEY, hashed_password text);
INSERT INTO members VALUES (1, 'm1'), (2, 'm2');
-- Tokens for Alice and Bob: live, expired, a revocation, a magic link;
-- the same for members 1 and 2 in tokens_tz.
CREATE PROCEDURE seed() LANGUAGE sql SET search_path = pg_catalog, public AS $$
  DELETE FROM tokens;
  INSERT INTO tokens (jti, subject, expires_at, purpose, updated_at)
  SELECT u || '-' || j, 'user?id=' || id, (now() AT TIME ZONE 'utc') + d, p, '2000-01-01'
    FROM (VALUES ('a', '11111111-1111-1111-1111-111111111111'),
                 ('b', '22222222-2222-2222-2222-222222222222')) v(u, id),
         (VALUES ('live', 'user', interval '1 day'), ('dead', 'user', interval '-1 day'),
                 ('rev', 'revocation', interval '1 day'), ('magic', 'magic_link', interval '1 day')) t(j, p, d);
  DELETE FROM tokens_tz;
  INSERT INTO tokens_tz (jti, subject, expires_at, purpose, updated_at)
  SELECT 'm' || id || '-' || j, 'member?id=' || id, now() + d, p, '2000-01-01 00:00:00+00'
    FROM generate_series(1, 2) id,
         (VALUES ('live', 'user', interval '1 day'), ('dead', 'user', interval '-1 day'),
                 ('rev', 'revocation', interval '1 day'), ('magic', 'magic_link', interval '1 day')) t(j, p, d);
$$;
CREATE VIEW state AS
  SELECT string_agg(jti || ':' || purpose
                    || CASE WHEN updated_at = '2000-01-01' THEN '' ELSE '*' END, ' ' ORDER BY jti) AS tokens
    FROM tokens;
CREATE VIEW state_tz AS
  SELECT string_agg(jti || ':' || purpose
                    || CASE WHEN updated_at = '2000-01-01 00:00:00+00' THEN '' ELSE '*' END, ' ' ORDER BY jti) AS tokens
    FROM tokens_tz;

--
-- The traps, in schema "trap": equality that is always true for text, uuid,
-- integer and text arrays; <> and > / < that lie; now(), clock_timestamp()
-- and friends far in the future; string functions that mangle; a table
-- named "tokens" and one named "settings".
--
CREATE SCHEMA trap;
CREATE FUNCTION trap.yes(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE FUNCTION trap.yes(uuid, uuid) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE FUNCTION trap.yes(integer, integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE FUNCTION trap.yes(name, name) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE FUNCTION trap.yes(oid, oid) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE FUNCTION trap.yes(regclass, regclass) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE FUNCTION trap.yes(timestamp, timestamp) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE FUNCTION trap.yes(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE FUNCTION trap.no(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
CREATE FUNCTION trap.no(timestamp, timestamp) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
CREATE FUNCTION trap.no(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT false';
CREATE OPERATOR trap.=  (LEFTARG = text, RIGHTARG = text, FUNCTION = trap.yes);
CREATE OPERATOR trap.=  (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = trap.yes);
CREATE OPERATOR trap.=  (LEFTARG = integer, RIGHTARG = integer, FUNCTION = trap.yes);
CREATE OPERATOR trap.=  (LEFTARG = name, RIGHTARG = name, FUNCTION = trap.yes);
CREATE OPERATOR trap.=  (LEFTARG = oid, RIGHTARG = oid, FUNCTION = trap.yes);
CREATE OPERATOR trap.=  (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = trap.yes);
CREATE OPERATOR trap.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = trap.yes);
CREATE OPERATOR trap.>  (LEFTARG = timestamp, RIGHTARG = timestamp, FUNCTION = trap.no);
CREATE OPERATOR trap.>  (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = trap.no);
CREATE OPERATOR trap.<  (LEFTARG = timestamp, RIGHTARG = timestamp, FUNCTION = trap.yes);
CREATE OPERATOR trap.<  (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = trap.yes);
CREATE OPERATOR trap.<= (LEFTARG = timestamp, RIGHTARG = timestamp, FUNCTION = trap.yes);
CREATE OPERATOR trap.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = trap.yes);
CREATE OPERATOR trap.>= (LEFTARG = timestamp, RIGHTARG = timestamp, FUNCTION = trap.no);
CREATE OPERATOR trap.>= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = trap.no);
CREATE FUNCTION trap.now() RETURNS timestamptz LANGUAGE sql STABLE
  AS $$ SELECT pg_catalog.now() + interval '100 years' $$;
CREATE FUNCTION trap.clock_timestamp() RETURNS timestamptz LANGUAGE sql
  AS $$ SELECT pg_catalog.now() + interval '100 years' $$;
CREATE FUNCTION trap.statement_timestamp() RETURNS timestamptz LANGUAGE sql
  AS $$ SELECT pg_catalog.now() + interval '100 years' $$;
CREATE FUNCTION trap.transaction_timestamp() RETURNS timestamptz LANGUAGE sql
  AS $$ SELECT pg_catalog.now() + interval '100 years' $$;
CREATE FUNCTION trap.timezone(text, timestamptz) RETURNS timestamp LANGUAGE sql
  AS $$ SELECT '2100-01-01'::pg_catalog.timestamp $$;
CREATE FUNCTION trap.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT 'trapped' $$;
CREATE FUNCTION trap.upper(text) RETURNS text LANGUAGE sql AS $$ SELECT 'trapped' $$;
CREATE FUNCTION trap.textcat(text, text) RETURNS text LANGUAGE sql AS $$ SELECT 'trapped' $$;
CREATE FUNCTION trap.concat(VARIADIC "any") RETURNS text LANGUAGE sql AS $$ SELECT 'trapped' $$;
CREATE FUNCTION trap.format(text, VARIADIC "any") RETURNS text LANGUAGE sql AS $$ SELECT 'trapped' $$;
CREATE FUNCTION trap.quote_ident(text) RETURNS text LANGUAGE sql AS $$ SELECT 'trapped' $$;
CREATE FUNCTION trap.replace(text, text, text) RETURNS text LANGUAGE sql AS $$ SELECT 'trapped' $$;
CREATE OPERATOR trap.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = trap.textcat);
CREATE TABLE trap.tokens (LIKE tokens);
CREATE TABLE trap.settings (LIKE logout_everywhere.settings);
CREATE TABLE trap.users (LIKE users);

-- The traps work: with trap first, these plain queries are fooled.
SET search_path = trap, pg_catalog, public;
SELECT 'a' = 'b' AS "'a' = 'b'",
       extract(year FROM now()) OPERATOR(pg_catalog.-) extract(year FROM pg_catalog.now()) AS "years ahead";
RESET search_path;

--
-- enable under the traps: the action and the triggers it creates must not
-- bind to them (they run later with a clean search_path, below).
--
SET search_path = trap, pg_catalog, public;
SET client_min_messages = warning;  -- the index NOTICE is checked in "configuration"
SELECT logout_everywhere.enable('public.users', 'public.tokens', apply_on_password_change => true);
SELECT logout_everywhere.enable('public.members', 'public.tokens_tz', subject_name => 'member',
                                apply_on_password_change => true);
RESET client_min_messages;
RESET search_path;
SELECT user_table, token_table, subject_name FROM logout_everywhere.settings ORDER BY user_table::text;
-- "tokens" resolved on search_path means public.tokens here (trap is not on it)
SELECT logout_everywhere.enable('users', apply_on_password_change => true);
SELECT user_table, token_table FROM logout_everywhere.settings ORDER BY user_table::text;

-- The action, called with a clean search_path, revokes Alice's live tokens only.
CALL seed();
SELECT log_out_everywhere(u) FROM users u WHERE email = 'alice@example.com';
SELECT * FROM state;

--
-- Everything else, called with the traps first on search_path.
--
CALL seed();
SET search_path = trap, pg_catalog, public;
SELECT logout_everywhere.subject_for('11111111-1111-1111-1111-111111111111'::uuid, 'public.users');
SELECT logout_everywhere.token_valid('a-live', 'user', 'public.tokens') AS live,
       logout_everywhere.token_valid('a-dead', 'user', 'public.tokens') AS dead,
       logout_everywhere.token_valid('a-live', 'magic_link', 'public.tokens') AS wrong_purpose,
       logout_everywhere.is_revoked('a-rev', 'public.tokens') AS rev,
       logout_everywhere.is_revoked('a-live', 'public.tokens') AS live_revoked;
SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid,
                                            user_table => 'public.users', except_jti => 'a-magic');
SELECT logout_everywhere.log_out_everywhere('33333333-3333-3333-3333-333333333333'::uuid,
                                            user_table => 'public.users');
SELECT logout_everywhere.revoke_subject('user?id=22222222-2222-2222-2222-222222222222',
                                        include_purposes => '{magic_link}', user_table => 'public.users');
RESET search_path;
SELECT * FROM state;
CALL seed();
SET search_path = trap, pg_catalog, public;
SELECT logout_everywhere.log_out_everywhere(1, user_table => 'public.members');
SELECT logout_everywhere.log_out_everywhere(3, user_table => 'public.members');
RESET search_path;
SELECT * FROM state_tz;
-- the password triggers, fired under the traps
CALL seed();
SET search_path = trap, pg_catalog, public;
UPDATE public.users SET hashed_password = 'new' WHERE id OPERATOR(pg_catalog.=) '22222222-2222-2222-2222-222222222222';
UPDATE public.users SET hashed_password = hashed_password;
UPDATE public.members SET hashed_password = 'new' WHERE id OPERATOR(pg_catalog.=) 2;
RESET search_path;
SELECT * FROM state;
SELECT * FROM state_tz;
-- expunge under the traps deletes the expired rows only
SET search_path = trap, pg_catalog, public;
SELECT logout_everywhere.expunge_expired('public.tokens');
CALL logout_everywhere.expunge_expired_committing('public.tokens_tz', 1);
RESET search_path;
SELECT * FROM state;
SELECT * FROM state_tz;
SELECT count(*) AS trap_rows FROM trap.tokens;
-- disable under the traps removes what enable made, and only that
SET search_path = trap, pg_catalog, public;
SELECT logout_everywhere.disable('public.members');
RESET search_path;
SELECT user_table FROM logout_everywhere.settings ORDER BY user_table::text;
SELECT tgrelid::regclass, tgname FROM pg_trigger WHERE NOT tgisinternal
   AND tgrelid IN ('members'::regclass, 'tokens_tz'::regclass) ORDER BY tgrelid::regclass::text, tgname;

--
-- The same with the traps in schema "public" itself, where any user may
-- have put them: a public.= for text and a public.now(), first on the path.
--
CREATE FUNCTION public.yes(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS 'SELECT true';
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.yes);
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql STABLE
  AS $$ SELECT pg_catalog.now() + interval '100 years' $$;
SET search_path = public, pg_catalog;
SELECT logout_everywhere.enable('users', apply_on_password_change => true);
CALL seed();
SELECT log_out_everywhere(u) FROM users u WHERE id = '11111111-1111-1111-1111-111111111111';
SELECT logout_everywhere.token_valid('b-live') AS b_live_valid;
UPDATE users SET hashed_password = 'public trap' WHERE id = '22222222-2222-2222-2222-222222222222';
SELECT logout_everywhere.expunge_expired();
RESET search_path;
SELECT * FROM state;

\c :regress_home
DROP DATABASE regress_le_search_path WITH (FORCE);
