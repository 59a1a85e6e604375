#!/bin/bash
# Issue 5.1: pg_dump / restore of a database that uses logout_everywhere with
# apply_on_password_change and a custom action_name / argument_name.  The dump
# is restored (plain SQL through psql, and custom format through pg_restore)
# into fresh databases with no error; there the settings, the password
# trigger, the token guard (concurrency) and the generated action all work.
set -euo pipefail
. "$(dirname "$0")/lib/robust.bash"

SRC=le_dump_src
for db in $SRC le_dump_plain le_dump_custom; do q postgres "DROP DATABASE IF EXISTS $db"; done
q postgres "CREATE DATABASE $SRC"

qs $SRC <<SQL
CREATE EXTENSION logout_everywhere;
CREATE SCHEMA app;
CREATE TABLE app.accounts (id bigint PRIMARY KEY, email text NOT NULL, pw_hash text);
CREATE TABLE app.tokens $ASH_TOKENS_DDL;
INSERT INTO app.accounts SELECT i, 'u' || i || '@example.com', 'hash' || i FROM generate_series(1, 5) i;
SELECT logout_everywhere.enable('app.accounts', 'app.tokens',
       id_column => 'id', password_column => 'pw_hash', subject_name => 'account',
       exclude_purposes => '{revocation,api_key}',
       apply_on_password_change => true,
       action_name => 'sign_out_all', argument_name => 'acct');
-- 3 live tokens per account (user, remember_me, api_key) + 1 expired
INSERT INTO app.tokens (jti, subject, expires_at, purpose)
SELECT 'a' || i || '-' || p, 'account?id=' || i,
       (now() AT TIME ZONE 'utc') + interval '1 day', p
FROM generate_series(1, 5) i, unnest('{user,remember_me,api_key}'::text[]) p;
INSERT INTO app.tokens (jti, subject, expires_at, purpose)
SELECT 'a' || i || '-old', 'account?id=' || i, (now() AT TIME ZONE 'utc') - interval '1 day', 'user'
FROM generate_series(1, 5) i;
SQL
say "source database set up"

settings_sql="SELECT row(s.*)::text FROM logout_everywhere.settings s ORDER BY 1"
triggers_sql="SELECT string_agg(tgrelid::regclass || ':' || tgname || ':' || tgfoid::regproc, ',' ORDER BY tgname)
              FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN ('app.accounts'::regclass, 'app.tokens'::regclass)"
action_sql="SELECT p.oid::regprocedure || ' ' || coalesce(array_to_string(p.proargnames, ','), '') || ' ' || p.prorettype::regtype
            FROM pg_proc p WHERE p.pronamespace = 'app'::regnamespace AND p.proname = 'sign_out_all'"
src_settings=$(q $SRC "$settings_sql")
src_triggers=$(q $SRC "$triggers_sql")
src_action=$(q $SRC "$action_sql")
say "settings: $src_settings"
say "triggers: $src_triggers"
say "action:   $src_action"
[ -n "$src_settings" ] || bad "no settings row after enable"
[ -n "$src_action" ] || bad "no action app.sign_out_all after enable"
tokens_sql="SELECT string_agg(jti || ':' || purpose, ',' ORDER BY jti) FROM app.tokens"
src_tokens=$(q $SRC "$tokens_sql")

pg_dump -Fp -f "$TMPD/dump.sql" $SRC
pg_dump -Fc -f "$TMPD/dump.custom" $SRC
say "dumped (plain and custom format)"

q postgres "CREATE DATABASE le_dump_plain TEMPLATE template0"
q postgres "CREATE DATABASE le_dump_custom TEMPLATE template0"
if psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d le_dump_plain -f "$TMPD/dump.sql" \
        >"$TMPD/plain.out" 2>"$TMPD/plain.err" && ! grep -q -E 'ERROR|WARNING' "$TMPD/plain.err"; then
    ok "plain dump restores with no error or warning"
else
    bad "plain restore: $(cat "$TMPD/plain.err")"
fi
if pg_restore --exit-on-error --single-transaction -d le_dump_custom "$TMPD/dump.custom" \
        2>"$TMPD/custom.err" && ! grep -q -E 'ERROR|WARNING' "$TMPD/custom.err"; then
    ok "custom dump restores with pg_restore with no error or warning"
else
    bad "custom restore: $(cat "$TMPD/custom.err")"
fi

for DB in le_dump_plain le_dump_custom; do
    say "--- checking $DB"
    check "$DB: settings restored" "$(q $DB "$settings_sql")" "$src_settings"
    check "$DB: triggers restored" "$(q $DB "$triggers_sql")" "$src_triggers"
    check "$DB: action restored" "$(q $DB "$action_sql")" "$src_action"
    check "$DB: tokens restored" "$(q $DB "$tokens_sql")" "$src_tokens"
    check "$DB: action still depends on the extension (DROP EXTENSION refused)" \
        "$(q $DB "SELECT count(*) > 0 FROM pg_depend d JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                  WHERE p.proname = 'sign_out_all' AND d.refclassid = 'pg_proc'::regclass
                    AND d.refobjid IN (SELECT objid FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
                                         AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'logout_everywhere'))")" t

    # Password trigger: changing account 1's password revokes its user and
    # remember_me tokens (api_key is excluded; the expired one is left alone).
    q $DB "UPDATE app.accounts SET pw_hash = 'new' WHERE id = 1"
    check "$DB: password change revokes the configured purposes of that account only" \
        "$(q $DB "SELECT string_agg(jti, ',' ORDER BY jti) FROM app.tokens WHERE purpose = 'revocation'")" \
        "a1-remember_me,a1-user"
    # Same value written again: nothing more.
    q $DB "UPDATE app.accounts SET pw_hash = pw_hash, email = email || 'x' WHERE id = 2"
    check "$DB: rewriting the same password revokes nothing" \
        "$(q $DB "SELECT count(*) FROM app.tokens WHERE purpose = 'revocation'")" 2
    # current_jti is spared.
    q $DB "BEGIN; SET LOCAL logout_everywhere.current_jti = 'a2-user'; UPDATE app.accounts SET pw_hash = 'n2' WHERE id = 2; COMMIT"
    check "$DB: password change spares logout_everywhere.current_jti" \
        "$(q $DB "SELECT string_agg(jti || ':' || purpose, ',' ORDER BY jti) FROM app.tokens WHERE subject = 'account?id=2' AND expires_at > now() AT TIME ZONE 'utc'")" \
        "a2-api_key:api_key,a2-remember_me:revocation,a2-user:user"

    # The generated action with its custom name and argument name.
    check "$DB: action app.sign_out_all(acct) revokes account 3" \
        "$(q $DB "SELECT app.sign_out_all(a) FROM app.accounts a WHERE email = 'u3@example.com'")" 2
    check "$DB: action called with the named argument" \
        "$(q $DB "SELECT app.sign_out_all(acct => a) FROM app.accounts a WHERE id = 4")" 2
    check "$DB: log_out_everywhere uses the restored settings" \
        "$(q $DB "SELECT logout_everywhere.log_out_everywhere(5)")" 2
    check "$DB: subject_for uses the restored subject_name" \
        "$(q $DB "SELECT logout_everywhere.subject_for(42)")" "account?id=42"
    check "$DB: token_valid / is_revoked work" \
        "$(q $DB "SELECT logout_everywhere.token_valid('a5-api_key', 'api_key')::text || ',' || logout_everywhere.is_revoked('a5-user')::text")" "true,true"

    # Token guard (concurrency mechanism): a login of account 5 that is still
    # open makes a log-out of account 5 wait (here: hit lock_timeout), while
    # a log-out of another account does not wait.
    psql -X -q -d $DB -c "INSERT INTO app.tokens (jti, subject, expires_at, purpose)
                          VALUES ('a5-open', 'account?id=5', now() AT TIME ZONE 'utc' + interval '1 day', 'user');
                          SELECT pg_sleep(300)" >/dev/null 2>&1 &
    BG_PIDS+=($!)
    bgpid=$!
    if wait_for "open login holds its transaction" $DB \
        "SELECT count(*) = 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'"; then
        check "$DB: the open login holds a guard lock" \
            "$(q $DB "SELECT count(*) > 0 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.wait_event = 'PgSleep' AND l.locktype = 'advisory' AND l.granted")" t
        expect_error "$DB: log-out of account 5 waits for the open login" 55P03 $DB \
            "SET lock_timeout = '2s'; SELECT logout_everywhere.log_out_everywhere(5)"
        check "$DB: log-out of account 4 does not wait" \
            "$(q $DB "SET lock_timeout = '2s'; SELECT logout_everywhere.log_out_everywhere(4)")" 0
        q $DB "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'" >/dev/null
    fi
    wait "$bgpid" 2>/dev/null || true
    check "$DB: the cancelled login left nothing" "$(q $DB "SELECT count(*) FROM app.tokens WHERE jti = 'a5-open'")" 0

    # disable / enable still work on the restored database.
    expect_ok "$DB: disable works" $DB "SELECT logout_everywhere.disable('app.accounts')"
    check "$DB: disable removed the action and the password triggers" \
        "$(q $DB "SELECT count(*) FROM pg_proc WHERE proname = 'sign_out_all'")/$(q $DB "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'app.accounts'::regclass AND NOT tgisinternal")" "0/0"
    check "$DB: disable of the last user table removed the token guard" \
        "$(q $DB "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'app.tokens'::regclass AND NOT tgisinternal")" 0
    expect_ok "$DB: enable again works" $DB \
        "SELECT logout_everywhere.enable('app.accounts', 'app.tokens', password_column => 'pw_hash', subject_name => 'account', apply_on_password_change => true)"
done

finish
