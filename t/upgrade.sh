#!/usr/bin/env bash
#
# t/upgrade.sh — the upgrade path: CREATE EXTENSION logout_everywhere VERSION
# '<v>' then ALTER EXTENSION logout_everywhere UPDATE, for every installed
# version v (today only 1.0, so the update is a no-op; once a 1.1 exists
# with its sql/logout_everywhere--1.0--1.1.sql, the same script tests the
# real upgrade). For each v it checks that
#
#   - 1.0, the first release, is still installable (databases out there are
#     at 1.0; its install script must ship forever);
#   - PostgreSQL finds an update path from v to the default version;
#   - after the update the extension is at the default version and its
#     objects (functions with their arguments, results, volatility, C symbol,
#     privileges and comments; the settings table's columns, indexes and
#     triggers; the schema's privileges; the config-dump registration) are
#     exactly those of a fresh CREATE EXTENSION;
#   - a user table enabled under v keeps working: its settings row is
#     unchanged, the password trigger (sparing current_jti) and the action
#     log_out_everywhere(user) revoke as before.
set -euo pipefail

ext=logout_everywhere
tmp=$(mktemp -d "${TMPDIR:-/tmp}/le-upgrade.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
q() { local db=$1; shift; psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
val() { local db=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

default=$(val postgres -c "SELECT default_version FROM pg_available_extensions WHERE name = '$ext'")
[ -n "$default" ] || fail "$ext is not installed"
mapfile -t versions < <(val postgres -c "SELECT version FROM pg_available_extension_versions WHERE name = '$ext' ORDER BY string_to_array(version, '.')::int[]")
echo "# default version $default; installed versions: ${versions[*]}"
printf '%s\n' "${versions[@]}" | grep -x '1.0' >/dev/null || fail "version 1.0 is no longer installable (keep sql/$ext--1.0.sql)"

# Everything about the extension's own objects that an upgrade script could
# get wrong, one line per object, in a stable order.
fingerprint() { # db
    val "$1" <<'SQL'
WITH e AS (SELECT oid, extrelocatable, extnamespace, extconfig, extcondition
             FROM pg_extension WHERE extname = 'logout_everywhere'),
     m AS (SELECT d.classid, d.objid, d.objsubid
             FROM pg_depend d, e
            WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND d.deptype = 'e')
SELECT pg_describe_object(m.classid, m.objid, m.objsubid)
    || coalesce(' | ' || (
         SELECT concat_ws(' | ', pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
                          p.prokind, p.provolatile, p.proisstrict, p.prosecdef, p.proleakproof,
                          p.proparallel, p.probin, p.prosrc, p.proconfig::text, p.proacl::text)
           FROM pg_proc p WHERE m.classid = 'pg_proc'::regclass AND p.oid = m.objid), '')
    || coalesce(' | ' || (
         SELECT concat_ws(' | ', c.relkind, c.relacl::text, c.relrowsecurity,
                  (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                     || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                                     || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''),
                                     ', ' ORDER BY a.attnum)
                     FROM pg_attribute a
                     LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                  (SELECT string_agg(pg_get_indexdef(i.indexrelid), ', ' ORDER BY pg_get_indexdef(i.indexrelid))
                     FROM pg_index i WHERE i.indrelid = c.oid),
                  (SELECT string_agg(pg_get_triggerdef(t.oid), ', ' ORDER BY pg_get_triggerdef(t.oid))
                     FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal))
           FROM pg_class c WHERE m.classid = 'pg_class'::regclass AND c.oid = m.objid), '')
    || coalesce(' | comment: ' || obj_description(m.objid, (SELECT relname FROM pg_class WHERE oid = m.classid)), '')
  FROM m
UNION ALL
SELECT concat_ws(' | ', 'extension', e.extrelocatable, n.nspname, n.nspacl::text,
                 e.extconfig::regclass[]::text, e.extcondition::text)
  FROM e JOIN pg_namespace n ON n.oid = e.extnamespace
ORDER BY 1;
SQL
}

# A user table enabled with the password trigger, and tokens of two users.
setup_app() { # db
    q "$1" <<'SQL'
SET client_min_messages = warning;
CREATE SCHEMA app;
CREATE TABLE app.users (id bigint PRIMARY KEY, email text NOT NULL, hashed_password text NOT NULL);
CREATE TABLE app.tokens (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));
\o /dev/null
SELECT logout_everywhere.enable('app.users', 'app.tokens', apply_on_password_change => true);
\o
INSERT INTO app.users VALUES (1, 'a@example.com', 'h1'), (2, 'b@example.com', 'h2');
INSERT INTO app.tokens (jti, subject, expires_at, purpose) VALUES
  ('t-laptop', 'user?id=1', now() AT TIME ZONE 'utc' + interval '7 days', 'user'),
  ('t-phone',  'user?id=1', now() AT TIME ZONE 'utc' + interval '7 days', 'user'),
  ('t-other',  'user?id=2', now() AT TIME ZONE 'utc' + interval '7 days', 'user');
SQL
}

q postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS le_fresh" -c "CREATE DATABASE le_fresh"
q le_fresh -c "CREATE EXTENSION $ext"
setup_app le_fresh
fingerprint le_fresh >"$tmp/fresh"
[ "$(val le_fresh -c "SELECT extversion FROM pg_extension WHERE extname = '$ext'")" = "$default" ] \
    || fail "CREATE EXTENSION did not install the default version $default"
echo "# a fresh CREATE EXTENSION ($default): $(wc -l <"$tmp/fresh") objects"

for v in "${versions[@]}"; do
    db=le_from_${v//[^0-9a-zA-Z]/_}
    echo "# $v -> $default (database $db)"
    path=$(val postgres -c "SELECT path FROM pg_extension_update_paths('$ext') WHERE source = '$v' AND target = '$default'")
    if [ "$v" != "$default" ]; then
        [ -n "$path" ] || fail "no update path from $v to $default (missing sql/$ext--$v--....sql?)"
        echo "update path: $path"
    fi

    q postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    q "$db" -c "CREATE EXTENSION $ext VERSION '$v'"
    [ "$(val "$db" -c "SELECT extversion FROM pg_extension WHERE extname = '$ext'")" = "$v" ] \
        || fail "CREATE EXTENSION ... VERSION '$v' did not install $v"
    setup_app "$db"
    settings_before=$(val "$db" -c "SELECT row_to_json(s) FROM logout_everywhere.settings s")

    psql -X -v ON_ERROR_STOP=1 -d "$db" -c "ALTER EXTENSION $ext UPDATE" >"$tmp/update.out" 2>&1 \
        || { cat "$tmp/update.out"; fail "ALTER EXTENSION $ext UPDATE failed from $v"; }
    cat "$tmp/update.out"
    if [ "$v" = "$default" ]; then
        grep -q "version \"$v\" of extension \"$ext\" is already installed" "$tmp/update.out" \
            || fail "updating $v, the default version, was not a no-op"
    fi
    got=$(val "$db" -c "SELECT extversion FROM pg_extension WHERE extname = '$ext'")
    [ "$got" = "$default" ] || fail "after ALTER EXTENSION UPDATE from $v the version is $got, not $default"

    fingerprint "$db" >"$tmp/upgraded"
    if ! diff -u "$tmp/fresh" "$tmp/upgraded" >"$tmp/diff"; then
        cat "$tmp/diff"
        fail "$v updated to $default differs from a fresh install of $default (- fresh, + updated)"
    fi
    echo "ok: $v updated to $default has the same $(wc -l <"$tmp/upgraded") objects as a fresh install"

    settings_after=$(val "$db" -c "SELECT row_to_json(s) FROM logout_everywhere.settings s")
    [ "$settings_after" = "$settings_before" ] || fail "the settings changed: $settings_before -> $settings_after"

    # The password trigger, sparing the current device, then the action.
    q "$db" -c "BEGIN" -c "SET LOCAL logout_everywhere.current_jti = 't-laptop'" \
            -c "UPDATE app.users SET hashed_password = 'h1-new' WHERE id = 1" -c "COMMIT"
    got=$(val "$db" -c "SELECT string_agg(jti || '=' || purpose, ',' ORDER BY jti) FROM app.tokens")
    [ "$got" = "t-laptop=user,t-other=user,t-phone=revocation" ] \
        || fail "the password trigger after the update: tokens are $got"
    got=$(val "$db" -c "SELECT app.log_out_everywhere(u) FROM app.users u WHERE id = 1")
    [ "$got" = 1 ] || fail "the action log_out_everywhere(user) after the update revoked $got tokens, not 1"
    got=$(val "$db" -c "SELECT logout_everywhere.token_valid('t-laptop'), logout_everywhere.is_revoked('t-laptop'), logout_everywhere.token_valid('t-other')")
    [ "$got" = "f|t|t" ] || fail "token checks after the update: $got"
    echo "ok: the table enabled under $v keeps working after the update"
done

echo "ok: every installed version updates cleanly to $default"
