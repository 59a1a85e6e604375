#!/bin/bash
# Issue 5.3: a backend gets SIGKILL in the middle of a bulk password change.
# The backend is parked (on an advisory lock that this script holds) by a
# test trigger at a chosen point, then killed with SIGKILL:
#   a) while the UPDATE of the user table is half done (rows captured for the password trigger),
#   b) in the middle of the revocation UPDATE of the token table, after half
#      of the tokens have been rewritten as 'revocation' in the heap.
# Each time: nothing is revoked, no password changed, the server goes through
# crash recovery and accepts connections again, and the extension works.
set -euo pipefail
. "$(dirname "$0")/lib/robust.bash"

DB=le_kill
NUSERS=2000      # 5 live tokens each
q postgres "DROP DATABASE IF EXISTS $DB"
q postgres "CREATE DATABASE $DB"
qs $DB <<SQL
CREATE EXTENSION logout_everywhere;
CREATE TABLE users (id int PRIMARY KEY, hashed_password text NOT NULL);
CREATE TABLE tokens $ASH_TOKENS_DDL;
INSERT INTO users SELECT i, 'h' || i FROM generate_series(1, $NUSERS) i;
INSERT INTO tokens (jti, subject, expires_at, purpose)
  SELECT 'u' || i || '-' || k, 'user?id=' || i, now() AT TIME ZONE 'utc' + interval '1 day',
         (ARRAY['user','user','remember_me','magic_link','confirm'])[k]
  FROM generate_series(1, $NUSERS) i, generate_series(1, 5) k;
SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true);
CREATE SEQUENCE park_counter;
-- Parks the backend on advisory lock 4242 when the counter reaches the target.
CREATE FUNCTION park() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
  IF nextval('park_counter') = TG_ARGV[0]::bigint THEN
    PERFORM pg_advisory_lock(4242);
  END IF;
  RETURN NEW;
END \$\$;
SQL
LIVE_TOKENS=$((NUSERS * 5))

state_sql="SELECT count(*) FILTER (WHERE purpose = 'revocation') || '/' || count(*) FROM tokens"
pw_sql="SELECT count(*) FROM users WHERE hashed_password <> 'h' || id"
LOG=$(server_log)

kill_during() {
    local label=$1 trigger_sql=$2 target=$3
    say "--- SIGKILL $label"
    q $DB "DROP TRIGGER IF EXISTS park ON users; DROP TRIGGER IF EXISTS park ON tokens; ALTER SEQUENCE park_counter RESTART; $trigger_sql"

    # This script's session holds lock 4242 while the bulk change runs.
    mkfifo "$TMPD/holder.in"
    psql -X -q -d $DB <"$TMPD/holder.in" >/dev/null 2>&1 &
    local holder=$!
    BG_PIDS+=($holder)
    exec 3>"$TMPD/holder.in"
    echo "SELECT pg_advisory_lock(4242);" >&3
    wait_for "lock holder" $DB "SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted"

    psql -X -q -d $DB -c "UPDATE users SET hashed_password = 'new' || id" >"$TMPD/bulk.out" 2>&1 &
    local bulk=$!
    BG_PIDS+=($bulk)
    wait_for "bulk change parked at the chosen point" $DB \
        "SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'UPDATE users SET hashed_password%' AND wait_event_type = 'Lock'"
    local pid
    pid=$(q $DB "SELECT pid FROM pg_stat_activity WHERE query LIKE 'UPDATE users SET hashed_password%' AND wait_event_type = 'Lock'")
    check "$label: the bulk change (backend $pid) is parked half-way" \
        "$(q $DB "SELECT last_value FROM park_counter")" "$target"
    local kills_before ready_before
    kills_before=$(grep -c "terminated by signal 9" "$LOG" || true)
    ready_before=$(grep -c "ready to accept connections" "$LOG" || true)
    kill -KILL "$pid"
    wait "$bulk" && bad "$label: the bulk change reported success" || ok "$label: the bulk change's client saw its backend die"
    exec 3>&-
    wait "$holder" 2>/dev/null || true
    rm -f "$TMPD/holder.in"

    # Wait for the postmaster to have reinitialized, then for connections.
    local i
    for i in $(seq 1 600); do
        [ "$(grep -c "ready to accept connections" "$LOG" || true)" -gt "$ready_before" ] && break
        sleep 0.1
    done
    wait_server
    check "$label: the server log shows the SIGKILL" \
        "$(( $(grep -c "terminated by signal 9" "$LOG" || true) > kills_before ))" 1
    check "$label: the server reinitialized and accepts connections" \
        "$(( $(grep -c "ready to accept connections" "$LOG" || true) > ready_before ))" 1
    check "$label: nothing revoked" "$(q $DB "$state_sql")" "0/$LIVE_TOKENS"
    check "$label: no password changed" "$(q $DB "$pw_sql")" 0
    check "$label: no guard lock left behind" "$(q $DB "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" 0
}

# a) half-way through the user table: BEFORE UPDATE row trigger on users.
kill_during "in the user-table UPDATE" \
    "CREATE TRIGGER park BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION park('$((NUSERS / 2))')" $((NUSERS / 2))
# b) half-way through the revocation: BEFORE UPDATE row trigger on tokens,
#    firing for the rows that the extension rewrites as 'revocation'.
kill_during "in the revocation UPDATE of the token table" \
    "CREATE TRIGGER park BEFORE UPDATE ON tokens FOR EACH ROW WHEN (NEW.purpose = 'revocation') EXECUTE FUNCTION park('$((LIVE_TOKENS / 2))')" $((LIVE_TOKENS / 2))

say "--- after the crashes"
q $DB "DROP TRIGGER park ON tokens"
expect_ok "amcheck: the token table's indexes are sound" $DB \
    "CREATE EXTENSION IF NOT EXISTS amcheck; SELECT bt_index_check(indexrelid, true) FROM pg_index WHERE indrelid = 'tokens'::regclass"
q $DB "UPDATE users SET hashed_password = 'one' WHERE id = 7"
check "a single password change revokes that user's tokens only" "$(q $DB "$state_sql")" "5/$LIVE_TOKENS"
check "log_out_everywhere works" "$(q $DB "SELECT logout_everywhere.log_out_everywhere(8)")" 5
q $DB "UPDATE users SET hashed_password = 'new' || id"
check "the bulk change now revokes every token" "$(q $DB "$state_sql")" "$LIVE_TOKENS/$LIVE_TOKENS"
expect_ok "a new login is stored" $DB \
    "INSERT INTO tokens (jti, subject, expires_at, purpose) VALUES ('fresh', 'user?id=9', now() AT TIME ZONE 'utc' + interval '1 day', 'user')"
check "token_valid sees it" "$(q $DB "SELECT logout_everywhere.token_valid('fresh')")" t

finish
