# logout_everywhere.notify_channel with a very large bulk change: a password
# change of 20,000 users in one statement sends 20,000 notifications, one
# per subject, all at commit, and a listener receives every one; a rolled
# back one sends none. A subject too long for a NOTIFY payload (8000 bytes
# and more) is sent as an empty payload ("drop every cached check").
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $users = 20000;
my $node = PostgreSQL::Test::Cluster->new('notify');
$node->init;
$node->start;
$node->safe_psql('postgres', qq{
  CREATE EXTENSION logout_everywhere;
  CREATE TABLE users (id text PRIMARY KEY, hashed_password text NOT NULL);
  INSERT INTO users SELECT i::text, 'h' FROM generate_series(1, $users) i;
  INSERT INTO users VALUES (repeat('x', 9000), 'h');
  CREATE TABLE tokens (jti text PRIMARY KEY, subject text NOT NULL,
    expires_at timestamp(0) NOT NULL, purpose text NOT NULL);
  INSERT INTO tokens SELECT 'j' || i, 'user?id=' || i, (now() AT TIME ZONE 'utc') + interval '1 day', 'user'
    FROM generate_series(1, $users) i;
  INSERT INTO tokens VALUES ('long', 'user?id=' || repeat('x', 9000), (now() AT TIME ZONE 'utc') + interval '1 day', 'user');
  SET client_min_messages = warning;
  SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true);
  ALTER DATABASE postgres SET logout_everywhere.notify_channel = 'revoked';
});

my $listener = $node->background_psql('postgres');
$listener->query_safe('LISTEN revoked');

# Notifications received so far, as (payload => count).
sub received
{
	my $out = $listener->query_safe('SELECT 1');
	my %payloads;
	# psql leaves out 'with payload ""' for an empty payload
	$payloads{ $1 // '' }++
	  while $out =~ /Asynchronous notification "revoked"(?: with payload "([^"]*)")? received/g;
	return \%payloads;
}

# Rolled back: nothing.
$node->safe_psql('postgres', q{
  BEGIN; UPDATE users SET hashed_password = 'rolled back'; ROLLBACK;});
is(scalar(keys %{ received() }), 0, 'a rolled-back bulk change sends nothing');

# Committed: one per subject, every one received.
$node->safe_psql('postgres', "UPDATE users SET hashed_password = 'new'");
my $got = received();
is(scalar(grep { $_ ne '' } keys %$got), $users, "a bulk change of $users users sends $users notifications");
is(scalar(grep { $got->{$_} != 1 } keys %$got), 0, '  ... exactly one per subject');
ok(exists $got->{'user?id=1'} && exists $got->{"user?id=$users"}, '  ... with the subject as payload');
is($got->{''}, 1, '  ... and one empty payload for the subject too long to send');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM tokens WHERE purpose = 'revocation'"), $users + 1, '  ... and every token is revoked');

$listener->quit;
$node->stop;
done_testing();
