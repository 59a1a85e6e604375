#!/usr/bin/env bash
# Load test of the race-free log-out (issue 3, CONTRACT.md "Concurrency").
#
# pgbench runs several clients that mix, all on the same user at any moment
# so that they collide all the time:
#   - logins: an AshAuthentication token upsert, the transaction staying open
#     a few milliseconds after it (the window in which a plain UPDATE-based
#     log-out misses the token);
#   - token checks (logout_everywhere.token_valid);
#   - log-outs (log_out_everywhere), each recording its start time in the
#     same transaction before it runs;
#   - password changes (the password trigger), recording their start time
#     the same way.
# A token's insert time is stamped by a test-only BEFORE trigger that fires
# after logout_everywhere_token_guard (triggers fire in name order), so it
# is taken once the guard has let the write through; a column default is
# computed before the guard runs, and so before any wait.
#
# The invariant, checked in SQL at the end: no live token (purpose other
# than 'revocation', not expired) was inserted before the start of a
# completed log-out or password change of its user.
#
# The same run with the mechanism switched off (the trigger
# logout_everywhere_token_guard dropped) must break the invariant, or this
# test proves nothing: then it fails too.  The guarded run must also have
# met the race (log-outs that started while a login of their user was
# still open), or it proves nothing either.
#
# Runs against the cluster that pg_virtualenv provides (PGHOST, PGPORT, ...).
set -euo pipefail

CLIENTS=8
GUARDED_SECONDS=8
UNGUARDED_SECONDS=5
# Every client works on the user of the current slice of time (user ids
# 0 .. USERS-1 in turn): all clients log that one user in and out and
# change their password at once, so log-outs meet open logins all the time.
# Each user has one slice of a run, so a token that the last log-out of its
# user missed stays live to the end instead of being revoked by a later one.
SLICE_MS=50
USERS=4000

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT

psql_db() {
	local db=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}

# A database with the extension, an Ash token table, a users table, the
# extension enabled with the password trigger, and the test's bookkeeping.
make_database() {
	local db=$1
	PGOPTIONS=--client-min-messages=warning psql_db postgres \
		-c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
	psql_db "$db" <<SQL
SET client_min_messages = warning;
ALTER DATABASE $db SET synchronous_commit = off;
CREATE EXTENSION logout_everywhere;

CREATE TABLE users (
  id              integer PRIMARY KEY,
  email           text NOT NULL,
  hashed_password text NOT NULL);
INSERT INTO users SELECT g, 'u' || g || '@example.com', md5(g::text)
  FROM generate_series(0, $USERS - 1) g;

CREATE TABLE tokens (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));

SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true) \\g /dev/null

-- Test only: stamp the insert time once the guard has run.
CREATE FUNCTION stamp_insert_time() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
  NEW.created_at := clock_timestamp() AT TIME ZONE 'utc';
  RETURN NEW;
END \$\$;
CREATE TRIGGER logout_everywhere_token_guard_zz_stamp
  BEFORE INSERT ON tokens
  FOR EACH ROW EXECUTE FUNCTION stamp_insert_time();

-- Start of every completed log-out and password change.
CREATE TABLE logouts (
  user_id    integer NOT NULL,
  kind       text NOT NULL,
  started_at timestamptz NOT NULL);

-- When each completed login was about to commit (a little before it did).
CREATE TABLE login_ends (
  jti      text PRIMARY KEY,
  ended_at timestamptz NOT NULL);
SQL
}

show_triggers() {
	echo "  triggers on tokens, in firing order: $(psql_db "$1" -At -c "
		SELECT string_agg(tgname, ', ' ORDER BY tgname) FROM pg_trigger
		WHERE tgrelid = 'tokens'::regclass AND NOT tgisinternal")"
}

SLICE="SELECT (floor(extract(epoch FROM clock_timestamp()) * 1000 / $SLICE_MS))::bigint % $USERS AS uid"

cat >"$workdir/login.sql" <<SQL
$SLICE, gen_random_uuid() AS jti \\gset
BEGIN;
INSERT INTO tokens (jti, subject, expires_at, purpose)
  VALUES (':jti', 'user?id=' || :uid, (now() AT TIME ZONE 'utc') + interval '7 days', 'user')
  ON CONFLICT (jti) DO UPDATE SET subject = excluded.subject, expires_at = excluded.expires_at,
    purpose = excluded.purpose, updated_at = excluded.updated_at;
SELECT pg_sleep(0.002);
INSERT INTO login_ends VALUES (':jti', clock_timestamp());
COMMIT;
SQL

cat >"$workdir/check.sql" <<SQL
$SLICE \\gset
SELECT logout_everywhere.token_valid(jti, purpose)
  FROM tokens WHERE subject = 'user?id=' || :uid LIMIT 1;
SQL

cat >"$workdir/logout.sql" <<SQL
$SLICE \\gset
BEGIN;
INSERT INTO logouts VALUES (:uid, 'log-out', clock_timestamp());
SELECT logout_everywhere.log_out_everywhere(:uid);
COMMIT;
SQL

cat >"$workdir/password.sql" <<SQL
$SLICE \\gset
BEGIN;
INSERT INTO logouts VALUES (:uid, 'password', clock_timestamp());
UPDATE users SET hashed_password = md5(random()::text) WHERE id = :uid;
COMMIT;
SQL

# Run the mix on one database; fail if any client hit an error.
run_load() {
	local db=$1 seconds=$2
	if ! pgbench -n -d "$db" -c "$CLIENTS" -j 2 -T "$seconds" \
		-f "$workdir/login.sql@50" -f "$workdir/check.sql@20" \
		-f "$workdir/logout.sql@15" -f "$workdir/password.sql@15" \
		>"$workdir/pgbench.out" 2>&1; then
		cat "$workdir/pgbench.out"
		echo "FAIL: pgbench reported errors"
		exit 1
	fi
	if grep -qE '^number of failed transactions: [1-9]' "$workdir/pgbench.out"; then
		cat "$workdir/pgbench.out"
		echo "FAIL: transactions failed"
		exit 1
	fi
	psql_db "$db" -At -F ' ' <<'SQL'
SELECT '  logins:', count(*), ' revoked:', count(*) FILTER (WHERE purpose = 'revocation')
  FROM tokens;
SELECT '  log-outs:', count(*) FILTER (WHERE kind = 'log-out'),
       ' password changes:', count(*) FILTER (WHERE kind = 'password')
  FROM logouts;
SQL
}

# Pairs (token, log-out or password change of its user) where the token was
# inserted before the log-out started.
BEFORE_LOGOUT="
  FROM tokens t
  JOIN logouts l ON t.subject = 'user?id=' || l.user_id
 WHERE t.created_at < l.started_at AT TIME ZONE 'utc'"

# Logins still open when a log-out of their user started: the race.
count_races() {
	psql_db "$1" -At -c "
		SELECT count(DISTINCT t.jti) $BEFORE_LOGOUT
		   AND l.started_at < (SELECT ended_at FROM login_ends e WHERE e.jti = t.jti)"
}

# The invariant's violations: live tokens inserted before the start of a
# completed log-out or password change of their user.
count_violations() {
	psql_db "$1" -At -c "
		SELECT count(DISTINCT t.jti) $BEFORE_LOGOUT
		   AND t.purpose <> 'revocation'
		   AND t.expires_at > now() AT TIME ZONE 'utc'"
}

status=0

echo "guarded: $CLIENTS clients, one user per $SLICE_MS ms, ${GUARDED_SECONDS}s"
make_database race_guarded
show_triggers race_guarded
run_load race_guarded "$GUARDED_SECONDS"
races=$(count_races race_guarded)
violations=$(count_violations race_guarded)
echo "  logins still open when a log-out of their user started: $races"
if [ "$races" -eq 0 ]; then
	echo "FAIL: no log-out met an open login: this load does not exercise the race"
	status=1
fi
if [ "$violations" -eq 0 ]; then
	echo "ok: no live token was inserted before a completed log-out of its user"
else
	echo "FAIL: $violations live tokens were inserted before a completed log-out of their user"
	psql_db race_guarded -c "
		SELECT t.jti, t.subject, t.created_at, max(l.started_at AT TIME ZONE 'utc') AS last_logout_start
		$BEFORE_LOGOUT
		   AND t.purpose <> 'revocation' AND t.expires_at > now() AT TIME ZONE 'utc'
		 GROUP BY 1, 2, 3 ORDER BY 3 LIMIT 10"
	status=1
fi

echo "negative control, the guard trigger dropped: $CLIENTS clients, one user per $SLICE_MS ms, ${UNGUARDED_SECONDS}s"
make_database race_unguarded
psql_db race_unguarded -c "DROP TRIGGER logout_everywhere_token_guard ON tokens"
show_triggers race_unguarded
run_load race_unguarded "$UNGUARDED_SECONDS"
races=$(count_races race_unguarded)
violations=$(count_violations race_unguarded)
echo "  logins still open when a log-out of their user started: $races"
if [ "$violations" -gt 0 ]; then
	echo "ok: without the guard, $violations live tokens were inserted before a completed log-out of their user (the race is real)"
else
	echo "FAIL: without the guard the invariant still held: this load does not exercise the race"
	status=1
fi

psql_db postgres -c "DROP DATABASE race_guarded" -c "DROP DATABASE race_unguarded"
if [ "$status" -eq 0 ]; then
	echo "race_load: passed"
else
	echo "race_load: FAILED"
fi
exit $status
