# Sharding by subject with PL/Proxy (docs/scaling.md): two shards on
# loopback, each an ordinary logout_everywhere installation, and a router
# database whose PL/Proxy functions send each call to the shard of the
# user's subject. The shards and the router are three databases of one
# cluster: PL/Proxy reaches each shard over a connection of its own, as it
# would reach another server, and nothing of the extension is shared
# between databases (its locks carry the database's OID). End to end: users and logins land on the shard of their
# subject, token checks are routed by the JWT's sub, a log-out and a
# password change through the router revoke on that shard only, and a
# concurrent login is still caught by the shard's own handshake.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;

my $examples = "$FindBin::RealBin/../examples/sharding";
my $node = PostgreSQL::Test::Cluster->new('sharding');
$node->init;
$node->start;
foreach my $n (0, 1)
{
	$node->safe_psql('postgres', "CREATE DATABASE tokens$n");
	$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr("tokens$n"),
		'-f', "$examples/shard.sql" ], "shard $n set up");
}
$node->safe_psql('postgres', 'CREATE DATABASE app');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('app'),
	'-v', 'shard0=' . $node->connstr('tokens0'),
	'-v', 'shard1=' . $node->connstr('tokens1'),
	'-f', "$examples/router.sql" ], 'router set up');

sub router { return $node->safe_psql('app', $_[0]); }
sub on_shard { return $node->safe_psql("tokens$_[0]", $_[1]); }

# 16 users through the router, three tokens each (laptop, phone, tablet).
router(q{
  SELECT create_user(('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, 'u' || i || '@example.com', 'h')
    FROM generate_series(1, 16) i;
  SELECT store_token(subject_of(u) || '#' || d, subject_of(u), (now() AT TIME ZONE 'utc') + interval '7 days', 'user')
    FROM (SELECT ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid FROM generate_series(1, 16) i) s(u),
         unnest('{laptop,phone,tablet}'::text[]) d;
});
my @users = map { on_shard($_, 'SELECT count(*) FROM users') } (0, 1);
my @tokens = map { on_shard($_, 'SELECT count(*) FROM tokens') } (0, 1);
ok($users[0] > 0 && $users[1] > 0 && $users[0] + $users[1] == 16, "users are spread over both shards (@users)");
is($tokens[0] + $tokens[1], 48, "48 tokens stored (@tokens)");
is(on_shard(0, q{SELECT count(*) FROM tokens t WHERE NOT EXISTS (SELECT FROM users u WHERE 'user?id=' || u.id = t.subject)})
	+ on_shard(1, q{SELECT count(*) FROM tokens t WHERE NOT EXISTS (SELECT FROM users u WHERE 'user?id=' || u.id = t.subject)}),
	0, "every token lives on its user's shard");

# Pick one user on each shard.
my ($u0) = on_shard(0, 'SELECT id FROM users ORDER BY id LIMIT 1');
my ($u1) = on_shard(1, 'SELECT id FROM users ORDER BY id LIMIT 1');
my ($s0, $s1) = ("user?id=$u0", "user?id=$u1");

is(router("SELECT token_valid('$s0#phone', '$s0')"), 't', 'a token check routed by sub finds the token');
is(router("SELECT token_valid('$s0#phone', '$s1')"), 'f', '  ... and asks only the shard of the sub it is given');

# A log-out through the router revokes on that shard only.
is(router("SELECT log_out_everywhere('$u0', except_jti => '$s0#laptop')"), '2', 'a log-out through the router revokes two tokens');
is(router("SELECT token_valid('$s0#phone', '$s0')"), 'f', '  ... the phone is signed out');
is(router("SELECT token_valid('$s0#laptop', '$s0')"), 't', '  ... the spared laptop is not');
is(router("SELECT is_revoked('$s0#tablet', '$s0')"), 't', '  ... the tablet is revoked');
is(on_shard(1, "SELECT count(*) FROM tokens WHERE purpose = 'revocation'"), '0', '  ... and nothing on the other shard changed');
is(on_shard(0, "SELECT count(*) FROM tokens WHERE purpose = 'revocation'"), '2', '  ... nor any other user on this one');

# A password change through the router: the password trigger of the shard,
# sparing the device that asked.
is(router("SELECT change_password('$u1', 'new', '$s1#phone')"), 't', 'a password change through the router');
is(router("SELECT string_agg(d || '=' || token_valid('$s1#' || d, '$s1'), ',' ORDER BY d) FROM unnest('{laptop,phone,tablet}'::text[]) d"),
	'laptop=false,phone=true,tablet=false', '  ... revokes every token of the user but the current one');

# An unknown user: the shard's P0002 reaches the router's caller.
my ($rc, $out, $err) = $node->psql('app', "\\set VERBOSITY verbose\nSELECT log_out_everywhere('00000000-0000-0000-0000-999999999999')");
like($err, qr/P0002/, 'an unknown user is P0002 through the router');

# The handshake stays local to the shard: a login open on the shard while a
# log-out arrives through the router is waited for and revoked.
my $login = $node->background_psql('tokens0');
$login->query_safe("BEGIN; SELECT shard.store_token('$s0#new-laptop', '$s0', (now() AT TIME ZONE 'utc') + interval '7 days', 'user')");
my $logout = $node->background_psql('app');
$logout->query_until(qr/sent/, "\\echo sent\nSELECT log_out_everywhere('$u0');\n");
$node->poll_query_until('tokens0',
	"SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = 'tokens0' AND wait_event_type = 'Lock' AND query LIKE '%log_out_everywhere%'")
  or die 'the routed log-out never waited for the open login';
pass('a routed log-out waits for an open login of its user on the shard');
$login->query_safe('COMMIT');
$login->quit;
$logout->quit;
is(router("SELECT token_valid('$s0#new-laptop', '$s0')"), 'f', '  ... and revokes its token once it commits');

# Expiry on every shard.
on_shard($_, "UPDATE tokens SET expires_at = now() - interval '1 day' WHERE subject LIKE '%1'") foreach (0, 1);
my $expunged = router('SELECT sum(e) FROM expunge_expired() e');
ok($expunged > 0, "expunge_expired runs on every shard ($expunged rows)");

$node->stop;
done_testing();
