--
-- revocation: log_out_everywhere(), revoke_subject() and the generated action
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_revocation;
RESET client_min_messages;
CREATE DATABASE regress_le_revocation TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
SELECT current_database() AS regress_home \gset
\c regress_le_revocation
\set VERBOSITY sqlstate

CREATE EXTENSION logout_everywhere;
CREATE EXTENSION citext;
-- AshPostgres' token table, as is.
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

-- token(jti, subject, purpose, expires in) with created_at / updated_at far
-- in the past, so that "unchanged" and "became now" are plain to see.
CREATE PROCEDURE token(jti text, subject text, purpose text, expires_in interval)
LANGUAGE sql AS $$
  INSERT INTO tokens (jti, subject, expires_at, purpose, extra_data, created_at, updated_at)
  VALUES (jti, subject, (now() AT TIME ZONE 'utc') + expires_in, purpose,
          jsonb_build_object('jti', jti), '2000-01-01 00:00:00', '2000-01-02 00:00:00')
$$;
-- Every row against a snapshot taken before: was it written at all (xmin),
-- did it become a revocation, is updated_at now, are the other columns kept.
CREATE TABLE snapshot AS SELECT xmin::text AS x, * FROM tokens;
CREATE PROCEDURE take_snapshot() LANGUAGE sql AS $$
  DELETE FROM snapshot;
  INSERT INTO snapshot SELECT xmin::text, * FROM tokens;
$$;
CREATE VIEW changes AS
  SELECT t.jti, s.purpose AS before, t.purpose AS after,
         t.xmin::text <> s.x AS written,
         CASE t.updated_at WHEN s.updated_at THEN 'kept'
                           WHEN now() AT TIME ZONE 'utc' THEN 'now'
                           ELSE t.updated_at::text END AS updated_at,
         (t.subject, t.expires_at, t.extra_data, t.created_at)
           IS NOT DISTINCT FROM (s.subject, s.expires_at, s.extra_data, s.created_at) AS rest_kept
    FROM tokens t JOIN snapshot s USING (jti);

-- Alice: three live tokens, an expired one, one already revoked; a token of a
-- subject that merely starts like hers; Bob's token.
CALL token('a-session',  'user?id=11111111-1111-1111-1111-111111111111', 'user',        '7 days');
CALL token('a-remember', 'user?id=11111111-1111-1111-1111-111111111111', 'remember_me', '30 days');
CALL token('a-magic',    'user?id=11111111-1111-1111-1111-111111111111', 'magic_link',  '10 minutes');
CALL token('a-expired',  'user?id=11111111-1111-1111-1111-111111111111', 'user',        '-1 day');
CALL token('a-revoked',  'user?id=11111111-1111-1111-1111-111111111111', 'revocation',  '7 days');
CALL token('lookalike',  'user?id=11111111-1111-1111-1111-1111111111110', 'user',       '7 days');
CALL token('lookalike2', 'USER?id=11111111-1111-1111-1111-111111111111', 'user',        '7 days');
CALL token('b-session',  'user?id=22222222-2222-2222-2222-222222222222', 'user',        '7 days');

SET client_min_messages = warning;  -- the index NOTICE is checked in "configuration"
SELECT logout_everywhere.enable('users');
RESET client_min_messages;

--
-- A uuid id: the three live, non-revocation tokens of Alice are revoked, in
-- place (updated_at = now, every other column kept); nothing else is written.
--
CALL take_snapshot();
BEGIN;
SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid);
SELECT * FROM changes ORDER BY jti;
COMMIT;
-- Again: nothing left to revoke, nothing written.
CALL take_snapshot();
SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid);
-- A revocation is never revoked again, even when nothing is excluded or
-- 'revocation' is asked for explicitly.
SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid,
                                            exclude_purposes => '{}');
SELECT logout_everywhere.log_out_everywhere('11111111-1111-1111-1111-111111111111'::uuid,
                                            include_purposes => '{revocation}', exclude_purposes => '{}');
SELECT jti FROM changes WHERE written;

--
-- except_jti spares the caller's own token; others' jtis change nothing.
--
CALL token('b-phone',  'user?id=22222222-2222-2222-2222-222222222222', 'user', '7 days');
CALL token('b-laptop', 'user?id=22222222-2222-2222-2222-222222222222', 'user', '7 days');
CALL take_snapshot();
SELECT logout_everywhere.log_out_everywhere('22222222-2222-2222-2222-222222222222'::uuid,
                                            except_jti => 'b-phone');
SELECT jti, before, after, written FROM changes WHERE jti LIKE 'b-%' ORDER BY jti;
SELECT logout_everywhere.log_out_everywhere('22222222-2222-2222-2222-222222222222'::uuid,
                                            except_jti => 'a-session');
SELECT jti, purpose FROM tokens WHERE jti LIKE 'b-%' ORDER BY jti;

--
-- The id given as text, and as a quoted literal (type unknown), is converted
-- to the id column's type (here uuid; upper case is the same uuid).
--
CALL token('b-t1', 'user?id=22222222-2222-2222-2222-222222222222', 'user', '1 day');
SELECT logout_everywhere.log_out_everywhere('22222222-2222-2222-2222-222222222222'::text);
CALL token('b-t2', 'user?id=22222222-2222-2222-2222-222222222222', 'user', '1 day');
SELECT logout_everywhere.log_out_everywhere('22222222-2222-2222-2222-222222222222');
CALL token('b-t3', 'user?id=22222222-2222-2222-2222-222222222222', 'user', '1 day');
SELECT logout_everywhere.log_out_everywhere('{22222222-2222-2222-2222-222222222222}'::varchar);
CALL token('b-t4', 'user?id=22222222-2222-2222-2222-222222222222', 'user', '1 day');
SELECT logout_everywhere.log_out_everywhere('22222222-2222-2222-2222-222222222222'::uuid);
SELECT jti, purpose FROM tokens WHERE jti LIKE 'b-t%' ORDER BY jti;

--
-- The generated action: public.log_out_everywhere("user" users), used as the
-- contract shows; it returns the count and applies the configured purposes.
--
CALL token('a-new1', 'user?id=11111111-1111-1111-1111-111111111111', 'user', '1 day');
CALL token('a-new2', 'user?id=11111111-1111-1111-1111-111111111111', 'otp', '1 day');
CALL token('b-new',  'user?id=22222222-2222-2222-2222-222222222222', 'user', '1 day');
SELECT log_out_everywhere(u) FROM users u WHERE email = 'a@example.com';
SELECT log_out_everywhere(u) FROM users u WHERE email = 'ALICE@example.com';
SELECT jti, purpose FROM tokens WHERE jti LIKE '%-new%' ORDER BY jti;
-- a named argument works with the configured argument name
SELECT log_out_everywhere("user" => u) FROM users u WHERE email = 'bob@example.com';
SELECT jti, purpose FROM tokens WHERE jti LIKE '%-new%' ORDER BY jti;

--
-- revoke_subject: the subject as is, no user lookup (a deleted user, a
-- non-standard subject); same rules (expiry, revocation, except_jti).
--
CALL token('gone-1', 'user?id=99999999-9999-9999-9999-999999999999', 'user',       '1 day');
CALL token('gone-2', 'user?id=99999999-9999-9999-9999-999999999999', 'magic_link', '1 day');
CALL token('gone-3', 'user?id=99999999-9999-9999-9999-999999999999', 'user',       '-1 hour');
CALL token('gone-4', 'user?id=99999999-9999-9999-9999-999999999999', 'user',       '1 day');
CALL token('legacy', 'legacy:42', 'user', '1 day');
CALL take_snapshot();
BEGIN;
SELECT logout_everywhere.revoke_subject('user?id=99999999-9999-9999-9999-999999999999', except_jti => 'gone-4');
SELECT logout_everywhere.revoke_subject('legacy:42');
SELECT logout_everywhere.revoke_subject('nobody has this subject');
SELECT * FROM changes WHERE written OR jti LIKE 'gone-%' OR jti = 'legacy' ORDER BY jti;
COMMIT;

--
-- Integer and text ids, several enabled user tables sharing one token table.
--
CREATE TABLE accounts (id integer PRIMARY KEY, hashed_password text);
INSERT INTO accounts VALUES (42, 'x'), (420, 'y');
CREATE TABLE members (id text PRIMARY KEY, hashed_password text);
INSERT INTO members VALUES ('a b&c', 'x'), ('42', 'y');
SELECT logout_everywhere.enable('accounts', subject_name => 'account');
SELECT logout_everywhere.enable('members', subject_name => 'member');
CREATE PROCEDURE account_tokens() LANGUAGE sql AS $$
  CALL token('acct-1', 'account?id=42', 'user', '1 day');
  CALL token('acct-2', 'account?id=42', 'user', '1 day');
  CALL token('acct-3', 'account?id=42', 'user', '1 day');
  CALL token('acct-420', 'account?id=420', 'user', '1 day');
$$;
CALL account_tokens();
SELECT logout_everywhere.log_out_everywhere(42, user_table => 'accounts');
DELETE FROM tokens WHERE jti LIKE 'acct-%';
CALL account_tokens();
SELECT logout_everywhere.log_out_everywhere('42', user_table => 'accounts');
DELETE FROM tokens WHERE jti LIKE 'acct-%';
CALL account_tokens();
SELECT logout_everywhere.log_out_everywhere(42::bigint, user_table => 'accounts');
DELETE FROM tokens WHERE jti LIKE 'acct-%';
CALL account_tokens();
SELECT logout_everywhere.log_out_everywhere(' 42'::text, user_table => 'accounts');
SELECT jti, purpose FROM tokens WHERE jti LIKE 'acct-%' ORDER BY jti;
-- the action of each table goes with its own row type
SELECT log_out_everywhere(a) FROM accounts a WHERE id = 420;
SELECT jti, purpose FROM tokens WHERE jti LIKE 'acct-%' ORDER BY jti;

CALL token('mem-1', 'member?id=a+b%26c', 'user', '1 day');
CALL token('mem-2', 'member?id=a b&c',   'user', '1 day');
CALL token('mem-3', 'member?id=42',      'user', '1 day');
CALL token('mem-4', 'member?id=a+b%26c', 'user', '1 day');
SELECT logout_everywhere.log_out_everywhere('a b&c'::text, user_table => 'members');
CALL token('mem-5', 'member?id=a+b%26c', 'user', '1 day');
SELECT logout_everywhere.log_out_everywhere('a b&c', user_table => 'members');
-- an integer given for a text id is its text form
SELECT logout_everywhere.log_out_everywhere(42, user_table => 'members');
SELECT jti, subject, purpose FROM tokens WHERE jti LIKE 'mem-%' ORDER BY jti;
CALL token('mem-6', 'member?id=a+b%26c', 'user', '1 day');
SELECT m.id, log_out_everywhere(m) FROM members m ORDER BY m.id;

--
-- A token table without updated_at: revocation only changes purpose.
--
CREATE TABLE staff (id bigint PRIMARY KEY, hashed_password text);
INSERT INTO staff VALUES (7, 'x');
CREATE TABLE staff_tokens (jti text PRIMARY KEY, subject text NOT NULL,
                           expires_at timestamp NOT NULL, purpose text NOT NULL);
CREATE INDEX ON staff_tokens (subject);
INSERT INTO staff_tokens VALUES
  ('s1', 'staff?id=7', (now() AT TIME ZONE 'utc') + interval '1 hour', 'user'),
  ('s2', 'staff?id=7', (now() AT TIME ZONE 'utc') - interval '1 hour', 'user');
SELECT logout_everywhere.enable('staff', 'staff_tokens', subject_name => 'staff');
SELECT logout_everywhere.log_out_everywhere(7, user_table => 'staff');
SELECT jti, purpose, expires_at > now() AT TIME ZONE 'utc' AS live FROM staff_tokens ORDER BY jti;

--
-- The revoking UPDATE also writes subject, unchanged (see the README's
-- Performance section), except where a trigger could tell. Triggers are
-- created after this session's log-outs, so the cached plans must notice.
--
CREATE TABLE fired (trigger_name text, jti text);
CREATE FUNCTION note_firing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO fired VALUES (TG_NAME, NEW.jti);
  RETURN NEW;
END $$;
CREATE TRIGGER on_purpose AFTER UPDATE OF purpose ON tokens
  FOR EACH ROW EXECUTE FUNCTION note_firing();
CREATE TRIGGER on_subject AFTER UPDATE OF subject ON tokens
  FOR EACH ROW EXECUTE FUNCTION note_firing();
CALL token('t-1', 'user?id=trigger-test', 'user', '7 days');
CALL token('t-2', 'user?id=trigger-test', 'remember_me', '7 days');
-- UPDATE OF purpose fires, UPDATE OF subject does not
SELECT logout_everywhere.revoke_subject('user?id=trigger-test', user_table => 'users');
SELECT * FROM fired ORDER BY trigger_name, jti;
-- a child table's trigger UPDATE OF subject does not fire either
DROP TRIGGER on_subject ON tokens;
DELETE FROM fired;
CREATE TABLE old_tokens () INHERITS (tokens);
CREATE TRIGGER on_subject_of_child AFTER UPDATE OF subject ON old_tokens
  FOR EACH ROW EXECUTE FUNCTION note_firing();
-- a child made after enable() gets the guard at once (the event trigger)
SELECT logout_everywhere.enable('users', 'tokens');
SELECT tgrelid::regclass, tgname FROM pg_trigger
 WHERE tgname = 'logout_everywhere_token_guard' ORDER BY tgrelid::regclass::text;
INSERT INTO old_tokens (jti, subject, expires_at, purpose)
  VALUES ('t-3', 'user?id=trigger-test', (now() AT TIME ZONE 'utc') + interval '1 day', 'user');
CALL token('t-4', 'user?id=trigger-test', 'user', '7 days');
SELECT logout_everywhere.revoke_subject('user?id=trigger-test', user_table => 'users');
SELECT * FROM fired ORDER BY trigger_name, jti;
SELECT jti, purpose FROM tokens WHERE subject = 'user?id=trigger-test' ORDER BY jti;
DROP TABLE old_tokens;
DROP TRIGGER on_purpose ON tokens;

--
-- A partitioned token table (by expiry, the primary key then includes
-- expires_at): log-out, the password trigger and the checks work across
-- partitions, and a partition's trigger UPDATE OF subject does not fire.
--
CREATE TABLE partners (id integer PRIMARY KEY, hashed_password text);
INSERT INTO partners VALUES (1, 'p1'), (2, 'p2');
CREATE TABLE partner_tokens (
  jti        text NOT NULL,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  updated_at timestamp NOT NULL DEFAULT '2000-01-01',
  PRIMARY KEY (jti, expires_at)) PARTITION BY RANGE (expires_at);
CREATE TABLE partner_tokens_past PARTITION OF partner_tokens
  FOR VALUES FROM (MINVALUE) TO ('2000-01-01');
CREATE TABLE partner_tokens_future PARTITION OF partner_tokens
  FOR VALUES FROM ('2000-01-01') TO (MAXVALUE);
SET client_min_messages = warning;
SELECT logout_everywhere.enable('partners', 'partner_tokens', subject_name => 'partner',
                                apply_on_password_change => true);
RESET client_min_messages;
DELETE FROM fired;
CREATE TRIGGER on_subject_of_partition AFTER UPDATE OF subject ON partner_tokens_future
  FOR EACH ROW EXECUTE FUNCTION note_firing();
INSERT INTO partner_tokens (jti, subject, expires_at, purpose) VALUES
  ('p1-live', 'partner?id=1', (now() AT TIME ZONE 'utc') + interval '1 day', 'user'),
  ('p1-old',  'partner?id=1', '1999-12-31', 'user'),
  ('p2-live', 'partner?id=2', (now() AT TIME ZONE 'utc') + interval '1 day', 'remember_me');
SELECT logout_everywhere.token_valid('p1-live', token_table => 'partner_tokens') AS valid,
       logout_everywhere.is_revoked('p1-live', token_table => 'partner_tokens') AS revoked;
SELECT logout_everywhere.log_out_everywhere(1, user_table => 'partners');
UPDATE partners SET hashed_password = 'changed' WHERE id = 2;
SELECT logout_everywhere.token_valid('p1-live', token_table => 'partner_tokens') AS valid,
       logout_everywhere.is_revoked('p1-live', token_table => 'partner_tokens') AS revoked;
SELECT tableoid::regclass AS part, jti, purpose, updated_at <> '2000-01-01' AS updated
  FROM partner_tokens ORDER BY jti;
SELECT * FROM fired ORDER BY trigger_name, jti;
SELECT logout_everywhere.disable('partners');

-- Nothing outside the token tables was written: the users are as they were.
SELECT id, email, hashed_password FROM users ORDER BY id;

\c :regress_home
DROP DATABASE regress_le_revocation WITH (FORCE);
