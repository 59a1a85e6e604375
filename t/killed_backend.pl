# A backend gets SIGKILL in the middle of a bulk password change (issue 5.3).
# The backend is parked (on an advisory lock that this test holds) by a test
# trigger at a chosen point, then killed with SIGKILL:
#   a) while the UPDATE of the user table is half done (rows captured for the
#      password trigger),
#   b) in the middle of the revocation UPDATE of the token table, after half
#      of the tokens have been rewritten as 'revocation' in the heap.
# Each time: nothing is revoked, no password changed, the server goes through
# crash recovery and accepts connections again, and the extension works.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(usleep);
use FindBin;
use lib "$FindBin::RealBin/lib";
use LogoutEverywhereTest;

my $node = start_node('killed_backend', "lc_messages = 'C'\nrestart_after_crash = on\n");

my $db = 'le_kill';
my $nusers = 2000;    # 5 live tokens each
my $live_tokens = $nusers * 5;
$node->safe_psql('postgres', "CREATE DATABASE $db");
$node->safe_psql($db, <<"SQL");
CREATE EXTENSION logout_everywhere;
CREATE TABLE users (id int PRIMARY KEY, hashed_password text NOT NULL);
CREATE TABLE tokens $ash_tokens_ddl;
INSERT INTO users SELECT i, 'h' || i FROM generate_series(1, $nusers) i;
INSERT INTO tokens (jti, subject, expires_at, purpose)
  SELECT 'u' || i || '-' || k, 'user?id=' || i, now() AT TIME ZONE 'utc' + interval '1 day',
         (ARRAY['user','user','remember_me','magic_link','confirm'])[k]
  FROM generate_series(1, $nusers) i, generate_series(1, 5) k;
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

my $state_sql =
  "SELECT count(*) FILTER (WHERE purpose = 'revocation') || '/' || count(*) FROM tokens";
my $pw_sql = "SELECT count(*) FROM users WHERE hashed_password <> 'h' || id";
my $parked_sql =
  "SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE 'UPDATE users SET hashed_password%' AND wait_event_type = 'Lock'";

# Poll until the server accepts queries again (at most ~60 s).
sub wait_server
{
	for (1 .. 600)
	{
		return 1 if $node->psql('postgres', 'SELECT 1') == 0;
		usleep(100_000);
	}
	return 0;
}

sub kill_during
{
	my ($label, $trigger_sql, $target) = @_;
	note "SIGKILL $label";
	$node->safe_psql($db,
		"DROP TRIGGER IF EXISTS park ON users; DROP TRIGGER IF EXISTS park ON tokens; "
		  . "ALTER SEQUENCE park_counter RESTART; $trigger_sql");

	# This test's session holds lock 4242 while the bulk change runs.
	my $holder = $node->background_psql($db, on_error_stop => 0);
	$holder->query_safe('SELECT pg_advisory_lock(4242)');
	ok( $node->poll_query_until($db,
			"SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted"),
		"$label: this test holds the advisory lock");

	my ($bulk_out, $bulk_err) = ('', '');
	my $bulk = IPC::Run::start(
		[
			$node->installed_command('psql'), '-X', '-q', '-d', $node->connstr($db),
			'-c', "UPDATE users SET hashed_password = 'new' || id"
		],
		'<', \undef, '>', \$bulk_out, '2>', \$bulk_err);
	ok($node->poll_query_until($db, $parked_sql),
		"$label: the bulk change is parked at the chosen point");
	my $pid = $node->safe_psql($db,
		"SELECT pid FROM pg_stat_activity WHERE query LIKE 'UPDATE users SET hashed_password%' AND wait_event_type = 'Lock'"
	);
	is($node->safe_psql($db, 'SELECT last_value FROM park_counter'),
		$target, "$label: the bulk change (backend $pid) is parked half-way");

	my $log_offset = -s $node->logfile;
	kill 'KILL', $pid;
	ok(!$bulk->finish, "$label: the bulk change's client saw its backend die")
	  or diag("bulk change output: $bulk_out");
	# The crash restart ends the lock holder's connection too.
	eval { $holder->quit; };

	# Wait for the postmaster to have reinitialized, then for connections.
	for (1 .. 600)
	{
		last if $node->log_contains(qr/ready to accept connections/, $log_offset);
		usleep(100_000);
	}
	ok(wait_server(), "$label: the server came back");
	ok($node->log_contains(qr/terminated by signal 9/, $log_offset),
		"$label: the server log shows the SIGKILL");
	ok($node->log_contains(qr/ready to accept connections/, $log_offset),
		"$label: the server reinitialized and accepts connections");
	is($node->safe_psql($db, $state_sql), "0/$live_tokens", "$label: nothing revoked");
	is($node->safe_psql($db, $pw_sql), '0', "$label: no password changed");
	is( $node->safe_psql($db,
			"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
		'0',
		"$label: no guard lock left behind");
}

# a) half-way through the user table: BEFORE UPDATE row trigger on users.
kill_during('in the user-table UPDATE',
	"CREATE TRIGGER park BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION park('"
	  . ($nusers / 2) . "')",
	$nusers / 2);
# b) half-way through the revocation: BEFORE UPDATE row trigger on tokens,
#    firing for the rows that the extension rewrites as 'revocation'.
kill_during('in the revocation UPDATE of the token table',
	"CREATE TRIGGER park BEFORE UPDATE ON tokens FOR EACH ROW WHEN (NEW.purpose = 'revocation') EXECUTE FUNCTION park('"
	  . ($live_tokens / 2) . "')",
	$live_tokens / 2);

note 'after the crashes';
$node->safe_psql($db, 'DROP TRIGGER park ON tokens');
expect_ok("amcheck: the token table's indexes are sound", $db,
	"CREATE EXTENSION IF NOT EXISTS amcheck; SELECT bt_index_check(indexrelid, true) FROM pg_index WHERE indrelid = 'tokens'::regclass"
);
$node->safe_psql($db, "UPDATE users SET hashed_password = 'one' WHERE id = 7");
is($node->safe_psql($db, $state_sql), "5/$live_tokens",
	"a single password change revokes that user's tokens only");
is($node->safe_psql($db, 'SELECT logout_everywhere.log_out_everywhere(8)'),
	'5', 'log_out_everywhere works');
$node->safe_psql($db, "UPDATE users SET hashed_password = 'new' || id");
is($node->safe_psql($db, $state_sql), "$live_tokens/$live_tokens",
	'the bulk change now revokes every token');
expect_ok('a new login is stored', $db,
	"INSERT INTO tokens (jti, subject, expires_at, purpose) VALUES ('fresh', 'user?id=9', now() AT TIME ZONE 'utc' + interval '1 day', 'user')"
);
is($node->safe_psql($db, "SELECT logout_everywhere.token_valid('fresh')"),
	't', 'token_valid sees it');

$node->stop;
done_testing();
