#!/bin/bash
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
set -euo pipefail
. "$(dirname "$0")/lib/robust.bash"

DB=le_large
q postgres "DROP DATABASE IF EXISTS $DB"
q postgres "CREATE DATABASE $DB TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"

# Reference form encoding (application/x-www-form-urlencoded), byte by byte
# in the database encoding.
REF_SQL=$(cat <<'SQL'
CREATE FUNCTION ref_encode(t text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
  SELECT coalesce(string_agg(
           CASE WHEN b BETWEEN 48 AND 57 OR b BETWEEN 65 AND 90 OR b BETWEEN 97 AND 122
                     OR b IN (45, 46, 95, 126) THEN chr(b)
                WHEN b = 32 THEN '+'
                ELSE '%' || upper(lpad(to_hex(b), 2, '0')) END, '' ORDER BY i), '')
  FROM (SELECT convert_to(t, getdatabaseencoding()) AS bs) x,
       LATERAL generate_series(0, octet_length(x.bs) - 1) i,
       LATERAL get_byte(x.bs, i) b $$;
SQL
)
TOKENS_DDL_T=${ASH_TOKENS_DDL}

qs $DB <<SQL
CREATE EXTENSION logout_everywhere;
$REF_SQL
CREATE TABLE users (id int PRIMARY KEY, hashed_password text NOT NULL);
CREATE TABLE tokens $ASH_TOKENS_DDL;
CREATE TABLE members (id text PRIMARY KEY, hashed_password text NOT NULL, kind text NOT NULL DEFAULT 'x');
CREATE TABLE member_tokens $TOKENS_DDL_T;
INSERT INTO users SELECT i, 'h' FROM generate_series(1, 10) i;
SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true);
SELECT logout_everywhere.enable('members', 'member_tokens', subject_name => 'member', apply_on_password_change => true);
SQL
EXP="now() AT TIME ZONE 'utc' + interval '1 day'"

say "--- 100,000 tokens for one user"
q $DB "INSERT INTO tokens (jti, subject, expires_at, purpose) SELECT 'a' || i, 'user?id=1', $EXP, 'user' FROM generate_series(1, 100000) i"
q $DB "INSERT INTO tokens (jti, subject, expires_at, purpose) SELECT 'b' || i, 'user?id=2', $EXP,
        CASE WHEN i % 10 = 0 THEN 'remember_me' ELSE 'user' END FROM generate_series(1, 100000) i"
q $DB "INSERT INTO tokens (jti, subject, expires_at, purpose) SELECT 'c' || i, 'user?id=3', $EXP, 'user' FROM generate_series(1, 10) i"
check "log_out_everywhere with except_jti revokes 99,999" \
    "$(q $DB "SELECT logout_everywhere.log_out_everywhere(1, user_table => 'users', except_jti => 'a50000')")" 99999
check "the spared token is valid" "$(q $DB "SELECT logout_everywhere.token_valid('a50000', token_table => 'tokens')")" t
check "revoking again revokes the last one only" "$(q $DB "SELECT logout_everywhere.log_out_everywhere(1, user_table => 'users')")" 1
check "log_out_everywhere with exclude '{remember_me,revocation}' revokes 90,000" \
    "$(q $DB "SELECT logout_everywhere.log_out_everywhere(2, user_table => 'users', exclude_purposes => '{remember_me,revocation}')")" 90000
q $DB "UPDATE users SET hashed_password = 'new' WHERE id = 2"
check "password trigger revokes the remaining 10,000 of that user" \
    "$(q $DB "SELECT count(*) FILTER (WHERE purpose = 'revocation') || '/' || count(*) FROM tokens WHERE subject = 'user?id=2'")" "100000/100000"
check "other users untouched" "$(q $DB "SELECT count(*) FROM tokens WHERE subject = 'user?id=3' AND purpose = 'user'")" 10
q $DB "DELETE FROM tokens"

say "--- 100 kB subjects"
check "revoke_subject of an unknown 100 kB subject returns 0" \
    "$(q $DB "SELECT logout_everywhere.revoke_subject(repeat('x', 100000), user_table => 'users')")" 0
q $DB "INSERT INTO tokens (jti, subject, expires_at, purpose)
       SELECT 's' || i, 'user?id=' || repeat('ab', 50000), $EXP, 'user' FROM generate_series(1, 3) i"
check "revoke_subject of a stored 100 kB subject revokes its 3 tokens" \
    "$(q $DB "SELECT logout_everywhere.revoke_subject('user?id=' || repeat('ab', 50000), user_table => 'users')")" 3
check "... and not a subject that differs in the last byte" \
    "$(q $DB "SELECT logout_everywhere.revoke_subject('user?id=' || repeat('ab', 49999) || 'ac', user_table => 'users')")" 0
# A text id of 43 kB whose subject is 100 kB ('é ' -> '%C3%A9+').
q $DB "INSERT INTO members VALUES (repeat('é ', 14286), 'h', 'big')"
check "subject_for of a 43 kB id is the 100 kB reference subject" \
    "$(q $DB "SELECT logout_everywhere.subject_for(id, 'members') = 'member?id=' || ref_encode(id) AND octet_length(logout_everywhere.subject_for(id, 'members')) >= 100000 FROM members WHERE kind = 'big'")" t
q $DB "INSERT INTO member_tokens (jti, subject, expires_at, purpose)
       SELECT 'big' || i, 'member?id=' || ref_encode(id), $EXP, 'user' FROM members, generate_series(1, 3) i WHERE kind = 'big'"
check "log_out_everywhere of that user revokes its 3 tokens" \
    "$(q $DB "SELECT logout_everywhere.log_out_everywhere(id, user_table => 'members') FROM members WHERE kind = 'big'")" 3
q $DB "UPDATE member_tokens SET purpose = 'user'"
q $DB "UPDATE members SET hashed_password = 'new' WHERE kind = 'big'"
check "the password trigger revokes them too" "$(q $DB "SELECT count(*) FROM member_tokens WHERE purpose = 'revocation'")" 3
q $DB "DELETE FROM member_tokens; DELETE FROM members; DELETE FROM tokens"

say "--- purpose arrays of 1,000 elements"
q $DB "INSERT INTO tokens (jti, subject, expires_at, purpose)
       SELECT 'p' || u || '-' || p, 'user?id=' || u, $EXP, p
       FROM generate_series(4, 6) u, unnest('{user,remember_me,magic_link,api_key}'::text[]) p"
BIG_INCLUDE="(SELECT array_agg('purpose-' || i) FROM generate_series(1, 999) i) || 'remember_me'::text"
BIG_EXCLUDE="(SELECT array_agg(repeat('z', 1000) || i) FROM generate_series(1, 998) i) || '{revocation,api_key}'::text[]"
check "include of 1,000 purposes (one matching)" \
    "$(q $DB "SELECT logout_everywhere.log_out_everywhere(4, user_table => 'users', include_purposes => $BIG_INCLUDE)")" 1
check "exclude of 1,000 purposes of 1 kB each" \
    "$(q $DB "SELECT logout_everywhere.log_out_everywhere(4, user_table => 'users', exclude_purposes => $BIG_EXCLUDE)")" 2
check "user 4 keeps only api_key" \
    "$(q $DB "SELECT string_agg(jti || ':' || purpose, ',' ORDER BY jti) FROM tokens WHERE subject = 'user?id=4' AND purpose <> 'revocation'")" "p4-api_key:api_key"
expect_ok "enable with configured 1,000-element arrays" $DB \
    "SELECT logout_everywhere.enable('users', 'tokens', include_purposes => $BIG_INCLUDE || '{user,magic_link}'::text[],
                                     exclude_purposes => $BIG_EXCLUDE, apply_on_password_change => true)"
q $DB "UPDATE users SET hashed_password = 'x' WHERE id = 5"
check "password trigger with the configured 1,000-element arrays" \
    "$(q $DB "SELECT string_agg(jti, ',' ORDER BY jti) FROM tokens WHERE subject = 'user?id=5' AND purpose = 'revocation'")" \
    "p5-magic_link,p5-remember_me,p5-user"
check "the settings kept all 1,000+ elements" \
    "$(q $DB "SELECT cardinality(include_purposes) || '/' || cardinality(exclude_purposes) FROM logout_everywhere.settings WHERE user_table = 'users'::regclass")" "1002/1000"

say "--- multi-dimensional, NULL-element, empty and offset purpose arrays"
for arg in include_purposes exclude_purposes; do
    expect_error "log_out_everywhere $arg 2-D" 2202E $DB \
        "SELECT logout_everywhere.log_out_everywhere(6, user_table => 'users', $arg => '{{user},{remember_me}}')"
    expect_error "revoke_subject $arg 2-D" 2202E $DB \
        "SELECT logout_everywhere.revoke_subject('user?id=6', $arg => '{{user}}', user_table => 'users')"
    expect_error "enable $arg 2-D" 2202E $DB \
        "SELECT logout_everywhere.enable('users', 'tokens', $arg => '{{user,x},{y,z}}')"
    expect_error "log_out_everywhere $arg with a NULL element" 22004 $DB \
        "SELECT logout_everywhere.log_out_everywhere(6, user_table => 'users', $arg => '{user,NULL}')"
    expect_error "enable $arg with a NULL element" 22004 $DB \
        "SELECT logout_everywhere.enable('users', 'tokens', $arg => ARRAY['user', NULL])"
done
check "nothing revoked for user 6 by the failed calls" \
    "$(q $DB "SELECT count(*) FROM tokens WHERE subject = 'user?id=6' AND purpose = 'revocation'")" 0
check "the failed enables left the settings as they were" \
    "$(q $DB "SELECT cardinality(include_purposes) FROM logout_everywhere.settings WHERE user_table = 'users'::regclass")" 1002
check "include '{}' revokes nothing" \
    "$(q $DB "SELECT logout_everywhere.log_out_everywhere(6, user_table => 'users', include_purposes => '{}')")" 0
check "include with lower bound 0 ('[0:1]={api_key,user}')" \
    "$(q $DB "SELECT logout_everywhere.log_out_everywhere(6, user_table => 'users', include_purposes => '[0:1]={api_key,user}', exclude_purposes => '[5:5]={api_key}')")" 1
check "exclude '{}' excludes nothing (the other 3 purposes; 'revocation' is not revoked again)" \
    "$(q $DB "SELECT logout_everywhere.log_out_everywhere(6, user_table => 'users', include_purposes => '{user,remember_me,magic_link,api_key,revocation}', exclude_purposes => '{}')")" 3
q $DB "SELECT logout_everywhere.enable('users', 'tokens', include_purposes => NULL, exclude_purposes => '{}')"
q $DB "UPDATE tokens SET purpose = split_part(jti, '-', 2) WHERE subject = 'user?id=6'"
check "exclude '{}' (configured, NULL include) revokes every live purpose" \
    "$(q $DB "SELECT logout_everywhere.log_out_everywhere(6, user_table => 'users')")" 4
q $DB "SELECT logout_everywhere.enable('users', 'tokens', include_purposes => '{}', apply_on_password_change => true)"
q $DB "UPDATE tokens SET purpose = 'user' WHERE subject = 'user?id=6'"
q $DB "UPDATE users SET hashed_password = 'y' WHERE id = 6"
check "configured include '{}': the password trigger revokes nothing" \
    "$(q $DB "SELECT count(*) FROM tokens WHERE subject = 'user?id=6' AND purpose = 'revocation'")" 0
q $DB "DELETE FROM tokens"

say "--- text ids with any byte (UTF8 database)"
qs $DB <<SQL
INSERT INTO members (id, hashed_password, kind)
  SELECT 'a' || chr(i) || 'z', 'h', 'byte' FROM generate_series(1, 127) i;
INSERT INTO members (id, hashed_password, kind) VALUES
  ((SELECT string_agg(chr(i), '' ORDER BY i) FROM generate_series(1, 127) i), 'h', 'all'),
  ('a b&c', 'h', 'ash'), ('é', 'h', 'mb'), ('日本語', 'h', 'mb'), ('😀', 'h', 'mb'),
  (chr(1114111), 'h', 'mb'), (chr(65533), 'h', 'mb'), ('e' || chr(769), 'h', 'mb'),
  (chr(8232) || chr(160) || chr(12288), 'h', 'mb'), ('%41+%2B', 'h', 'lookalike'),
  ('', 'h', 'empty'), ('   ', 'h', 'spaces'), ('\\x00', 'h', 'bs'), ('''; DROP TABLE members; --', 'h', 'sql');
INSERT INTO member_tokens (jti, subject, expires_at, purpose)
  SELECT 'm-' || md5(id), 'member?id=' || ref_encode(id), $EXP, 'user' FROM members;
-- decoys: the same ids encoded wrongly (lower-case hex, %20 for space, raw)
INSERT INTO member_tokens (jti, subject, expires_at, purpose)
  SELECT DISTINCT ON (s) 'd-' || md5(s), s, $EXP, 'user'
  FROM (SELECT 'member?id=' || lower(ref_encode(id)) AS s FROM members
        UNION SELECT 'member?id=' || replace(ref_encode(id), '+', '%20') FROM members
        UNION SELECT 'member?id=' || id FROM members) d
  WHERE s NOT IN (SELECT 'member?id=' || ref_encode(id) FROM members);
SQL
say "$(q $DB "SELECT count(*) FROM members") ids, $(q $DB "SELECT count(*) FROM member_tokens WHERE jti LIKE 'd-%'") decoy tokens"
check "subject_for matches the reference encoding for every id" \
    "$(q $DB "SELECT string_agg(quote_literal(id), ', ') FROM members WHERE logout_everywhere.subject_for(id, 'members') IS DISTINCT FROM 'member?id=' || ref_encode(id)")" ""
check "subject_for('a b&c') as in the contract" \
    "$(q $DB "SELECT logout_everywhere.subject_for('a b&c'::text, 'members')")" "member?id=a+b%26c"
check "a quoted literal id works" \
    "$(q $DB "SELECT logout_everywhere.log_out_everywhere('a b&c', user_table => 'members')")" 1
check "log_out_everywhere revokes exactly one token for every other id" \
    "$(q $DB "SELECT count(*) || ':' || sum(logout_everywhere.log_out_everywhere(id, user_table => 'members')) FROM members WHERE id <> 'a b&c'")" \
    "$(( $(q $DB "SELECT count(*) FROM members") - 1 )):$(( $(q $DB "SELECT count(*) FROM members") - 1 ))"
check "no decoy was revoked" "$(q $DB "SELECT count(*) FROM member_tokens WHERE jti LIKE 'd-%' AND purpose = 'revocation'")" 0
check "every real token was revoked" "$(q $DB "SELECT count(*) FROM member_tokens WHERE jti LIKE 'm-%' AND purpose <> 'revocation'")" 0
check "the table with the SQL-looking id is still there" "$(q $DB "SELECT count(*) > 0 FROM members")" t
q $DB "UPDATE member_tokens SET purpose = 'user'"
q $DB "UPDATE members SET hashed_password = 'new' WHERE kind IN ('byte', 'mb')"
check "the password trigger revokes the tokens of 127 byte ids and 7 multibyte ids" \
    "$(q $DB "SELECT count(*) FROM member_tokens WHERE purpose = 'revocation'")/$(q $DB "SELECT count(*) FROM member_tokens WHERE purpose = 'revocation' AND jti LIKE 'm-%'")" "134/134"

say "--- text ids with bytes 128..255 (SQL_ASCII database)"
DB2=le_large_ascii
q postgres "DROP DATABASE IF EXISTS $DB2"
q postgres "CREATE DATABASE $DB2 TEMPLATE template0 ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C'"
qs $DB2 <<SQL
CREATE EXTENSION logout_everywhere;
$REF_SQL
CREATE TABLE members (id text PRIMARY KEY, hashed_password text NOT NULL);
CREATE TABLE tokens $ASH_TOKENS_DDL;
SELECT logout_everywhere.enable('members', 'tokens', apply_on_password_change => true);
INSERT INTO members SELECT convert_from(decode('61' || lpad(to_hex(i), 2, '0') || '7a', 'hex'), 'SQL_ASCII'), 'h'
  FROM generate_series(128, 255) i;
INSERT INTO members VALUES (convert_from(decode('c3a9e2828cf09f9880fffe80c0', 'hex'), 'SQL_ASCII'), 'h');
INSERT INTO tokens (jti, subject, expires_at, purpose)
  SELECT 't-' || md5(id), 'user?id=' || ref_encode(id), $EXP, 'user' FROM members;
SQL
check "SQL_ASCII: subject_for matches the reference for bytes 128..255" \
    "$(q $DB2 "SELECT count(*) FROM members WHERE logout_everywhere.subject_for(id) IS DISTINCT FROM 'user?id=' || ref_encode(id)")" 0
check "SQL_ASCII: byte 0xE9" \
    "$(q $DB2 "SELECT logout_everywhere.subject_for(convert_from('\\x61e97a'::bytea, 'SQL_ASCII'))")" "user?id=a%E9z"
check "SQL_ASCII: log_out_everywhere revokes one token per id" \
    "$(q $DB2 "SELECT sum(logout_everywhere.log_out_everywhere(id)) FROM members")" 129
q $DB2 "UPDATE tokens SET purpose = 'user'; UPDATE members SET hashed_password = 'x'"
check "SQL_ASCII: the password trigger revokes them all" "$(q $DB2 "SELECT count(*) FROM tokens WHERE purpose = 'revocation'")" 129

finish
