#!/bin/bash
# Issue 5.2: DROP EXTENSION.  Without CASCADE it is refused while a table is
# enabled (the dependencies are printed); with CASCADE it removes the
# triggers and the generated actions, leaves no function that calls the
# missing extension, and the user and token tables keep working; CREATE
# EXTENSION then works again.
set -euo pipefail
. "$(dirname "$0")/lib/robust.bash"

DB=le_drop
q postgres "DROP DATABASE IF EXISTS $DB"
q postgres "CREATE DATABASE $DB"

setup() {
    qs $DB <<SQL
CREATE EXTENSION logout_everywhere;
SELECT logout_everywhere.enable('public.users', 'public.tokens', apply_on_password_change => true);
SELECT logout_everywhere.enable('shop.customers', 'shop.tokens', subject_name => 'customer',
       action_name => 'kick', argument_name => 'c');
SQL
}

qs $DB <<SQL
CREATE TABLE users (id int PRIMARY KEY, hashed_password text);
CREATE TABLE tokens $ASH_TOKENS_DDL;
CREATE SCHEMA shop;
CREATE TABLE shop.customers (id uuid PRIMARY KEY, hashed_password text);
CREATE TABLE shop.tokens $ASH_TOKENS_DDL;
INSERT INTO users SELECT i, 'h' FROM generate_series(1, 3) i;
INSERT INTO shop.customers VALUES ('11111111-1111-1111-1111-111111111111', 'h');
INSERT INTO tokens (jti, subject, expires_at, purpose)
  SELECT 't' || i, 'user?id=' || i, now() AT TIME ZONE 'utc' + interval '1 day', 'user' FROM generate_series(1, 3) i;
SQL
setup

# Objects outside the extension that depend on it (what blocks a plain DROP).
deps_sql="SELECT string_agg(DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid), '; ' ORDER BY pg_describe_object(d.classid, d.objid, d.objsubid))
  FROM pg_depend d
  WHERE d.deptype = 'n'
    AND ((d.refclassid = 'pg_extension'::regclass AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'logout_everywhere'))
      OR (d.refclassid, d.refobjid) IN (SELECT classid, objid FROM pg_depend
                                         WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
                                           AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'logout_everywhere')))
    AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = d.classid AND e.objid = d.objid AND e.deptype = 'e')"
deps=$(q $DB "$deps_sql")
say "dependencies on the extension: $deps"
for obj in "kick(shop.customers)" "function log_out_everywhere(users)" \
           "trigger logout_everywhere_password on table users" \
           "trigger logout_everywhere_token_guard on table tokens" \
           "trigger logout_everywhere_token_guard on table shop.tokens"; do
    if grep -qF "$obj" <<<"$deps"; then ok "recorded dependency: $obj"; else bad "no recorded dependency for: $obj"; fi
done

expect_error "DROP EXTENSION without CASCADE is refused while tables are enabled" 2BP01 $DB \
    "DROP EXTENSION logout_everywhere"
check "nothing dropped by the refused DROP" "$(q $DB "SELECT count(*) FROM pg_extension WHERE extname = 'logout_everywhere'")" 1

# Disabling one of two tables is not enough.
q $DB "SELECT logout_everywhere.disable('shop.customers')"
expect_error "still refused while one table is enabled" 2BP01 $DB "DROP EXTENSION logout_everywhere"

# With no table enabled, a plain DROP works.
q $DB "SELECT logout_everywhere.disable('users')"
expect_ok "plain DROP EXTENSION works once every table is disabled" $DB "DROP EXTENSION logout_everywhere"
q $DB "DROP EXTENSION IF EXISTS logout_everywhere CASCADE"   # only if the plain DROP failed
setup

expect_ok "DROP EXTENSION ... CASCADE" $DB "DROP EXTENSION logout_everywhere CASCADE"
# CREATE EXTENSION creates the control file's schema before the extension
# exists, so the schema is not a member and stays (empty) after the DROP.
check "schema logout_everywhere is gone or empty" \
    "$(q $DB "SELECT count(*) FROM pg_class WHERE relnamespace::regnamespace::text = 'logout_everywhere'")/$(q $DB "SELECT count(*) FROM pg_proc WHERE pronamespace::regnamespace::text = 'logout_everywhere'")/$(q $DB "SELECT count(*) FROM pg_type WHERE typnamespace::regnamespace::text = 'logout_everywhere'")" "0/0/0"
check "no trigger left on the user and token tables" \
    "$(q $DB "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN ('users'::regclass, 'tokens'::regclass, 'shop.customers'::regclass, 'shop.tokens'::regclass)")" 0
check "no generated action left" \
    "$(q $DB "SELECT count(*) FROM pg_proc WHERE proname IN ('kick', 'log_out_everywhere')")" 0
check "no function left that refers to the extension (by library, body or schema)" \
    "$(q $DB "SELECT count(*) FROM pg_proc p WHERE p.probin LIKE '%logout_everywhere%' OR p.prosrc LIKE '%logout_everywhere%'
                OR (p.prosqlbody IS NOT NULL AND pg_get_functiondef(p.oid) LIKE '%logout_everywhere%')")" 0
check "no object left that depends on a missing object" \
    "$(q $DB "SELECT count(*) FROM pg_depend d WHERE d.refclassid = 'pg_proc'::regclass AND NOT EXISTS (SELECT FROM pg_proc WHERE oid = d.refobjid)")" 0
expect_ok "updating passwords still works" $DB "UPDATE users SET hashed_password = 'x' || id"
expect_ok "updating customers still works" $DB "UPDATE shop.customers SET hashed_password = 'y'"
expect_ok "writing tokens still works" $DB \
    "INSERT INTO tokens (jti, subject, expires_at, purpose) VALUES ('t9', 'user?id=1', now() AT TIME ZONE 'utc' + interval '1 day', 'user');
     UPDATE tokens SET purpose = 'revocation' WHERE jti = 't9'"
check "no token was revoked by the password updates" "$(q $DB "SELECT count(*) FROM tokens WHERE purpose = 'revocation' AND jti <> 't9'")" 0
check "dump of the database has no reference to the extension (but its empty schema)" \
    "$(pg_dump -s $DB | grep logout_everywhere | grep -v -E '^(CREATE|ALTER) SCHEMA logout_everywhere|^-- Name: logout_everywhere; Type: SCHEMA' || true)" ""

# And back.
expect_ok "CREATE EXTENSION again" $DB "CREATE EXTENSION logout_everywhere"
check "settings are empty after re-creation" "$(q $DB "SELECT count(*) FROM logout_everywhere.settings")" 0
expect_ok "enable again" $DB "SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true)"
q $DB "UPDATE users SET hashed_password = 'z' WHERE id = 2"
check "password trigger works after re-creation" \
    "$(q $DB "SELECT string_agg(jti, ',' ORDER BY jti) FROM tokens WHERE purpose = 'revocation' AND jti <> 't9'")" t2
check "action works after re-creation" "$(q $DB "SELECT log_out_everywhere(u) FROM users u WHERE id = 3")" 1

finish
