--
-- subjects: subject_for() and the form encoding of ids
-- (application/x-www-form-urlencoded: A-Z a-z 0-9 - . _ ~ unchanged,
--  space as '+', every other byte of the UTF-8 text as %XX in upper case)
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_subjects;
RESET client_min_messages;
CREATE DATABASE regress_le_subjects TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
SELECT current_database() AS regress_home \gset
\c regress_le_subjects
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
CREATE TABLE members (id text PRIMARY KEY, hashed_password text);
SELECT logout_everywhere.enable('members', subject_name => 'member');

-- A text id: the examples of the contract and one of each kind of byte.
SELECT id, logout_everywhere.subject_for(id) AS subject
  FROM (VALUES ('abc'),
               ('a b&c'),
               ('AZaz09-._~'),
               (' '),
               ('  two  spaces  '),
               ('+'),
               ('%'),
               ('%2B'),
               ('a=b?c#d'),
               ('!"#$&''()*,/:;<=>@[\]^`{|}'),
               ('user?id=1'),
               (E'tab\there'),
               (E'new\nline\r'),
               (chr(127)),
               ('é'),
               ('Zürich straße'),
               ('€'),
               ('日本'),
               ('😀'),
               ('')) AS ids(id);

-- Every character from U+0001 to U+2FFF and a few beyond, against an
-- encoder written here in SQL, byte by byte.
CREATE FUNCTION form_encode(s text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(string_agg(
           CASE WHEN b BETWEEN 48 AND 57 OR b BETWEEN 65 AND 90 OR b BETWEEN 97 AND 122
                     OR b IN (45, 46, 95, 126) THEN chr(b)
                WHEN b = 32 THEN '+'
                ELSE '%' || upper(lpad(to_hex(b), 2, '0')) END, '' ORDER BY i), '')
    FROM (SELECT i, get_byte(convert_to(s, 'UTF8'), i) AS b
            FROM generate_series(0, octet_length(convert_to(s, 'UTF8')) - 1) i) bytes
$$;
SELECT form_encode('a b&c'), form_encode('é');
SELECT count(*) AS characters,
       count(*) FILTER (WHERE logout_everywhere.subject_for(c) <> 'member?id=' || form_encode(c)) AS wrong
  FROM (SELECT chr(n) AS c FROM generate_series(1, 12287) n
        UNION ALL SELECT chr(n) FROM unnest('{65533,65279,66368,128512,1114111}'::int[]) n) chars;
-- a whole string of them at once
SELECT logout_everywhere.subject_for(s) = 'member?id=' || form_encode(s) AS same
  FROM (SELECT string_agg(chr(n), '' ORDER BY n) AS s FROM generate_series(1, 2000) n) x;

-- subject_for does not look the user up (revocation does, see "errors").
SELECT count(*) AS members FROM members;

-- The subject built this way is the one that revocation matches, exactly.
INSERT INTO members VALUES ('Zürich straße/1', 'x'), ('a+b', 'y'), ('a b', 'z');
INSERT INTO tokens (jti, subject, expires_at, purpose) VALUES
  ('z-encoded',   'member?id=Z%C3%BCrich+stra%C3%9Fe%2F1', (now() AT TIME ZONE 'utc') + interval '1 day', 'user'),
  ('z-lowerhex',  'member?id=Z%c3%bcrich+stra%c3%9fe%2f1', (now() AT TIME ZONE 'utc') + interval '1 day', 'user'),
  ('z-raw',       'member?id=Zürich straße/1',             (now() AT TIME ZONE 'utc') + interval '1 day', 'user'),
  ('z-pct20',     'member?id=Z%C3%BCrich%20stra%C3%9Fe%2F1', (now() AT TIME ZONE 'utc') + interval '1 day', 'user'),
  ('plus-b',      'member?id=a%2Bb', (now() AT TIME ZONE 'utc') + interval '1 day', 'user'),
  ('space-b',     'member?id=a+b',   (now() AT TIME ZONE 'utc') + interval '1 day', 'user');
SELECT logout_everywhere.log_out_everywhere('Zürich straße/1'::text);
SELECT logout_everywhere.log_out_everywhere('a+b'::text);
SELECT jti, purpose FROM tokens ORDER BY jti;
SELECT logout_everywhere.log_out_everywhere('a b'::text);
SELECT jti, purpose FROM tokens WHERE jti = 'space-b';

--
-- Other id types: the id column's text form after conversion to its type.
--
CREATE TABLE users (id uuid PRIMARY KEY, hashed_password text);
CREATE TABLE accounts (id integer PRIMARY KEY, hashed_password text);
CREATE TABLE ledgers (id numeric PRIMARY KEY, hashed_password text);
SELECT logout_everywhere.enable('users');
SELECT logout_everywhere.enable('accounts', subject_name => 'account');
SELECT logout_everywhere.enable('ledgers', subject_name => 'staff member');
SELECT logout_everywhere.subject_for('5F1C0E3A-0000-4000-8000-00000000ABCD'::uuid, 'users');
SELECT logout_everywhere.subject_for('5F1C0E3A-0000-4000-8000-00000000ABCD', 'users');
SELECT logout_everywhere.subject_for('5F1C0E3A-0000-4000-8000-00000000ABCD'::text, 'users');
SELECT logout_everywhere.subject_for(42, 'accounts');
SELECT logout_everywhere.subject_for(-42, 'accounts');
SELECT logout_everywhere.subject_for(' 42 '::text, 'accounts');
SELECT logout_everywhere.subject_for('0042', 'accounts');
SELECT logout_everywhere.subject_for(42::smallint, 'accounts');
SELECT logout_everywhere.subject_for(42::bigint, 'members');
-- subject_name is used as is, not encoded
SELECT logout_everywhere.subject_for(1.50, 'ledgers');
SELECT logout_everywhere.subject_for('1e3', 'ledgers');

-- subject_name follows the settings
SELECT logout_everywhere.enable('accounts', subject_name => 'user');
SELECT logout_everywhere.subject_for(42, 'accounts');

\c :regress_home
DROP DATABASE regress_le_subjects WITH (FORCE);
