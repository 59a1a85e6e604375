# bench/standby.pl: token-check throughput on a hot standby against the
# primary (docs/scaling.md). A primary with the benchmark data (bench/load.sql)
# and a streaming standby made from its base backup; token_valid of random
# tokens with pgbench, alternating primary and standby for several rounds;
# prints transactions per second and the standby/primary ratio. A benchmark,
# not a test: nothing here judges the numbers. Run it with bench/standby.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;

my $bench = $FindBin::RealBin;    # bench/standby copies load.sql and pgbench/ beside it
my $users = $ENV{BENCH_USERS} || 100000;
my $seconds = $ENV{BENCH_DURATION} || 6;
my $rounds = $ENV{BENCH_ROUNDS} || 5;
my $clients = $ENV{BENCH_CLIENTS} || 2;
my $tokens = 10 * $users;

my $primary = PostgreSQL::Test::Cluster->new('bench_primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_buffers = 512MB\njit = off\nautovacuum = off\nfsync = off\n");
$primary->start;
$primary->safe_psql('postgres', 'CREATE DATABASE le_bench');
$primary->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-v', "nusers=$users",
	'-d', $primary->connstr('le_bench'), '-f', "$bench/load.sql" ], "loaded $users users, $tokens tokens");
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('bench_standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf', "shared_buffers = 512MB\njit = off\n");
$standby->start;
$primary->wait_for_catchup($standby, 'replay');

sub tps
{
	my ($node) = @_;
	my ($out, $err) = run_command([ 'pgbench', '-n', '-M', 'prepared', '-c', $clients, '-j', $clients,
		'-T', $seconds, '-D', "nusers=$users", '-D', "ntokens=$tokens",
		'-f', "$bench/pgbench/valid_ext.sql", $node->connstr('le_bench') ]);
	$out =~ /^tps = ([0-9.]+)/m or die "pgbench failed: $out $err";
	return $1;
}

tps($_) foreach ($primary, $standby);    # warm both caches
my @ratios;
foreach my $round (1 .. $rounds)
{
	my %tps;
	foreach my $node ($round % 2 ? ($primary, $standby) : ($standby, $primary))
	{
		$tps{ $node->name } = tps($node);
	}
	my $ratio = $tps{bench_standby} / $tps{bench_primary};
	push @ratios, $ratio;
	diag(sprintf('round %d/%d: primary %.0f tps, standby %.0f tps, standby/primary %.2f',
		$round, $rounds, $tps{bench_primary}, $tps{bench_standby}, $ratio));
}
my @sorted = sort { $a <=> $b } @ratios;
my $median = @sorted % 2 ? $sorted[$#sorted / 2] : ($sorted[@sorted / 2 - 1] + $sorted[@sorted / 2]) / 2;
diag(sprintf('token_valid on the standby / on the primary, %d client(s), median of %d rounds: %.2fx',
	$clients, $rounds, $median));
pass('measured');
$standby->stop;
$primary->stop;
done_testing();
