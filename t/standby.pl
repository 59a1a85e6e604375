# Hot standbys (CONTRACT.md, "Standbys and caches"): the token checks answer
# on a standby and everything that writes is refused there (25006); with
# logout_everywhere.synchronous_revocation on (the default), once the COMMIT
# of a revocation returns, a synchronous standby already refuses the token.
# The standby applies WAL two seconds late (recovery_min_apply_delay), so
# the difference shows: with the setting off (the negative control) the same
# commit returns at once and the standby still accepts the token.
#
# Each case revokes the token of a user of its own (token tN belongs to
# user N), so that the tokens can all be stored before the base backup:
# the standby starts with them, and no case waits for a sign-in to be
# applied. Before each revocation the test checks that the standby still
# accepts the token.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

# Two seconds: a COMMIT that waits takes the whole delay however slow the
# machine is; one that does not, and the standby's answer right after it,
# take tens of milliseconds (a few hundred on a loaded machine): the "did
# not wait" checks and the negative controls keep a wide margin on a slow
# machine running other suites beside this one.
my $delay = 2;    # seconds
my @jtis = map { "t$_" } 0 .. 8;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->start;
$primary->safe_psql('postgres', q{
  CREATE EXTENSION logout_everywhere;
  CREATE TABLE users (id integer PRIMARY KEY, hashed_password text NOT NULL);
  INSERT INTO users SELECT i, 'h' || i FROM generate_series(0, 8) i;
  CREATE TABLE tokens (jti text PRIMARY KEY, subject text NOT NULL,
    expires_at timestamp(0) NOT NULL, purpose text NOT NULL);
  SET client_min_messages = warning;
  SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true);
});

# A live token tN of user N for every case, stored before the base backup.
$primary->safe_psql('postgres',
	"INSERT INTO tokens SELECT 't' || i, 'user?id=' || i, (now() AT TIME ZONE 'utc') + interval '1 day', 'user'
	   FROM generate_series(0, 8) i");

# A streaming standby made from a base backup (pg_basebackup, with the
# primary_conninfo and standby.signal that -R writes), applying 2 s late.
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf', "recovery_min_apply_delay = '${delay}s'");
$standby->start;
$primary->append_conf('postgresql.conf', "synchronous_standby_names = 'standby'");
$primary->reload;
$primary->poll_query_until('postgres',
	"SELECT sync_state = 'sync' FROM pg_stat_replication WHERE application_name = 'standby'")
  or die "the standby did not become synchronous";

# The standby has every token (it was made from a backup taken after they
# were stored): this answers at once.
$standby->poll_query_until('postgres',
	"SELECT bool_and(logout_everywhere.token_valid(j)) FROM unnest('{" . join(',', @jtis) . "}'::text[]) j")
  or die 'the tokens are not valid on the standby';

# The token of the next case must still be valid on the standby.
sub still_valid
{
	my ($jti) = @_;
	$standby->safe_psql('postgres', "SELECT logout_everywhere.token_valid('$jti')") eq 't'
	  or die "$jti is not valid on the standby";
}

# Run SQL on the primary; return the seconds its COMMIT took to return and
# what the standby answers for the token at once afterwards.
sub revoke_and_ask
{
	my ($sql, $jti) = @_;
	my $start = time;
	$primary->safe_psql('postgres', $sql);
	my $elapsed = time - $start;
	my $standby_says = $standby->safe_psql('postgres',
		"SELECT logout_everywhere.token_valid('$jti')");
	return ($elapsed, $standby_says);
}

# Reads work on the standby.
still_valid('t0');
is($standby->safe_psql('postgres', "SELECT logout_everywhere.token_valid('t0')"),
	't', 'token_valid answers on the standby');
is($standby->safe_psql('postgres', "SELECT logout_everywhere.is_revoked('t0')"),
	'f', 'is_revoked answers on the standby');
is($standby->safe_psql('postgres', q{
	SELECT set_config('request.jwt.claims', '{"jti": "t0"}', false);
	SELECT logout_everywhere.require_valid_jwt();
	SELECT 'passed'}), "{\"jti\": \"t0\"}\n\npassed", 'require_valid_jwt answers on the standby');

# Writes are refused there, with 25006.
foreach my $call (
	"SELECT logout_everywhere.log_out_everywhere(1)",
	"SELECT logout_everywhere.log_out_everywhere('1')",
	"SELECT logout_everywhere.revoke_subject('user?id=1')",
	"SELECT public.log_out_everywhere(u) FROM users u",
	"SELECT logout_everywhere.expunge_expired()",
	"CALL logout_everywhere.expunge_expired_committing()",
	"SELECT logout_everywhere.enable('users', 'tokens')",
	"SELECT logout_everywhere.disable('users')")
{
	my ($rc, $out, $err) = $standby->psql('postgres', "\\set VERBOSITY verbose\n$call");
	like($err, qr/ERROR:  25006:/, "refused on the standby with 25006: $call");
}

# The log-out function, setting on: the COMMIT waits for the standby to
# apply it, and the standby refuses the token as soon as it returns.
still_valid('t1');
my ($elapsed, $says) = revoke_and_ask("SELECT logout_everywhere.log_out_everywhere(1)", 't1');
is($says, 'f', 'synchronous_revocation on: the standby refuses the token once log_out_everywhere commits');
cmp_ok($elapsed, '>=', $delay * 0.9, "  ... and the COMMIT waited for the standby's apply ($elapsed s)");

# Negative control: off, the same commit returns at once and the standby
# still accepts the token.
still_valid('t2');
($elapsed, $says) = revoke_and_ask(
	"SET logout_everywhere.synchronous_revocation = off; SELECT logout_everywhere.log_out_everywhere(2)", 't2');
is($says, 't', 'synchronous_revocation off: the standby still accepts the token right after the commit');
cmp_ok($elapsed, '<', $delay * 0.9, "  ... and the COMMIT did not wait ($elapsed s)");

# The same for the password trigger.
still_valid('t3');
($elapsed, $says) = revoke_and_ask("UPDATE users SET hashed_password = 'p3' WHERE id = 3", 't3');
is($says, 'f', 'the password trigger: the standby refuses the token once the UPDATE commits');
cmp_ok($elapsed, '>=', $delay * 0.9, "  ... after waiting ($elapsed s)");
still_valid('t4');
($elapsed, $says) = revoke_and_ask(
	"SET logout_everywhere.synchronous_revocation = off; UPDATE users SET hashed_password = 'p4' WHERE id = 4", 't4');
is($says, 't', 'the password trigger, setting off: the standby still accepts the token');
cmp_ok($elapsed, '<', $delay * 0.9, "  ... and the COMMIT did not wait ($elapsed s)");

# It never lowers what the session asked for, and raises what it asked less.
still_valid('t5');
($elapsed, $says) = revoke_and_ask(
	"SET logout_everywhere.synchronous_revocation = off; SET synchronous_commit = remote_apply; SELECT logout_everywhere.log_out_everywhere(5)", 't5');
is($says, 'f', 'the setting off does not lower synchronous_commit = remote_apply');
still_valid('t6');
($elapsed, $says) = revoke_and_ask(
	"SET synchronous_commit = off; SELECT logout_everywhere.log_out_everywhere(6)", 't6');
is($says, 'f', 'synchronous_commit = off is raised for a transaction that revoked');
is($primary->safe_psql('postgres', q{
	SET synchronous_commit = local;
	BEGIN; SELECT logout_everywhere.log_out_everywhere(1); COMMIT;
	SHOW synchronous_commit}), "0\nlocal", 'the session keeps its own synchronous_commit afterwards');

# A function with a SET clause around the log-out cannot undo it either:
# the raise happens at pre-commit.
$primary->safe_psql('postgres', q{
	CREATE FUNCTION app_logout(uid integer) RETURNS bigint LANGUAGE sql
	  SET synchronous_commit = off
	  AS 'SELECT logout_everywhere.log_out_everywhere(uid)'});
still_valid('t7');
($elapsed, $says) = revoke_and_ask("SELECT app_logout(7)", 't7');
is($says, 'f', 'a caller with SET synchronous_commit = off in its definition still waits');

# A transaction that revoked nothing (user 7 has no live token left) does
# not wait. It writes another row too: a transaction that wrote nothing has
# no commit record and would not wait whatever synchronous_commit says.
# With synchronous_commit = on it waits for the standby to flush the commit
# record, not to apply it.
$standby->poll_query_until('postgres', "SELECT NOT logout_everywhere.token_valid('t7')");
$primary->safe_psql('postgres', 'CREATE TABLE audit (note text)');
($elapsed, $says) = revoke_and_ask(
	"BEGIN; INSERT INTO audit VALUES ('log-out'); SELECT logout_everywhere.log_out_everywhere(7); COMMIT", 't7');
cmp_ok($elapsed, '<', $delay * 0.9, "a log-out that revoked nothing does not wait ($elapsed s)");

# Without synchronous standbys, remote_apply waits for nothing.
$primary->append_conf('postgresql.conf', "synchronous_standby_names = ''");
$primary->reload;
$primary->poll_query_until('postgres', "SELECT current_setting('synchronous_standby_names') = ''");
still_valid('t8');
($elapsed, $says) = revoke_and_ask("SELECT logout_everywhere.log_out_everywhere(8)", 't8');
cmp_ok($elapsed, '<', $delay * 0.9, "no synchronous standby: the revocation does not wait ($elapsed s)");
is($says, 't', '  ... and an asynchronous standby accepts the token until it has replayed the log-out');
$standby->poll_query_until('postgres', "SELECT NOT logout_everywhere.token_valid('t8')")
  or die 'the standby never replayed the log-out';
pass('  ... and refuses it once it has');

$standby->stop;
$primary->stop;
done_testing();
