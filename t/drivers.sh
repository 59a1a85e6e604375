#!/usr/bin/env bash
#
# t/drivers.sh — the driver matrix (issue 14): real clients, as applications
# write them, calling every public function with bound parameters.
#
#   Node    pg (node-postgres), postgres (postgres.js)   examples/drivers/node
#   Python  psycopg 3 (server-side binding and ClientCursor), psycopg2
#                                                          examples/drivers/python
#   Ruby    pg (ruby-pg)                                  examples/drivers/ruby
#   Perl    DBD::Pg                                       examples/drivers/perl
#   Java    pgjdbc                                        examples/drivers/java
#
# Two databases, each with the AshPostgres token table:
#   le_drivers_uuid    users (uuid id), the only enabled user table: every call
#                      is written as a one-resource application writes it,
#                      without user_table (these are the README's snippets);
#   le_drivers_bigint  users (bigint id) and admins (uuid id), both enabled and
#                      sharing the token table, as an application with two Ash
#                      resources: a log-out must name its table
#                      (user_table => $n::regclass), and one that does not is
#                      the 55000 case. A second database rather than a second
#                      table beside the uuid one, so that the uuid calls stay
#                      those of the common single-table application.
# The application role "app" gets exactly the GRANTs of the README's
# Privileges section (read from the README, run in both databases).
#
# Each client exits non-zero on the first wrong value, type or SQLSTATE. A
# missing driver is a failure, never a skip (scripts/test installs them: see
# le_deps in scripts/lib.sh). Finally every snippet of the README section
# "From your application" must appear verbatim in the file it names.
set -uo pipefail
. "$(dirname "$0")/lib/robust.bash"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EX=$ROOT/examples/drivers
PY=/usr/bin/python3          # Debian's python3, which has python3-psycopg(2)
JAR=/usr/share/java/postgresql.jar

# ------------------------------------------------------------------ databases
DRIVERS="node-pg postgres-js psycopg psycopg-client psycopg2 ruby-pg dbd-pg pgjdbc psql"
emails=$(for d in $DRIVERS; do printf "('%s@example.com'), " "$d"; done)
emails=${emails%, }

# The GRANT block of the README's Privileges section: the first ```sql block
# after "## Privileges".
GRANTS=$(awk '/^## Privileges/ {p = 1} p && /^```sql/ {b = 1; next} b && /^```/ {exit} b' "$ROOT/README.md")
case "$GRANTS" in *"GRANT USAGE ON SCHEMA logout_everywhere TO app"*) ;;
    *) bad "README: no GRANT ... TO app block in the Privileges section"; finish ;; esac

APP_PASSWORD=app-secret-$$
setup() {
    export PGOPTIONS="-c client_min_messages=warning"
    q postgres "DROP DATABASE IF EXISTS le_drivers_uuid" &&
    q postgres "DROP DATABASE IF EXISTS le_drivers_bigint" &&
    q postgres "DROP ROLE IF EXISTS app" &&
    q postgres "CREATE ROLE app LOGIN PASSWORD '$APP_PASSWORD'" &&
    q postgres "CREATE DATABASE le_drivers_uuid" &&
    q postgres "CREATE DATABASE le_drivers_bigint" &&
    qs le_drivers_uuid >/dev/null <<SQL &&
SET client_min_messages = warning;
CREATE EXTENSION logout_everywhere;
CREATE TABLE tokens $ASH_TOKENS_DDL;
CREATE TABLE users (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email           text NOT NULL UNIQUE,
  hashed_password text NOT NULL);
INSERT INTO users (email, hashed_password) SELECT e, '\$2b\$12\$old' FROM (VALUES $emails) v(e);
SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true);
$GRANTS
SQL
    qs le_drivers_bigint >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION logout_everywhere;
CREATE TABLE tokens $ASH_TOKENS_DDL;
CREATE TABLE users (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email           text NOT NULL UNIQUE,
  hashed_password text NOT NULL);
CREATE TABLE admins (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  email           text NOT NULL UNIQUE);
INSERT INTO users (email, hashed_password) SELECT e, '\$2b\$12\$old' FROM (VALUES $emails) v(e);
SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true);
SELECT logout_everywhere.enable('admins', 'tokens', subject_name => 'admin');
$GRANTS
SQL
}
if setup; then ok "setup: two databases, role app with the README's grants"; else bad "setup"; finish; fi

# The clients connect as the application role, with these.
export PGUSER=app PGPASSWORD=$APP_PASSWORD
export LE_UUID_DB=le_drivers_uuid LE_BIGINT_DB=le_drivers_bigint
unset PGDATABASE PGOPTIONS

# run NAME COMMAND...: one client; its output is shown, its status counted.
run() {
    local name=$1 rc; shift
    say "# $name: $*"
    "$@" 2>&1 | sed "s/^/  [$name] /"
    rc=${PIPESTATUS[0]}
    if [ "$rc" -eq 0 ]; then ok "$name"; else bad "$name (exit $rc)"; fi
}

# need NAME COMMAND...: a driver that is not there is a failure.
need() {
    local name=$1; shift
    if "$@" >/dev/null 2>&1; then return 0; fi
    bad "$name: driver missing ($*) — scripts/test installs it (le_deps)"
    return 1
}

# ---------------------------------------------------------------- PREPARE
# psql as the application role: PREPARE sends $1 untyped, as the drivers do.
uid=$(q le_drivers_uuid "SELECT id FROM users WHERE email = 'psql@example.com'")
check "PREPARE ... log_out_everywhere(\$1); EXECUTE" "$(q le_drivers_uuid \
    "PREPARE p AS SELECT logout_everywhere.log_out_everywhere(\$1); EXECUTE p('$uid')")" 0
check "PREPARE ... subject_for(\$1); EXECUTE" "$(q le_drivers_uuid \
    "PREPARE p AS SELECT logout_everywhere.subject_for(\$1); EXECUTE p('$uid')")" "user?id=$uid"
expect_error "PREPARE/EXECUTE: not a uuid" 22P02 le_drivers_uuid \
    "PREPARE p AS SELECT logout_everywhere.log_out_everywhere(\$1); EXECUTE p('42')"
expect_error "PREPARE/EXECUTE: no such user" P0002 le_drivers_uuid \
    "PREPARE p AS SELECT logout_everywhere.log_out_everywhere(\$1); EXECUTE p(gen_random_uuid()::text)"
expect_error "PREPARE/EXECUTE: NULL" 22004 le_drivers_uuid \
    "PREPARE p AS SELECT logout_everywhere.log_out_everywhere(\$1); EXECUTE p(NULL)"
expect_error "PREPARE/EXECUTE: two tables, no user_table" 55000 le_drivers_bigint \
    "PREPARE p AS SELECT logout_everywhere.log_out_everywhere(\$1); EXECUTE p('1')"

# --------------------------------------------------------------------- Node
if need node command -v node && need npm command -v npm; then
    say "# node $(node --version), npm $(npm --version 2>/dev/null): npm ci in examples/drivers/node"
    if (cd "$EX/node" && npm ci --no-audit --no-fund --loglevel=error); then
        run node-pg     node "$EX/node/pg.js"
        run postgres-js node "$EX/node/postgres.js"
    else
        bad "npm ci (examples/drivers/node)"
    fi
fi

# ------------------------------------------------------------------- Python
if need psycopg "$PY" -c 'import psycopg'; then
    run psycopg        "$PY" "$EX/python/psycopg3_app.py"
    run psycopg-client "$PY" "$EX/python/psycopg3_app.py" --client-side
fi
if need psycopg2 "$PY" -c 'import psycopg2'; then
    run psycopg2 "$PY" "$EX/python/psycopg2_app.py"
fi

# --------------------------------------------------------------------- Ruby
if need ruby-pg ruby -e 'require "pg"'; then
    run ruby-pg ruby "$EX/ruby/app.rb"
fi

# --------------------------------------------------------------------- Perl
if need DBD::Pg perl -MDBD::Pg -e 1; then
    run dbd-pg perl "$EX/perl/app.pl"
fi

# --------------------------------------------------------------------- Java
if need pgjdbc test -r "$JAR" && need javac command -v javac; then
    mkdir -p "$TMPD/java"
    if javac -d "$TMPD/java" -cp "$JAR" "$EX/java/App.java"; then
        run pgjdbc java -cp "$TMPD/java:$JAR" App
    else
        bad "javac examples/drivers/java/App.java"
    fi
fi

# ------------------------------------------ README snippets cannot drift
# In the section "From your application", every fenced block is preceded by
# <!-- from examples/drivers/FILE --> and must appear in FILE, verbatim.
if out=$("$PY" - "$ROOT" <<'PYEOF'
import re, sys, pathlib
root = pathlib.Path(sys.argv[1])
readme = (root / "README.md").read_text()
m = re.search(r"^## From your application\n(.*?)^## ", readme, re.S | re.M)
if not m:
    sys.exit("README: no section 'From your application'")
blocks = re.findall(r"<!-- from (\S+) -->\n```[a-z]*\n(.*?)```\n", m.group(1), re.S)
fences = len(re.findall(r"^```[a-z]+\n", m.group(1), re.M))
if not blocks:
    sys.exit("README: no <!-- from FILE --> snippet in 'From your application'")
if fences != len(blocks):
    sys.exit(f"README: {fences} code blocks in 'From your application', {len(blocks)} with a <!-- from FILE --> marker")
bad = 0
for path, code in blocks:
    f = root / path
    if not f.is_file() or code not in f.read_text():
        print(f"snippet not found verbatim in {path}:\n{code}")
        bad += 1
    else:
        print(f"snippet from {path}: {len(code.splitlines())} lines, verbatim")
sys.exit(1 if bad else 0)
PYEOF
); then
    ok "README snippets are verbatim copies of the matrix's code"; say "$out"
else
    bad "README snippets: $out"
fi

finish
