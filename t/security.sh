#!/bin/bash
# Issue 5.6: security.
#  - hostile search_path: operators, functions and catalog-named views that
#    shadow pg_catalog's, ahead of it on search_path, change nothing (and are
#    never called) in enable, disable, log-outs, checks, expunge, the
#    password trigger, the token guard and the generated action;
#  - names that need quoting (schemas, tables, columns, action and argument
#    names, subject_name);
#  - enable/disable by a role that does not own the user table -> 42501;
#  - missing EXECUTE, or missing UPDATE on the token table -> 42501 and
#    nothing changed; the minimal grants of the contract are enough;
#  - row-level security hiding tokens: they are not revoked, the count says so;
#  - no SECURITY DEFINER function; EXECUTE revoked from PUBLIC everywhere;
#  - the extension is not trusted: a database owner cannot create it.
set -euo pipefail
. "$(dirname "$0")/lib/robust.bash"
ROOT=$(cd "$(dirname "$0")/.." && pwd)

DB=le_security
q postgres "DROP DATABASE IF EXISTS $DB"
q postgres "DROP DATABASE IF EXISTS le_security_owned"
for r in le_app le_alice le_dbowner; do q postgres "DROP ROLE IF EXISTS $r"; done
q postgres "CREATE DATABASE $DB"
q postgres "CREATE ROLE le_app; CREATE ROLE le_alice; CREATE ROLE le_dbowner CREATEDB"
EXP="now() AT TIME ZONE 'utc' + interval '1 day'"
OLD="now() AT TIME ZONE 'utc' - interval '1 day'"

qs $DB <<SQL
CREATE EXTENSION logout_everywhere;
CREATE TABLE users (id int PRIMARY KEY, email text, hashed_password text);
CREATE TABLE tokens $ASH_TOKENS_DDL;
CREATE TABLE x (keep int);   -- must survive hostile names
INSERT INTO users SELECT i, 'u' || i, 'h' FROM generate_series(1, 20) i;
-- every user: user, remember_me, api_key live; one expired
CREATE FUNCTION seed_tokens() RETURNS void LANGUAGE sql AS \$\$
  DELETE FROM tokens;
  INSERT INTO tokens (jti, subject, expires_at, purpose)
    SELECT 'u' || i || '-' || p, 'user?id=' || i, $EXP, p
    FROM generate_series(1, 20) i, unnest('{user,remember_me,api_key}'::text[]) p;
  INSERT INTO tokens (jti, subject, expires_at, purpose)
    SELECT 'u' || i || '-old', 'user?id=' || i, $OLD, 'user' FROM generate_series(1, 20) i;
\$\$;
SELECT seed_tokens();
SQL
# "id:jti-suffix:purpose" of every token that is not in its seeded state.
changed_sql="SELECT coalesce(string_agg(jti || ':' || purpose, ',' ORDER BY jti), '') FROM tokens WHERE purpose <> coalesce(nullif(split_part(jti, '-', 2), 'old'), 'user')"

say "--- hostile search_path"
qs $DB <<'SQL'
CREATE SEQUENCE public.evil_hits;
GRANT USAGE ON SEQUENCE public.evil_hits TO PUBLIC;
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.hit() RETURNS void LANGUAGE sql AS $$ SELECT nextval('public.evil_hits') $$;
-- comparison operators that always say true
CREATE FUNCTION evil.t_text(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.hit(); SELECT true $$;
CREATE FUNCTION evil.t_name(name, name) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.hit(); SELECT true $$;
CREATE FUNCTION evil.t_int4(int4, int4) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.hit(); SELECT true $$;
CREATE FUNCTION evil.t_int8(int8, int8) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.hit(); SELECT true $$;
CREATE FUNCTION evil.t_oid(oid, oid) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.hit(); SELECT true $$;
CREATE FUNCTION evil.t_ts(timestamp, timestamp) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.hit(); SELECT true $$;
CREATE FUNCTION evil.t_tstz(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.hit(); SELECT true $$;
CREATE FUNCTION evil.t_arr(anyarray, anyarray) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.hit(); SELECT true $$;
CREATE FUNCTION evil.cat(text, text) RETURNS text LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 'user?id=1' $$;
DO $$
DECLARE op text; t text;
BEGIN
  FOREACH op IN ARRAY '{=,<>,<,>,<=,>=}'::text[] LOOP
    FOREACH t IN ARRAY '{text:t_text,name:t_name,int4:t_int4,int8:t_int8,oid:t_oid,timestamp:t_ts,timestamptz:t_tstz}'::text[] LOOP
      EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.%s)',
                     op, split_part(t, ':', 1), split_part(t, ':', 1), split_part(t, ':', 2));
    END LOOP;
  END LOOP;
  FOREACH op IN ARRAY '{@>,<@,&&,=,<>}'::text[] LOOP
    EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = anyarray, RIGHTARG = anyarray, FUNCTION = evil.t_arr)', op);
  END LOOP;
END $$;
CREATE OPERATOR evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.cat);
-- functions that lie about the time, the length of things and text
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT evil.hit(); SELECT '1900-01-01'::pg_catalog.timestamptz $$;
CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT evil.hit(); SELECT '1900-01-01'::pg_catalog.timestamptz $$;
CREATE FUNCTION evil.statement_timestamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT evil.hit(); SELECT '1900-01-01'::pg_catalog.timestamptz $$;
CREATE FUNCTION evil.transaction_timestamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT evil.hit(); SELECT '1900-01-01'::pg_catalog.timestamptz $$;
CREATE FUNCTION evil.timezone(text, timestamptz) RETURNS timestamp LANGUAGE sql AS $$ SELECT evil.hit(); SELECT '1900-01-01'::pg_catalog.timestamp $$;
CREATE FUNCTION evil.timezone(text, timestamp) RETURNS timestamptz LANGUAGE sql AS $$ SELECT evil.hit(); SELECT '1900-01-01'::pg_catalog.timestamptz $$;
CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 'user' $$;
CREATE FUNCTION evil.upper(text) RETURNS text LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 'USER' $$;
CREATE FUNCTION evil.concat(VARIADIC text[]) RETURNS text LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 'user?id=1' $$;
CREATE FUNCTION evil.format(text, VARIADIC text[]) RETURNS text LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 'SELECT 1' $$;
CREATE FUNCTION evil.quote_ident(text) RETURNS text LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 'x' $$;
CREATE FUNCTION evil.cardinality(anyarray) RETURNS int LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 0 $$;
CREATE FUNCTION evil.array_length(anyarray, int) RETURNS int LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 0 $$;
CREATE FUNCTION evil.array_position(anyarray, anyelement) RETURNS int LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 1 $$;
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE sql AS $$ SELECT evil.hit(); SELECT NULL::anyelement WHERE false $$ ;
CREATE FUNCTION evil.text(int) RETURNS text LANGUAGE sql AS $$ SELECT evil.hit(); SELECT '1' $$;
CREATE FUNCTION evil.pg_advisory_xact_lock(bigint) RETURNS void LANGUAGE sql AS $$ SELECT evil.hit() $$;
CREATE FUNCTION evil.pg_advisory_xact_lock_shared(bigint) RETURNS void LANGUAGE sql AS $$ SELECT evil.hit() $$;
CREATE FUNCTION evil.hashtext(text) RETURNS int LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 0 $$;
-- catalog-named views that show nothing
CREATE VIEW evil.pg_class AS SELECT * FROM pg_catalog.pg_class WHERE evil.hit() IS NULL AND false;
CREATE VIEW evil.pg_attribute AS SELECT attrelid, attname, atttypid, attnum, atttypmod, attnotnull, attisdropped FROM pg_catalog.pg_attribute WHERE evil.hit() IS NULL AND false;
CREATE VIEW evil.pg_trigger AS SELECT * FROM pg_catalog.pg_trigger WHERE evil.hit() IS NULL AND false;
CREATE VIEW evil.pg_index AS SELECT * FROM pg_catalog.pg_index WHERE evil.hit() IS NULL AND false;
CREATE VIEW evil.pg_proc AS SELECT * FROM pg_catalog.pg_proc WHERE evil.hit() IS NULL AND false;
CREATE VIEW evil.pg_namespace AS SELECT * FROM pg_catalog.pg_namespace WHERE evil.hit() IS NULL AND false;
CREATE TABLE evil.settings (LIKE logout_everywhere.settings);
CREATE TABLE evil.tokens (LIKE public.tokens);
DO $$ BEGIN PERFORM setval('public.evil_hits', 1, false); END $$;
SQL
EVIL_PATH="evil,pg_catalog,public"
qe() { PGOPTIONS="-c search_path=$EVIL_PATH" q "$@"; }
hits() { q $DB "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM evil_hits"; }

expect_ok "enable under the hostile search_path" $DB \
    "SET search_path = $EVIL_PATH; SELECT logout_everywhere.enable('public.users', 'public.tokens', exclude_purposes => '{revocation,api_key}', apply_on_password_change => true)"
check "settings recorded the right tables" "$(q $DB "SELECT user_table::text || ' ' || token_table::text FROM logout_everywhere.settings")" "users tokens"
check "subject_for" "$(qe $DB "SELECT logout_everywhere.subject_for(5)")" "user?id=5"
check "log_out_everywhere(5) revokes user 5's 2 live, not excluded tokens" "$(qe $DB "SELECT logout_everywhere.log_out_everywhere(5)")" 2
check "log_out_everywhere with include/exclude/except_jti" \
    "$(qe $DB "SELECT logout_everywhere.log_out_everywhere(6, include_purposes => '{user,api_key}', exclude_purposes => '{remember_me}', except_jti => 'u6-user')")" 1
check "revoke_subject" "$(qe $DB "SELECT logout_everywhere.revoke_subject('user?id=7')")" 2
check "the generated action" "$(qe $DB "SELECT public.log_out_everywhere(u) FROM public.users u WHERE id OPERATOR(pg_catalog.=) 8")" 2
qe $DB "UPDATE public.users SET hashed_password = 'new' WHERE id OPERATOR(pg_catalog.=) 9"
qe $DB "UPDATE public.users SET hashed_password = hashed_password WHERE id OPERATOR(pg_catalog.=) 10"
check "only the intended tokens were revoked (5, 6 api_key, 7, 8, 9 by the password trigger; not 10)" "$(q $DB "$changed_sql")" \
    "u5-remember_me:revocation,u5-user:revocation,u6-api_key:revocation,u7-remember_me:revocation,u7-user:revocation,u8-remember_me:revocation,u8-user:revocation,u9-remember_me:revocation,u9-user:revocation"
check "token_valid / is_revoked" \
    "$(qe $DB "SELECT pg_catalog.concat_ws(',', logout_everywhere.token_valid('u1-user'), logout_everywhere.token_valid('u1-old'), logout_everywhere.token_valid('u5-user'), logout_everywhere.token_valid('u1-user', 'remember_me'), logout_everywhere.is_revoked('u5-user'), logout_everywhere.is_revoked('u1-user'))")" \
    "t,f,f,f,t,f"
expect_ok "a login (token guard) under the hostile search_path" $DB \
    "SET search_path = $EVIL_PATH; INSERT INTO public.tokens (jti, subject, expires_at, purpose) VALUES ('new', 'user?id=11', pg_catalog.now() AT TIME ZONE 'utc' + interval '1 day', 'user')"
check "expunge_expired deletes the 20 expired tokens only" "$(qe $DB "SELECT logout_everywhere.expunge_expired()")" 20
check "  ... and 61 remain" "$(q $DB "SELECT count(*) FROM tokens")" 61
expect_ok "disable under the hostile search_path" $DB "SET search_path = $EVIL_PATH; SELECT logout_everywhere.disable('public.users')"
check "disable removed the action and the triggers" \
    "$(q $DB "SELECT count(*) FROM pg_proc WHERE proname = 'log_out_everywhere' AND pronamespace = 'public'::regnamespace")/$(q $DB "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'users'::regclass AND NOT tgisinternal")" "0/0"
check "no shadowing object was ever called" "$(hits)" 0
check "evil.settings / evil.tokens untouched" "$(q $DB "SELECT (SELECT count(*) FROM evil.settings) + (SELECT count(*) FROM evil.tokens)")" 0
# Negative control: the shadowing objects do take effect on unqualified SQL.
check "negative control: unqualified 'a' = 'b' and now() are hijacked" \
    "$(qe $DB "SELECT ('a' = 'b')::pg_catalog.text OPERATOR(pg_catalog.||) pg_catalog.date_part('year', now())::pg_catalog.text")" "true1900"
check "negative control: the hits are counted" "$(( $(hits) > 0 ))" 1
q $DB "SELECT seed_tokens(); UPDATE users SET hashed_password = 'h'"
q $DB "SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true)"

say "--- names that need quoting"
qs $DB <<SQL
CREATE SCHEMA "My Schema";
CREATE TABLE "My Schema"."User Table" ("Id Col" int PRIMARY KEY, "pass""word" text, "select" text);
CREATE SCHEMA "tok.sch";
CREATE TABLE "tok.sch"."Tokens!" $ASH_TOKENS_DDL;
INSERT INTO "My Schema"."User Table" SELECT i, 'h', 's' FROM generate_series(1, 3) i;
INSERT INTO "tok.sch"."Tokens!" (jti, subject, expires_at, purpose)
  SELECT 'q' || i || '-' || p, 'us''er "x"?id=' || i, $EXP, p FROM generate_series(1, 3) i, unnest('{user,remember_me}'::text[]) p;
SQL
ACTION='Log Out "all"; DROP TABLE x; --'
QACTION=$(q $DB "SELECT quote_ident('$ACTION')")
expect_ok "enable with quoted names" $DB \
    "SELECT logout_everywhere.enable('\"My Schema\".\"User Table\"', '\"tok.sch\".\"Tokens!\"', id_column => 'Id Col', password_column => 'pass\"word',
       subject_name => 'us''er \"x\"', apply_on_password_change => true, action_name => '$ACTION', argument_name => 'the user')"
check "subject_for with a quoted subject_name" \
    "$(q $DB "SELECT logout_everywhere.subject_for(1, '\"My Schema\".\"User Table\"')")" 'us'"'"'er "x"?id=1'
check "the action with a hostile name" \
    "$(q $DB "SELECT \"My Schema\".$QACTION(u) FROM \"My Schema\".\"User Table\" u WHERE \"Id Col\" = 1")" 2
check "  ... its argument is called \"the user\"" \
    "$(q $DB "SELECT array_to_string(proargnames, ',') FROM pg_proc WHERE proname = '$ACTION'")" "the user"
q $DB "UPDATE \"My Schema\".\"User Table\" SET \"pass\"\"word\" = 'n' WHERE \"Id Col\" = 2"
q $DB "UPDATE \"My Schema\".\"User Table\" SET \"select\" = 'n' WHERE \"Id Col\" = 3"
check "the password trigger on a quoted column" \
    "$(q $DB "SELECT string_agg(jti, ',' ORDER BY jti) FROM \"tok.sch\".\"Tokens!\" WHERE purpose = 'revocation'")" "q1-remember_me,q1-user,q2-remember_me,q2-user"
check "log_out_everywhere with user_table given as a quoted name" \
    "$(q $DB "SELECT logout_everywhere.log_out_everywhere(3, user_table => '\"My Schema\".\"User Table\"')")" 2
check "table x still exists" "$(q $DB "SELECT count(*) FROM pg_class WHERE relname = 'x'")" 1
expect_ok "disable with quoted names" $DB "SELECT logout_everywhere.disable('\"My Schema\".\"User Table\"')"

say "--- ownership"
q $DB "GRANT USAGE ON SCHEMA logout_everywhere TO le_alice;
       GRANT EXECUTE ON FUNCTION logout_everywhere.enable(regclass, regclass, name, name, text, text[], text[], boolean, name, name),
                                 logout_everywhere.disable(regclass) TO le_alice;
       GRANT ALL ON users, tokens TO le_alice;
       CREATE TABLE users2 (id int PRIMARY KEY, hashed_password text)"
before=$(q $DB "SELECT (SELECT string_agg(row(s.*)::text, ';') FROM logout_everywhere.settings s) || (SELECT count(*) FROM pg_trigger) || '/' || (SELECT count(*) FROM pg_proc)")
expect_error "enable by a role that does not own the user table" 42501 $DB \
    "SET ROLE le_alice; SELECT logout_everywhere.enable('users2', 'tokens', apply_on_password_change => true)"
expect_error "enable again of an enabled table by a non-owner" 42501 $DB \
    "SET ROLE le_alice; SELECT logout_everywhere.enable('users', 'tokens', exclude_purposes => '{}')"
expect_error "disable by a non-owner" 42501 $DB "SET ROLE le_alice; SELECT logout_everywhere.disable('users')"
check "the refused calls left no trace" \
    "$(q $DB "SELECT (SELECT string_agg(row(s.*)::text, ';') FROM logout_everywhere.settings s) || (SELECT count(*) FROM pg_trigger) || '/' || (SELECT count(*) FROM pg_proc)")" "$before"
q $DB "ALTER TABLE users2 OWNER TO le_alice; GRANT CREATE ON SCHEMA public TO le_alice"
expect_error "enable by the owner of the user table, not of the token table" 42501 $DB \
    "SET ROLE le_alice; SELECT logout_everywhere.enable('users2', 'tokens', subject_name => 'u2')"
q $DB "CREATE TABLE tokens2 $ASH_TOKENS_DDL; ALTER TABLE tokens2 OWNER TO le_alice;
       GRANT EXECUTE ON FUNCTION logout_everywhere.token_guard() TO le_alice"
expect_ok "enable by the owner of both tables (not a superuser) works" $DB \
    "SET ROLE le_alice; SELECT logout_everywhere.enable('users2', 'tokens2', subject_name => 'u2')"
expect_ok "disable by the owner works" $DB "SET ROLE le_alice; SELECT logout_everywhere.disable('users2')"

say "--- missing privileges"
q $DB "GRANT USAGE ON SCHEMA logout_everywhere TO le_app; GRANT SELECT, UPDATE ON users TO le_app; GRANT SELECT, INSERT ON tokens TO le_app"
expect_error "log_out_everywhere without EXECUTE" 42501 $DB "SET ROLE le_app; SELECT logout_everywhere.log_out_everywhere(1)"
expect_error "the generated action without EXECUTE" 42501 $DB "SET ROLE le_app; SELECT log_out_everywhere(u) FROM users u WHERE id = 1"
expect_error "revoke_subject without EXECUTE" 42501 $DB "SET ROLE le_app; SELECT logout_everywhere.revoke_subject('user?id=1')"
expect_error "token_valid without EXECUTE" 42501 $DB "SET ROLE le_app; SELECT logout_everywhere.token_valid('u1-user')"
expect_error "expunge_expired without EXECUTE" 42501 $DB "SET ROLE le_app; SELECT logout_everywhere.expunge_expired()"
q $DB "GRANT EXECUTE ON FUNCTION logout_everywhere.log_out_everywhere(\"any\", text[], text[], text, regclass),
                              logout_everywhere.revoke_subject(text, text[], text[], text, regclass),
                              logout_everywhere.expunge_expired(regclass, int),
                              logout_everywhere.token_valid(text, text, regclass), public.log_out_everywhere(users) TO le_app"
expect_error "log_out_everywhere without UPDATE on the token table" 42501 $DB "SET ROLE le_app; SELECT logout_everywhere.log_out_everywhere(1)"
expect_error "revoke_subject without UPDATE on the token table" 42501 $DB "SET ROLE le_app; SELECT logout_everywhere.revoke_subject('user?id=1')"
expect_error "the action without UPDATE on the token table" 42501 $DB "SET ROLE le_app; SELECT log_out_everywhere(u) FROM users u WHERE id = 1"
expect_error "a password change without UPDATE on the token table" 42501 $DB "SET ROLE le_app; UPDATE users SET hashed_password = 'x' WHERE id = 1"
expect_error "expunge_expired without DELETE on the token table" 42501 $DB "SET ROLE le_app; SELECT logout_everywhere.expunge_expired()"
check "nothing changed by the refused calls" "$(q $DB "$changed_sql")/$(q $DB "SELECT count(*) FROM users WHERE hashed_password <> 'h'")/$(q $DB "SELECT count(*) FROM tokens")" "/0/80"
expect_error "the settings table is not readable by the application role" 42501 $DB "SET ROLE le_app; SELECT * FROM logout_everywhere.settings"
expect_ok "a login (token guard) by the application role with INSERT only" $DB \
    "SET ROLE le_app; INSERT INTO tokens (jti, subject, expires_at, purpose) VALUES ('app-1', 'user?id=1', $EXP, 'user')"
q $DB "GRANT UPDATE ON tokens TO le_app"
check "with the contract's grants (no grant on settings) log_out_everywhere works (3 seeded + 1 new)" \
    "$(q $DB "SET ROLE le_app; SELECT logout_everywhere.log_out_everywhere(1)")" 4
check "  ... the password trigger works" \
    "$(q $DB "SET ROLE le_app; UPDATE users SET hashed_password = 'x' WHERE id = 2; SELECT count(*) FROM tokens WHERE subject = 'user?id=2' AND purpose = 'revocation'")" 3
check "  ... token_valid works" "$(q $DB "SET ROLE le_app; SELECT logout_everywhere.token_valid('u3-user')")" t
q $DB "SELECT seed_tokens(); UPDATE users SET hashed_password = 'h'"

say "--- row-level security on the token table"
qs $DB <<'SQL'
ALTER TABLE tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_sel ON tokens FOR SELECT TO le_app USING (purpose <> 'remember_me');
CREATE POLICY app_upd ON tokens FOR UPDATE TO le_app USING (purpose <> 'remember_me') WITH CHECK (true);
CREATE POLICY app_ins ON tokens FOR INSERT TO le_app WITH CHECK (true);
SQL
check "log_out_everywhere as le_app revokes and counts only the visible tokens (user, api_key)" \
    "$(q $DB "SET ROLE le_app; SELECT logout_everywhere.log_out_everywhere(12)")" 2
check "  ... the hidden remember_me token is not revoked" "$(q $DB "SELECT purpose FROM tokens WHERE jti = 'u12-remember_me'")" remember_me
check "the superuser (RLS bypassed) then revokes the hidden one" "$(q $DB "SELECT logout_everywhere.log_out_everywhere(12)")" 1
q $DB "SET ROLE le_app; UPDATE users SET hashed_password = 'x' WHERE id = 13"
check "the password trigger as le_app also leaves the hidden token" \
    "$(q $DB "SELECT string_agg(jti || ':' || purpose, ',' ORDER BY jti) FROM tokens WHERE subject = 'user?id=13' AND jti <> 'u13-old'")" \
    "u13-api_key:revocation,u13-remember_me:remember_me,u13-user:revocation"
q $DB "ALTER TABLE tokens DISABLE ROW LEVEL SECURITY; SELECT seed_tokens(); UPDATE users SET hashed_password = 'h'"

say "--- SECURITY DEFINER, PUBLIC, trust"
ext_funcs="(SELECT objid FROM pg_depend WHERE classid = 'pg_proc'::regclass AND refclassid = 'pg_extension'::regclass AND deptype = 'e'
            AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'logout_everywhere'))"
related="p.oid IN $ext_funcs OR p.pronamespace = 'logout_everywhere'::regnamespace OR p.probin LIKE '%logout_everywhere%'
         OR p.prosrc LIKE '%logout_everywhere%' OR (p.prosqlbody IS NOT NULL AND pg_get_functiondef(p.oid) LIKE '%logout_everywhere%')"
check "the extension has functions" "$(( $(q $DB "SELECT count(*) FROM pg_proc p WHERE $related") >= 12 ))" 1
check "no SECURITY DEFINER function (extension's or generated)" \
    "$(q $DB "SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), '') FROM pg_proc p WHERE p.prosecdef AND ($related)")" ""
check "no SECURITY DEFINER in the install scripts (outside comments)" \
    "$(cat "$ROOT"/sql/logout_everywhere--*.sql | sed 's/--.*//' | grep -ci 'security *definer' || true)" 0
check "no function of the extension, nor the generated action, is executable by PUBLIC" \
    "$(q $DB "SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), '') FROM pg_proc p
              WHERE ($related) AND EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                                           WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')")" ""
check "the settings table grants nothing to PUBLIC" \
    "$(q $DB "SELECT count(*) FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a WHERE c.oid = 'logout_everywhere.settings'::regclass AND a.grantee = 0")" 0
check "the extension is not trusted and needs a superuser" \
    "$(q $DB "SELECT string_agg(DISTINCT trusted::text || ',' || superuser::text, ';') FROM pg_available_extension_versions WHERE name = 'logout_everywhere'")" "false,true"
if grep -B5 -E '^trusted *= *false' "$ROOT/logout_everywhere.control" | grep '^#' >/dev/null; then
    ok "the control file says why trusted = false"
else
    bad "the control file sets trusted = false without a comment saying why"
fi
q postgres "CREATE DATABASE le_security_owned OWNER le_dbowner"
expect_error "a database owner who is not a superuser cannot create the extension" 42501 le_security_owned \
    "SET ROLE le_dbowner; CREATE EXTENSION logout_everywhere"
expect_ok "  ... while a trusted extension would be allowed (control)" le_security_owned \
    "SET ROLE le_dbowner; CREATE EXTENSION pgcrypto"

finish
