# Helpers shared by the robustness/security script tests (t/*.sh).
# Sourced, not run: it lives below t/lib/ so that the test runner, which runs
# t/*.sh, does not pick it up.  Needs the environment that pg_virtualenv sets
# (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE).

FAILURES=0

# Temporary directory for this script, removed on exit; readable by the
# server's OS user (some tests hand files to the server).
TMPD=$(mktemp -d -t le_robust.XXXXXX)
chmod 755 "$TMPD"
declare -a BG_PIDS=()
robust_cleanup() {
    local p
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$TMPD"
}
trap robust_cleanup EXIT

say()  { printf '%s\n' "$*"; }
ok()   { printf 'ok     %s\n' "$*"; }
bad()  { printf 'FAILED %s\n' "$*"; FAILURES=$((FAILURES + 1)); }

# q DB SQL: run SQL in DB, unaligned, tuples only; stops at the first error.
q() {
    local db=$1; shift
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" -c "$*"
}

# qf DB FILE-or-heredoc: run a script (stdin) in DB, stops at the first error.
qs() {
    local db=$1; shift
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"
}

# check NAME ACTUAL EXPECTED
check() {
    if [ "$2" == "$3" ]; then ok "$1"; else bad "$1: got [$2], expected [$3]"; fi
}

# expect_error NAME SQLSTATE DB SQL: the SQL (run as one psql -c) must fail
# with that SQLSTATE.
expect_error() {
    local name=$1 state=$2 db=$3; shift 3
    local out
    if out=$(psql -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$db" \
                  -c '\set VERBOSITY verbose' -c "$*" 2>&1); then
        bad "$name: succeeded, expected SQLSTATE $state (output: $out)"
    elif grep -q "ERROR:  $state:" <<<"$out"; then
        ok "$name ($state)"
    else
        bad "$name: expected SQLSTATE $state, got: $(grep -m1 ERROR <<<"$out")"
    fi
}

# expect_ok NAME DB SQL: the SQL must succeed.
expect_ok() {
    local name=$1 db=$2; shift 2
    local out
    if out=$(q "$db" "$*" 2>&1); then ok "$name"; else bad "$name: $out"; fi
}

# The server's log file (pg_virtualenv -t keeps it in its temporary dir).
server_log() {
    pg_lsclusters -h "${PGVERSION:-15}" regress | awk '{print $7}'
}

# wait_for NAME DB SQL: poll until SQL returns 't' (at most ~30 s).
wait_for() {
    local name=$1 db=$2 sql=$3 i
    for i in $(seq 1 300); do
        if [ "$(q "$db" "$sql" 2>/dev/null)" == t ]; then return 0; fi
        sleep 0.1
    done
    bad "timed out waiting for: $name"
    return 1
}

# wait_server: poll until the server accepts queries again (at most ~60 s).
wait_server() {
    local i
    for i in $(seq 1 600); do
        if q postgres 'SELECT 1' >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    bad "server did not come back"
    return 1
}

# The token table exactly as AshAuthentication + AshPostgres create it.
ASH_TOKENS_DDL='(
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE '"'utc'"'),
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE '"'utc'"'))'

finish() {
    if [ "$FAILURES" -eq 0 ]; then
        say "PASS: $(basename "$0")"
        exit 0
    fi
    say "FAIL: $(basename "$0"): $FAILURES check(s) failed"
    exit 1
}
