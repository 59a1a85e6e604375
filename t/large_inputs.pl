# Issue 5.5: large and unusual inputs.
#  - one user with 100,000 tokens (log_out_everywhere, except_jti, the
#    password trigger);
#  - a 100 kB subject (revoke_subject; a text id whose subject is ~100 kB);
#  - purpose arrays of 1,000 elements (arguments and configured settings);
#  - text ids with every byte 1..127, multibyte UTF-8 (UTF8 database) and
#    every byte 128..255 (SQL_ASCII database), checked against a SQL
#    reference of the form encoding, and revoked by log_out_everywhere;
#  - multi-dimensional purpose arrays -> 2202E, NULL elements -> 22004,
#    empty arrays: include '{}' revokes nothing, exclude '{}' excludes
#    nothing; arrays with a lower bound other than 1 work.
# (This file is UTF-8; its strings are bytes, sent to psql as they are.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/lib";
use LogoutEverywhereTest;

my $node = start_node('large_inputs');

my $db = 'le_large';
qv('postgres', "CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'");

# Reference form encoding (application/x-www-form-urlencoded), byte by byte
# in the database encoding. (OFFSET 0 keeps the subquery from being pulled
# up: the bytes are converted once, not again for every byte, which made a
# 43 kB id take seconds.)
my $ref_sql = <<'SQL';
CREATE FUNCTION ref_encode(t text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT coalesce(string_agg(
           CASE WHEN b BETWEEN 48 AND 57 OR b BETWEEN 65 AND 90 OR b BETWEEN 97 AND 122
                     OR b IN (45, 46, 95, 126) THEN chr(b)
                WHEN b = 32 THEN '+'
                ELSE '%' || upper(lpad(to_hex(b), 2, '0')) END, '' ORDER BY i), '')
  FROM (SELECT convert_to(t, getdatabaseencoding()) AS bs OFFSET 0) x,
       LATERAL generate_series(0, octet_length(x.bs) - 1) i,
       LATERAL get_byte(x.bs, i) b $$;
SQL

qv($db, <<"SQL");
CREATE EXTENSION logout_everywhere;
$ref_sql
CREATE TABLE users (id int PRIMARY KEY, hashed_password text NOT NULL);
CREATE TABLE tokens $ash_tokens_ddl;
CREATE TABLE members (id text PRIMARY KEY, hashed_password text NOT NULL, kind text NOT NULL DEFAULT 'x');
CREATE TABLE member_tokens $ash_tokens_ddl;
INSERT INTO users SELECT i, 'h' FROM generate_series(1, 10) i;
SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true);
SELECT logout_everywhere.enable('members', 'member_tokens', subject_name => 'member', apply_on_password_change => true);
SQL
my $exp = "now() AT TIME ZONE 'utc' + interval '1 day'";

note('--- 100,000 tokens for one user');
qv($db, "INSERT INTO tokens (jti, subject, expires_at, purpose) SELECT 'a' || i, 'user?id=1', $exp, 'user' FROM generate_series(1, 100000) i");
qv($db, "INSERT INTO tokens (jti, subject, expires_at, purpose) SELECT 'b' || i, 'user?id=2', $exp,
        CASE WHEN i % 10 = 0 THEN 'remember_me' ELSE 'user' END FROM generate_series(1, 100000) i");
qv($db, "INSERT INTO tokens (jti, subject, expires_at, purpose) SELECT 'c' || i, 'user?id=3', $exp, 'user' FROM generate_series(1, 10) i");
is(qv($db, q{SELECT logout_everywhere.log_out_everywhere(1, user_table => 'users', except_jti => 'a50000')}),
	99999, 'log_out_everywhere with except_jti revokes 99,999');
is(qv($db, q{SELECT logout_everywhere.token_valid('a50000', token_table => 'tokens')}), 't', 'the spared token is valid');
is(qv($db, q{SELECT logout_everywhere.log_out_everywhere(1, user_table => 'users')}), 1, 'revoking again revokes the last one only');
is(qv($db, q{SELECT logout_everywhere.log_out_everywhere(2, user_table => 'users', exclude_purposes => '{remember_me,revocation}')}),
	90000, q{log_out_everywhere with exclude '{remember_me,revocation}' revokes 90,000});
qv($db, q{UPDATE users SET hashed_password = 'new' WHERE id = 2});
is(qv($db, q{SELECT count(*) FILTER (WHERE purpose = 'revocation') || '/' || count(*) FROM tokens WHERE subject = 'user?id=2'}),
	'100000/100000', 'password trigger revokes the remaining 10,000 of that user');
is(qv($db, q{SELECT count(*) FROM tokens WHERE subject = 'user?id=3' AND purpose = 'user'}), 10, 'other users untouched');
qv($db, 'DELETE FROM tokens');

note('--- 100 kB subjects');
is(qv($db, q{SELECT logout_everywhere.revoke_subject(repeat('x', 100000), user_table => 'users')}),
	0, 'revoke_subject of an unknown 100 kB subject returns 0');
qv($db, "INSERT INTO tokens (jti, subject, expires_at, purpose)
       SELECT 's' || i, 'user?id=' || repeat('ab', 50000), $exp, 'user' FROM generate_series(1, 3) i");
is(qv($db, q{SELECT logout_everywhere.revoke_subject('user?id=' || repeat('ab', 50000), user_table => 'users')}),
	3, 'revoke_subject of a stored 100 kB subject revokes its 3 tokens');
is(qv($db, q{SELECT logout_everywhere.revoke_subject('user?id=' || repeat('ab', 49999) || 'ac', user_table => 'users')}),
	0, '... and not a subject that differs in the last byte');
# A text id of 43 kB whose subject is 100 kB ('é ' -> '%C3%A9+').
qv($db, q{INSERT INTO members VALUES (repeat('é ', 14286), 'h', 'big')});
is(qv($db, q{SELECT logout_everywhere.subject_for(id, 'members') = 'member?id=' || ref_encode(id) AND octet_length(logout_everywhere.subject_for(id, 'members')) >= 100000 FROM members WHERE kind = 'big'}),
	't', 'subject_for of a 43 kB id is the 100 kB reference subject');
qv($db, "INSERT INTO member_tokens (jti, subject, expires_at, purpose)
       SELECT 'big' || i, 'member?id=' || ref_encode(id), $exp, 'user' FROM members, generate_series(1, 3) i WHERE kind = 'big'");
is(qv($db, q{SELECT logout_everywhere.log_out_everywhere(id, user_table => 'members') FROM members WHERE kind = 'big'}),
	3, 'log_out_everywhere of that user revokes its 3 tokens');
qv($db, q{UPDATE member_tokens SET purpose = 'user'});
qv($db, q{UPDATE members SET hashed_password = 'new' WHERE kind = 'big'});
is(qv($db, q{SELECT count(*) FROM member_tokens WHERE purpose = 'revocation'}), 3, 'the password trigger revokes them too');
qv($db, 'DELETE FROM member_tokens; DELETE FROM members; DELETE FROM tokens');

note('--- purpose arrays of 1,000 elements');
qv($db, "INSERT INTO tokens (jti, subject, expires_at, purpose)
       SELECT 'p' || u || '-' || p, 'user?id=' || u, $exp, p
       FROM generate_series(4, 6) u, unnest('{user,remember_me,magic_link,api_key}'::text[]) p");
my $big_include = q{(SELECT array_agg('purpose-' || i) FROM generate_series(1, 999) i) || 'remember_me'::text};
my $big_exclude = q{(SELECT array_agg(repeat('z', 1000) || i) FROM generate_series(1, 998) i) || '{revocation,api_key}'::text[]};
is(qv($db, "SELECT logout_everywhere.log_out_everywhere(4, user_table => 'users', include_purposes => $big_include)"),
	1, 'include of 1,000 purposes (one matching)');
is(qv($db, "SELECT logout_everywhere.log_out_everywhere(4, user_table => 'users', exclude_purposes => $big_exclude)"),
	2, 'exclude of 1,000 purposes of 1 kB each');
is(qv($db, q{SELECT string_agg(jti || ':' || purpose, ',' ORDER BY jti) FROM tokens WHERE subject = 'user?id=4' AND purpose <> 'revocation'}),
	'p4-api_key:api_key', 'user 4 keeps only api_key');
expect_ok('enable with configured 1,000-element arrays', $db,
	"SELECT logout_everywhere.enable('users', 'tokens', include_purposes => $big_include || '{user,magic_link}'::text[],
                                     exclude_purposes => $big_exclude, apply_on_password_change => true)");
qv($db, q{UPDATE users SET hashed_password = 'x' WHERE id = 5});
is(qv($db, q{SELECT string_agg(jti, ',' ORDER BY jti) FROM tokens WHERE subject = 'user?id=5' AND purpose = 'revocation'}),
	'p5-magic_link,p5-remember_me,p5-user', 'password trigger with the configured 1,000-element arrays');
is(qv($db, q{SELECT cardinality(include_purposes) || '/' || cardinality(exclude_purposes) FROM logout_everywhere.settings WHERE user_table = 'users'::regclass}),
	'1002/1000', 'the settings kept all 1,000+ elements');

note('--- multi-dimensional, NULL-element, empty and offset purpose arrays');
for my $arg (qw(include_purposes exclude_purposes))
{
	expect_error("log_out_everywhere $arg 2-D", '2202E', $db,
		"SELECT logout_everywhere.log_out_everywhere(6, user_table => 'users', $arg => '{{user},{remember_me}}')");
	expect_error("revoke_subject $arg 2-D", '2202E', $db,
		"SELECT logout_everywhere.revoke_subject('user?id=6', $arg => '{{user}}', user_table => 'users')");
	expect_error("enable $arg 2-D", '2202E', $db,
		"SELECT logout_everywhere.enable('users', 'tokens', $arg => '{{user,x},{y,z}}')");
	expect_error("log_out_everywhere $arg with a NULL element", '22004', $db,
		"SELECT logout_everywhere.log_out_everywhere(6, user_table => 'users', $arg => '{user,NULL}')");
	expect_error("enable $arg with a NULL element", '22004', $db,
		"SELECT logout_everywhere.enable('users', 'tokens', $arg => ARRAY['user', NULL])");
}
is(qv($db, q{SELECT count(*) FROM tokens WHERE subject = 'user?id=6' AND purpose = 'revocation'}),
	0, 'nothing revoked for user 6 by the failed calls');
is(qv($db, q{SELECT cardinality(include_purposes) FROM logout_everywhere.settings WHERE user_table = 'users'::regclass}),
	1002, 'the failed enables left the settings as they were');
is(qv($db, q{SELECT logout_everywhere.log_out_everywhere(6, user_table => 'users', include_purposes => '{}')}),
	0, q{include '{}' revokes nothing});
is(qv($db, q{SELECT logout_everywhere.log_out_everywhere(6, user_table => 'users', include_purposes => '[0:1]={api_key,user}', exclude_purposes => '[5:5]={api_key}')}),
	1, q{include with lower bound 0 ('[0:1]={api_key,user}')});
is(qv($db, q{SELECT logout_everywhere.log_out_everywhere(6, user_table => 'users', include_purposes => '{user,remember_me,magic_link,api_key,revocation}', exclude_purposes => '{}')}),
	3, q{exclude '{}' excludes nothing (the other 3 purposes; 'revocation' is not revoked again)});
qv($db, q{SELECT logout_everywhere.enable('users', 'tokens', include_purposes => NULL, exclude_purposes => '{}')});
qv($db, q{UPDATE tokens SET purpose = split_part(jti, '-', 2) WHERE subject = 'user?id=6'});
is(qv($db, q{SELECT logout_everywhere.log_out_everywhere(6, user_table => 'users')}),
	4, q{exclude '{}' (configured, NULL include) revokes every live purpose});
qv($db, q{SELECT logout_everywhere.enable('users', 'tokens', include_purposes => '{}', apply_on_password_change => true)});
qv($db, q{UPDATE tokens SET purpose = 'user' WHERE subject = 'user?id=6'});
qv($db, q{UPDATE users SET hashed_password = 'y' WHERE id = 6});
is(qv($db, q{SELECT count(*) FROM tokens WHERE subject = 'user?id=6' AND purpose = 'revocation'}),
	0, q{configured include '{}': the password trigger revokes nothing});
qv($db, 'DELETE FROM tokens');

note('--- text ids with any byte (UTF8 database)');
qv($db, <<"SQL");
INSERT INTO members (id, hashed_password, kind)
  SELECT 'a' || chr(i) || 'z', 'h', 'byte' FROM generate_series(1, 127) i;
INSERT INTO members (id, hashed_password, kind) VALUES
  ((SELECT string_agg(chr(i), '' ORDER BY i) FROM generate_series(1, 127) i), 'h', 'all'),
  ('a b&c', 'h', 'ash'), ('é', 'h', 'mb'), ('日本語', 'h', 'mb'), ('😀', 'h', 'mb'),
  (chr(1114111), 'h', 'mb'), (chr(65533), 'h', 'mb'), ('e' || chr(769), 'h', 'mb'),
  (chr(8232) || chr(160) || chr(12288), 'h', 'mb'), ('%41+%2B', 'h', 'lookalike'),
  ('', 'h', 'empty'), ('   ', 'h', 'spaces'), ('\\x00', 'h', 'bs'), ('''; DROP TABLE members; --', 'h', 'sql');
INSERT INTO member_tokens (jti, subject, expires_at, purpose)
  SELECT 'm-' || md5(id), 'member?id=' || ref_encode(id), $exp, 'user' FROM members;
-- decoys: the same ids encoded wrongly (lower-case hex, %20 for space, raw)
INSERT INTO member_tokens (jti, subject, expires_at, purpose)
  SELECT DISTINCT ON (s) 'd-' || md5(s), s, $exp, 'user'
  FROM (SELECT 'member?id=' || lower(ref_encode(id)) AS s FROM members
        UNION SELECT 'member?id=' || replace(ref_encode(id), '+', '%20') FROM members
        UNION SELECT 'member?id=' || id FROM members) d
  WHERE s NOT IN (SELECT 'member?id=' || ref_encode(id) FROM members);
SQL
my $nmembers = qv($db, 'SELECT count(*) FROM members');
note("$nmembers ids, " . qv($db, q{SELECT count(*) FROM member_tokens WHERE jti LIKE 'd-%'}) . ' decoy tokens');
is(qv($db, q{SELECT string_agg(quote_literal(id), ', ') FROM members WHERE logout_everywhere.subject_for(id, 'members') IS DISTINCT FROM 'member?id=' || ref_encode(id)}),
	'', 'subject_for matches the reference encoding for every id');
is(qv($db, q{SELECT logout_everywhere.subject_for('a b&c'::text, 'members')}),
	'member?id=a+b%26c', q{subject_for('a b&c') as in the contract});
is(qv($db, q{SELECT logout_everywhere.log_out_everywhere('a b&c', user_table => 'members')}), 1, 'a quoted literal id works');
is(qv($db, q{SELECT count(*) || ':' || sum(logout_everywhere.log_out_everywhere(id, user_table => 'members')) FROM members WHERE id <> 'a b&c'}),
	($nmembers - 1) . ':' . ($nmembers - 1), 'log_out_everywhere revokes exactly one token for every other id');
is(qv($db, q{SELECT count(*) FROM member_tokens WHERE jti LIKE 'd-%' AND purpose = 'revocation'}), 0, 'no decoy was revoked');
is(qv($db, q{SELECT count(*) FROM member_tokens WHERE jti LIKE 'm-%' AND purpose <> 'revocation'}), 0, 'every real token was revoked');
is(qv($db, 'SELECT count(*) > 0 FROM members'), 't', 'the table with the SQL-looking id is still there');
qv($db, q{UPDATE member_tokens SET purpose = 'user'});
qv($db, q{UPDATE members SET hashed_password = 'new' WHERE kind IN ('byte', 'mb')});
is(qv($db, q{SELECT count(*) FROM member_tokens WHERE purpose = 'revocation'}) . '/'
	  . qv($db, q{SELECT count(*) FROM member_tokens WHERE purpose = 'revocation' AND jti LIKE 'm-%'}),
	'134/134', 'the password trigger revokes the tokens of 127 byte ids and 7 multibyte ids');

note('--- text ids with bytes 128..255 (SQL_ASCII database)');
my $db2 = 'le_large_ascii';
qv('postgres', "CREATE DATABASE $db2 TEMPLATE template0 ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'");
qv($db2, <<"SQL");
CREATE EXTENSION logout_everywhere;
$ref_sql
CREATE TABLE members (id text PRIMARY KEY, hashed_password text NOT NULL);
CREATE TABLE tokens $ash_tokens_ddl;
SELECT logout_everywhere.enable('members', 'tokens', apply_on_password_change => true);
INSERT INTO members SELECT convert_from(decode('61' || lpad(to_hex(i), 2, '0') || '7a', 'hex'), 'SQL_ASCII'), 'h'
  FROM generate_series(128, 255) i;
INSERT INTO members VALUES (convert_from(decode('c3a9e2828cf09f9880fffe80c0', 'hex'), 'SQL_ASCII'), 'h');
INSERT INTO tokens (jti, subject, expires_at, purpose)
  SELECT 't-' || md5(id), 'user?id=' || ref_encode(id), $exp, 'user' FROM members;
SQL
is(qv($db2, q{SELECT count(*) FROM members WHERE logout_everywhere.subject_for(id) IS DISTINCT FROM 'user?id=' || ref_encode(id)}),
	0, 'SQL_ASCII: subject_for matches the reference for bytes 128..255');
is(qv($db2, q{SELECT logout_everywhere.subject_for(convert_from('\x61e97a'::bytea, 'SQL_ASCII'))}),
	'user?id=a%E9z', 'SQL_ASCII: byte 0xE9');
is(qv($db2, 'SELECT sum(logout_everywhere.log_out_everywhere(id)) FROM members'),
	129, 'SQL_ASCII: log_out_everywhere revokes one token per id');
qv($db2, q{UPDATE tokens SET purpose = 'user'; UPDATE members SET hashed_password = 'x'});
is(qv($db2, q{SELECT count(*) FROM tokens WHERE purpose = 'revocation'}), 129, 'SQL_ASCII: the password trigger revokes them all');

$node->stop;
done_testing();
