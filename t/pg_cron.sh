#!/usr/bin/env bash
# pg_virtualenv: -o shared_preload_libraries=pg_cron -o cron.use_background_workers=on
#
# t/pg_cron.sh — expunge_expired_committing() scheduled and run by a real pg_cron.
#
# The cluster loads pg_cron (header above). pg_cron keeps its jobs in the
# database "postgres" (cron.database_name's default) and runs this job in the
# application database through cron.schedule_in_database, exactly as the
# README's recipe says, as a role that has only the grants the README lists
# (le_cron_job). Background workers run the job, so no password or pg_hba
# entry is needed for pg_cron's own connection.
#
# Debian's pg_cron (1.4) fires at most once a minute ('N seconds' schedules
# come with 1.5), so to run the scheduled job now instead of at the next
# half-day, the test switches that same job to '@reboot' and restarts the
# cluster: pg_cron's scheduler then starts it at once.
#
# The application database runs in the time zone UTC+14, so a comparison of
# the UTC wall-clock expires_at with local time would delete a token that
# still has two hours to live; it must not.
set -euo pipefail

db=le_cron
app() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
crondb() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "# setting up database $db (TimeZone Pacific/Kiritimati, UTC+14)"
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "ALTER DATABASE $db SET TimeZone = 'Pacific/Kiritimati'"

app <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION logout_everywhere;
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, hashed_password text NOT NULL);
CREATE TABLE tokens (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));
\o /dev/null
SELECT logout_everywhere.enable('users', 'tokens');
\o
INSERT INTO users VALUES (1, 'a@example.com', 'h1');
-- expires_at is UTC wall clock, as Ash writes it.
INSERT INTO tokens (jti, subject, expires_at, purpose) VALUES
  ('expired-user',       'user?id=1', now() AT TIME ZONE 'utc' - interval '1 hour',  'user'),
  ('expired-magic-link', 'user?id=1', now() AT TIME ZONE 'utc' - interval '1 minute', 'magic_link'),
  ('expired-revocation', 'user?id=1', now() AT TIME ZONE 'utc' - interval '2 days',  'revocation'),
  ('live-user',          'user?id=1', now() AT TIME ZONE 'utc' + interval '7 days',  'user'),
  ('live-in-two-hours',  'user?id=1', now() AT TIME ZONE 'utc' + interval '2 hours', 'user'),
  ('live-revocation',    'user?id=1', now() AT TIME ZONE 'utc' + interval '3 days',  'revocation');
-- The job runs as a role with only the grants the README lists.
DROP ROLE IF EXISTS le_cron_job;
CREATE ROLE le_cron_job LOGIN;
GRANT USAGE ON SCHEMA logout_everywhere TO le_cron_job;
GRANT EXECUTE ON PROCEDURE logout_everywhere.expunge_expired_committing(regclass, integer, bigint) TO le_cron_job;
GRANT SELECT, DELETE ON tokens TO le_cron_job;
SQL

echo "# scheduling the README recipe (twice a day) in database postgres, as role le_cron_job"
crondb -c "CREATE EXTENSION pg_cron"
jobid=$(crondb -At -c "SELECT cron.schedule_in_database('logout_everywhere-expunge', '17 */12 * * *', 'CALL logout_everywhere.expunge_expired_committing()', '$db', 'le_cron_job')")
[ -n "$jobid" ] || fail "cron.schedule_in_database returned no job id"
echo "job $jobid:"
crondb -c "SELECT jobid, jobname, schedule, command, database, username, active FROM cron.job"

got=$(crondb -At -c "SELECT count(*) FROM cron.job WHERE jobid = $jobid AND database = '$db' AND username = 'le_cron_job' AND command = 'CALL logout_everywhere.expunge_expired_committing()' AND active")
[ "$got" = 1 ] || fail "the job is not in cron.job as scheduled"

echo "# making pg_cron run that job now: schedule '@reboot', restart the cluster"
crondb -c "SELECT cron.alter_job($jobid, schedule => '@reboot')" >/dev/null
# pg_ctl itself, not pg_ctlcluster: pg_ctlcluster decides whether the cluster
# runs from a pid file in /var/run/postgresql that every throwaway cluster
# named 15/regress shares, which makes it unreliable while other
# pg_virtualenv clusters run. pg_ctl restart reuses the server's options.
datadir=$(crondb -At -c "SHOW data_directory")
pg_ctl="$("${PG_CONFIG:-pg_config}" --bindir)/pg_ctl"
logdir=$(mktemp -d "${TMPDIR:-/tmp}/le-cron.XXXXXX")
trap 'rm -rf "$logdir"' EXIT
owner=$(stat -c %U "$datadir")
chown "$owner" "$logdir" 2>/dev/null || true
as_owner=()
[ "$(id -u)" -eq 0 ] && [ "$owner" != root ] && as_owner=(runuser -u "$owner" --)
"${as_owner[@]}" "$pg_ctl" restart -D "$datadir" -m fast -w -s -l "$logdir/server.log" >/dev/null \
    || { cat "$logdir/server.log" >&2; fail "could not restart the cluster"; }

status=""
for _ in $(seq 1 150); do
    status=$(crondb -At -c "SELECT status FROM cron.job_run_details WHERE jobid = $jobid AND status IN ('succeeded', 'failed') ORDER BY runid DESC LIMIT 1" 2>/dev/null || true)
    [ -n "$status" ] && break
    sleep 0.2
done
crondb -c "SELECT jobid, database, command, status, return_message FROM cron.job_run_details WHERE jobid = $jobid"
[ "$status" = succeeded ] || fail "pg_cron did not run the job successfully (status: '${status:-none}')"

echo "# tokens left"
left=$(app -At -c "SELECT string_agg(jti, ',' ORDER BY jti) FROM tokens")
echo "$left"
want="live-in-two-hours,live-revocation,live-user"
[ "$left" = "$want" ] || fail "tokens left are '$left', expected '$want'"

echo "# a second run deletes nothing"
again=$(app -At -c "CALL logout_everywhere.expunge_expired_committing()")
[ "$again" = 0 ] || fail "a second expunge_expired_committing() deleted $again rows"

echo "ok: pg_cron ran expunge_expired_committing(); expired rows (every purpose) are gone, live ones stay"
