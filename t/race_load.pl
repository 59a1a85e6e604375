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
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib "$FindBin::RealBin/lib";
use LogoutEverywhereTest;

my $clients = 8;
# The guarded run is the test: the longer it runs, the rarer a miss it can
# catch. The negative control only has to show that the race is real:
# without the guard, a few dozen live tokens per second are missed (some
# 60 a second on 2 cores, 40 with other jobs running), so 3 s leave a wide
# margin above the one it needs.
my $guarded_seconds = 8;
my $unguarded_seconds = 3;
# Every client works on the user of the current slice of time (user ids
# 0 .. USERS-1 in turn): all clients log that one user in and out and
# change their password at once, so log-outs meet open logins all the time.
# Each user has one slice of a run, so a token that the last log-out of its
# user missed stays live to the end instead of being revoked by a later one.
my $slice_ms = 50;
my $users = 4000;

my $node = start_node('race_load');
my $workdir = PostgreSQL::Test::Utils::tempdir;

# A database with the extension, an Ash token table, a users table, the
# extension enabled with the password trigger, and the test's bookkeeping.
sub make_database
{
	my ($db) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, <<"SQL");
SET client_min_messages = warning;
ALTER DATABASE $db SET synchronous_commit = off;
CREATE EXTENSION logout_everywhere;

CREATE TABLE users (
  id              integer PRIMARY KEY,
  email           text NOT NULL,
  hashed_password text NOT NULL);
INSERT INTO users SELECT g, 'u' || g || '\@example.com', md5(g::text)
  FROM generate_series(0, $users - 1) g;

CREATE TABLE tokens $ash_tokens_ddl;

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

sub show_triggers
{
	my ($db) = @_;
	note('  triggers on tokens, in firing order: '
		  . $node->safe_psql($db, q{
		SELECT string_agg(tgname, ', ' ORDER BY tgname) FROM pg_trigger
		WHERE tgrelid = 'tokens'::regclass AND NOT tgisinternal}));
}

my $slice = "SELECT (floor(extract(epoch FROM clock_timestamp()) * 1000 / $slice_ms))::bigint % $users AS uid";

my $login_sql = <<"SQL";
$slice, gen_random_uuid() AS jti \\gset
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
append_to_file("$workdir/login.sql", $login_sql);

append_to_file("$workdir/check.sql", <<"SQL");
$slice \\gset
SELECT logout_everywhere.token_valid(jti, purpose)
  FROM tokens WHERE subject = 'user?id=' || :uid LIMIT 1;
SQL

append_to_file("$workdir/logout.sql", <<"SQL");
$slice \\gset
BEGIN;
INSERT INTO logouts VALUES (:uid, 'log-out', clock_timestamp());
SELECT logout_everywhere.log_out_everywhere(:uid);
COMMIT;
SQL

append_to_file("$workdir/password.sql", <<"SQL");
$slice \\gset
BEGIN;
INSERT INTO logouts VALUES (:uid, 'password', clock_timestamp());
UPDATE users SET hashed_password = md5(random()::text) WHERE id = :uid;
COMMIT;
SQL

# The negative control's logins: the guard does not fire for them.
(my $login_unguarded_sql = $login_sql) =~
  s/^-- \(the negative control.*$/SET LOCAL session_replication_role = replica;/m;
append_to_file("$workdir/login_unguarded.sql", $login_unguarded_sql);

# Run the mix on one database (with login.sql, or the file given third);
# fail if any client hit an error.
sub run_load
{
	my ($db, $seconds, $login) = @_;
	$login //= 'login.sql';
	my ($out, $err) = ('', '');
	my $ran = IPC::Run::run(
		[
			'pgbench', '-n', '-h', $node->host, '-p', $node->port, '-d', $db,
			'-c', $clients, '-j', 2, '-T', $seconds,
			'-f', "$workdir/$login\@50", '-f', "$workdir/check.sql\@20",
			'-f', "$workdir/logout.sql\@15", '-f', "$workdir/password.sql\@15"
		],
		'>', \$out, '2>', \$err);
	ok($ran, "$db: pgbench reported no errors") or diag("$out\n$err");
	unlike($out, qr/^number of failed transactions: [1-9]/m, "$db: no transaction failed")
	  or diag($out);
	# Statistics for the counts below (the tables were created empty).
	$node->safe_psql($db, 'ANALYZE tokens, token_stamps, logouts, login_ends');
	note($node->safe_psql($db, <<'SQL', extra_params => [ '-F', ' ' ]));
SELECT '  logins:', count(*), ' revoked:', count(*) FILTER (WHERE purpose = 'revocation')
  FROM tokens;
SELECT '  log-outs:', count(*) FILTER (WHERE kind = 'log-out'),
       ' password changes:', count(*) FILTER (WHERE kind = 'password')
  FROM logouts;
SQL
}

# Tokens t with their stamps s, and the condition on a log-out or password
# change l: of the token's user, started after the token was inserted.
# (The counts ask whether such an l EXISTS: joining every token with every
# log-out of its user first takes seconds.)
my $stamped_tokens = "
  FROM tokens t
  JOIN token_stamps s ON s.jti = t.jti";
my $before_logout = "t.subject = 'user?id=' || l.user_id AND s.stamped_at < l.started_at AT TIME ZONE 'utc'";

# Logins still open when a log-out of their user started: the race.
sub count_races
{
	my ($db) = @_;
	return $node->safe_psql($db, "
		SELECT count(DISTINCT t.jti) $stamped_tokens
		  JOIN login_ends e ON e.jti = t.jti
		 WHERE EXISTS (SELECT FROM logouts l WHERE $before_logout AND l.started_at < e.ended_at)");
}

# The invariant's violations: live tokens inserted before the start of a
# completed log-out or password change of their user.
sub count_violations
{
	my ($db) = @_;
	return $node->safe_psql($db, "
		SELECT count(DISTINCT t.jti) $stamped_tokens
		 WHERE t.purpose <> 'revocation'
		   AND t.expires_at > now() AT TIME ZONE 'utc'
		   AND EXISTS (SELECT FROM logouts l WHERE $before_logout)");
}

note("guarded: $clients clients, one user per $slice_ms ms, ${guarded_seconds}s");
make_database('race_guarded');
show_triggers('race_guarded');
run_load('race_guarded', $guarded_seconds);
my $races = count_races('race_guarded');
my $violations = count_violations('race_guarded');
note("  logins still open when a log-out of their user started: $races");
ok($races > 0, 'guarded: log-outs met open logins (this load exercises the race)');
is($violations, 0, 'guarded: no live token was inserted before a completed log-out of its user')
  or diag($node->safe_psql('race_guarded', "
		SELECT t.jti, t.subject, t.created_at, max(l.started_at AT TIME ZONE 'utc') AS last_logout_start
		$stamped_tokens
		  JOIN logouts l ON $before_logout
		 WHERE t.purpose <> 'revocation' AND t.expires_at > now() AT TIME ZONE 'utc'
		 GROUP BY 1, 2, 3 ORDER BY 3 LIMIT 10"));

note("negative control, logins that the guard does not see: $clients clients, one user per $slice_ms ms, ${unguarded_seconds}s");
make_database('race_unguarded');
show_triggers('race_unguarded');
run_load('race_unguarded', $unguarded_seconds, 'login_unguarded.sql');
$races = count_races('race_unguarded');
$violations = count_violations('race_unguarded');
note("  logins still open when a log-out of their user started: $races");
ok($violations > 0,
	"negative control: without the guard, $violations live tokens were inserted before a completed log-out of their user (the race is real)");

$node->stop;
done_testing();
