# expunge_expired_committing() scheduled and run by a real pg_cron.
#
# The cluster loads pg_cron. pg_cron keeps its jobs in the database
# "postgres" (cron.database_name) and runs this job in the application
# database through cron.schedule_in_database, exactly as the README's recipe
# says, as a role that has only the grants the README lists (le_cron_job).
# Background workers run the job, so no password or pg_hba entry is needed
# for pg_cron's own connection.
#
# Debian's pg_cron (1.4) fires at most once a minute ('N seconds' schedules
# come with 1.5), so to run the scheduled job now instead of at the next
# half-day, the test switches that same job to '@reboot' and restarts the
# cluster: pg_cron's scheduler then starts it at once.
#
# The application database runs in the time zone UTC+14, so a comparison of
# the UTC wall-clock expires_at with local time would delete a token that
# still has two hours to live; it must not.
#
# pg_cron CALLs the procedure outside a transaction block, so it commits
# after each batch: 25,003 expired rows go in three transactions (batches of
# the default 10,000), as a test-only trigger records.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use FindBin;
use lib "$FindBin::RealBin/lib";
use LogoutEverywhereTest;

my $node = start_node('pg_cron', <<'CONF');
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
CONF

my $db = 'le_cron';
note("setting up database $db (TimeZone Pacific/Kiritimati, UTC+14)");
$node->safe_psql('postgres', "CREATE DATABASE $db");
$node->safe_psql('postgres', "ALTER DATABASE $db SET TimeZone = 'Pacific/Kiritimati'");

$node->safe_psql($db, <<"SQL");
SET client_min_messages = warning;
CREATE EXTENSION logout_everywhere;
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, hashed_password text NOT NULL);
CREATE TABLE tokens $ash_tokens_ddl;
SQL
$node->safe_psql($db, <<'SQL');
SET client_min_messages = warning;
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
-- 25,000 more expired rows, so that the job deletes three batches of the
-- default 10,000. Test only: which transaction deleted each row (a SECURITY
-- DEFINER trigger, so that the job's role needs no grant for it).
INSERT INTO tokens (jti, subject, expires_at, purpose)
  SELECT 'expired-' || i, 'user?id=1', now() AT TIME ZONE 'utc' - interval '1 day', 'user'
  FROM generate_series(1, 25000) i;
CREATE TABLE deletions (jti text NOT NULL, xid xid8 NOT NULL);
CREATE FUNCTION note_deletion() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  INSERT INTO deletions VALUES (OLD.jti, pg_current_xact_id());
  RETURN NULL;
END $$;
CREATE TRIGGER note_deletion AFTER DELETE ON tokens FOR EACH ROW EXECUTE FUNCTION note_deletion();
-- The job runs as a role with only the grants the README lists.
CREATE ROLE le_cron_job LOGIN;
GRANT USAGE ON SCHEMA logout_everywhere TO le_cron_job;
GRANT EXECUTE ON PROCEDURE logout_everywhere.expunge_expired_committing(regclass, integer, bigint) TO le_cron_job;
GRANT SELECT, DELETE ON tokens TO le_cron_job;
SQL

note('scheduling the README recipe (twice a day) in database postgres, as role le_cron_job');
$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron');
my $jobid = $node->safe_psql('postgres',
	"SELECT cron.schedule_in_database('logout_everywhere-expunge', '17 */12 * * *', 'CALL logout_everywhere.expunge_expired_committing()', '$db', 'le_cron_job')");
like($jobid, qr/^\d+$/, 'cron.schedule_in_database returned a job id');
$jobid = -1 unless $jobid =~ /^\d+$/;
note("job $jobid: "
	  . $node->safe_psql('postgres', 'SELECT jobid, jobname, schedule, command, database, username, active FROM cron.job'));
is($node->safe_psql('postgres',
		"SELECT count(*) FROM cron.job WHERE jobid = $jobid AND database = '$db' AND username = 'le_cron_job' AND command = 'CALL logout_everywhere.expunge_expired_committing()' AND active"),
	1, 'the job is in cron.job as scheduled');

note(q{making pg_cron run that job now: schedule '@reboot', restart the cluster});
$node->safe_psql('postgres', "SELECT cron.alter_job($jobid, schedule => '\@reboot')");
$node->restart;    # bails out if pg_ctl restart fails
is($node->safe_psql('postgres', q{SELECT current_setting('shared_preload_libraries')}),
	'pg_cron', 'the cluster restarted, with pg_cron loaded');

my $status = '';
for (1 .. 150)
{
	my ($out, $err) = ('', '');
	$node->psql('postgres',
		"SELECT status FROM cron.job_run_details WHERE jobid = $jobid AND status IN ('succeeded', 'failed') ORDER BY runid DESC LIMIT 1",
		stdout => \$out, stderr => \$err);
	$status = $out // '';
	last if $status ne '';
	usleep(200_000);
}
note($node->safe_psql('postgres',
	"SELECT jobid, database, command, status, return_message FROM cron.job_run_details WHERE jobid = $jobid"));
is($status, 'succeeded', 'pg_cron ran the job successfully');

is($node->safe_psql($db, q{SELECT string_agg(jti, ',' ORDER BY jti) FROM tokens}),
	'live-in-two-hours,live-revocation,live-user',
	'expired rows (every purpose) are gone, live ones stay (in UTC+14 too)');
is($node->safe_psql($db, q{SELECT count(*) || ' rows in ' || count(DISTINCT xid) || ' transactions' FROM deletions}),
	'25003 rows in 3 transactions',
	'the job committed after each batch of 10,000 (pg_cron CALLs it outside a transaction block)');

is($node->safe_psql($db, 'CALL logout_everywhere.expunge_expired_committing()'),
	0, 'a second expunge_expired_committing() deletes nothing');

$node->stop;
done_testing();
