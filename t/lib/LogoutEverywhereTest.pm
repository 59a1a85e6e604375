# LogoutEverywhereTest: what several TAP tests in t/ share. Each test makes
# its own node (start_node, or by hand and then use_node); the helpers then
# run SQL on it.
package LogoutEverywhereTest;

use strict;
use warnings;
use Exporter 'import';
use PostgreSQL::Test::Cluster;
use Test::More;

our @EXPORT = qw(start_node use_node qv expect_error expect_ok $ash_tokens_ddl);

my $node;

# The token table exactly as AshAuthentication + AshPostgres create it.
our $ash_tokens_ddl = q{(
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'))};

sub use_node { $node = shift; }

# start_node NAME [CONF]: a new node, initialized, with CONF (lines of
# postgresql.conf) appended, started, and used by the helpers below.
sub start_node
{
	my ($name, $conf) = @_;
	my $new = PostgreSQL::Test::Cluster->new($name);
	$new->init;
	$new->append_conf('postgresql.conf', $conf) if defined $conf;
	$new->start;
	use_node($new);
	return $new;
}

# qv DB SQL: the output (unaligned, tuples only); dies at the first error.
sub qv { my ($db, $sql) = @_; return $node->safe_psql($db, $sql); }

# expect_error NAME SQLSTATE DB SQL: the SQL must fail with that SQLSTATE.
sub expect_error
{
	my ($name, $state, $db, $sql) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql($db, "\\set VERBOSITY verbose\n$sql",
		stdout => \$out, stderr => \$err, on_error_stop => 1);
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	if ($rc == 0)
	{
		fail("$name: succeeded, expected SQLSTATE $state (output: $out)");
	}
	else
	{
		like($err, qr/ERROR:  \Q$state\E:/, "$name ($state)");
	}
}

# expect_ok NAME DB SQL: the SQL must succeed.
sub expect_ok
{
	my ($name, $db, $sql) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql($db, $sql, stdout => \$out, stderr => \$err, on_error_stop => 1);
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	is($rc, 0, $name) or diag($err);
}

1;
