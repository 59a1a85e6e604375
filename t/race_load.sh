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
# A token's insert time is stamped by a test-only AFTER ROW trigger into a
# table of its own, so it is taken once the guard has let the write through
# (a column default is computed before the guard runs, and so before any
# wait; a BEFORE trigger after the guard would make the guard take its
# database-wide lock instead of the user's).
#
# The invariant, checked in SQL at the end: no live token (purpose other
# than 'revocation', not expired) was inserted before the start of a
# completed log-out or password change of its user.
#
# The same run with the mechanism switched off must break the invariant, or
# this test proves nothing: then it fails too. Switched off means the logins
# run with session_replication_role = replica, so that the guard does not
# fire for them (a log-out refuses a token table whose guard is dropped).  The guarded run must also have
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

-- Test only: stamp the write time of each live token once the guard has run.
CREATE TABLE token_stamps (jti text PRIMARY KEY, stamped_at timestamp NOT NULL);
CREATE FUNCTION stamp_write_time() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
  INSERT INTO token_stamps VALUES (NEW.jti, clock_timestamp() AT TIME ZONE 'utc')
    ON CONFLICT (jti) DO UPDATE SET stamped_at = excluded.stamped_at;
  RETURN NULL;
END \$\$;
CREATE TRIGGER stamp_write_time
  AFTER INSERT OR UPDATE ON tokens
  FOR EACH ROW WHEN (NEW.purpose <> 'revocation') EXECUTE FUNCTION stamp_write_time();
-- it fires under session_replication_role = replica too (the negative control)
ALTER TABLE tokens ENABLE ALWAYS TRIGGER stamp_write_time;

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
-- (the negative control's copy sets session_replication_role here)
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

# The negative control's logins: the guard does not fire for them.
sed 's/^-- (the negative control.*$/SET LOCAL session_replication_role = replica;/' \
	"$workdir/login.sql" >"$workdir/login_unguarded.sql"

# Run the mix on one database (with login.sql, or the file given third);
# fail if any client hit an error.
run_load() {
	local db=$1 seconds=$2 login=${3:-login.sql}
	if ! pgbench -n -d "$db" -c "$CLIENTS" -j 2 -T "$seconds" \
		-f "$workdir/$login@50" -f "$workdir/check.sql@20" \
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
  JOIN token_stamps s ON s.jti = t.jti
  JOIN logouts l ON t.subject = 'user?id=' || l.user_id
 WHERE s.stamped_at < l.started_at AT TIME ZONE 'utc'"

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

echo "negative control, logins that the guard does not see: $CLIENTS clients, one user per $SLICE_MS ms, ${UNGUARDED_SECONDS}s"
make_database race_unguarded
show_triggers race_unguarded
run_load race_unguarded "$UNGUARDED_SECONDS" login_unguarded.sql
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
