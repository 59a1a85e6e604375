# DROP EXTENSION (issue 5.2).  Without CASCADE it is refused while a table is
# enabled (the dependencies are printed); with CASCADE it removes the
# triggers and the generated actions, leaves no function that calls the
# missing extension, and the user and token tables keep working; CREATE
# EXTENSION then works again.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib "$FindBin::RealBin/lib";
use LogoutEverywhereTest;

my $node = start_node('drop_extension', "lc_messages = 'C'\n");

my $db = 'le_drop';
$node->safe_psql('postgres', "CREATE DATABASE $db");

sub sql { return qv($db, $_[0]); }

sub setup
{
	sql(<<'SQL');
CREATE EXTENSION logout_everywhere;
SELECT logout_everywhere.enable('public.users', 'public.tokens', apply_on_password_change => true);
SELECT logout_everywhere.enable('shop.customers', 'shop.tokens', subject_name => 'customer',
       action_name => 'kick', argument_name => 'c');
SQL
}

sql(<<"SQL");
CREATE TABLE users (id int PRIMARY KEY, hashed_password text);
CREATE TABLE tokens $ash_tokens_ddl;
CREATE SCHEMA shop;
CREATE TABLE shop.customers (id uuid PRIMARY KEY, hashed_password text);
CREATE TABLE shop.tokens $ash_tokens_ddl;
INSERT INTO users SELECT i, 'h' FROM generate_series(1, 3) i;
INSERT INTO shop.customers VALUES ('11111111-1111-1111-1111-111111111111', 'h');
INSERT INTO tokens (jti, subject, expires_at, purpose)
  SELECT 't' || i, 'user?id=' || i, now() AT TIME ZONE 'utc' + interval '1 day', 'user' FROM generate_series(1, 3) i;
SQL
setup();

# Objects outside the extension that depend on it (what blocks a plain DROP).
my $deps = sql(<<'SQL');
SELECT string_agg(DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid), '; ' ORDER BY pg_describe_object(d.classid, d.objid, d.objsubid))
  FROM pg_depend d
  WHERE d.deptype = 'n'
    AND ((d.refclassid = 'pg_extension'::regclass AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'logout_everywhere'))
      OR (d.refclassid, d.refobjid) IN (SELECT classid, objid FROM pg_depend
                                         WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
                                           AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'logout_everywhere')))
    AND NOT EXISTS (SELECT FROM pg_depend e WHERE e.classid = d.classid AND e.objid = d.objid AND e.deptype = 'e')
SQL
note "dependencies on the extension: $deps";
for my $obj (
	'kick(shop.customers)',
	'function log_out_everywhere(users)',
	'trigger logout_everywhere_password on table users',
	'trigger logout_everywhere_token_guard on table tokens',
	'trigger logout_everywhere_token_guard on table shop.tokens')
{
	ok(index($deps, $obj) >= 0, "recorded dependency: $obj");
}

expect_error('DROP EXTENSION without CASCADE is refused while tables are enabled',
	'2BP01', $db, 'DROP EXTENSION logout_everywhere');
is(sql("SELECT count(*) FROM pg_extension WHERE extname = 'logout_everywhere'"),
	'1', 'nothing dropped by the refused DROP');

# Disabling one of two tables is not enough.
sql("SELECT logout_everywhere.disable('shop.customers')");
expect_error('still refused while one table is enabled',
	'2BP01', $db, 'DROP EXTENSION logout_everywhere');

# With no table enabled, a plain DROP works.
sql("SELECT logout_everywhere.disable('users')");
expect_ok('plain DROP EXTENSION works once every table is disabled',
	$db, 'DROP EXTENSION logout_everywhere');
sql('DROP EXTENSION IF EXISTS logout_everywhere CASCADE');  # only if the plain DROP failed
setup();

expect_ok('DROP EXTENSION ... CASCADE', $db, 'DROP EXTENSION logout_everywhere CASCADE');
# CREATE EXTENSION creates the control file's schema before the extension
# exists, so the schema is not a member and stays (empty) after the DROP.
is( join('/',
		sql("SELECT count(*) FROM pg_class WHERE relnamespace::regnamespace::text = 'logout_everywhere'"),
		sql("SELECT count(*) FROM pg_proc WHERE pronamespace::regnamespace::text = 'logout_everywhere'"),
		sql("SELECT count(*) FROM pg_type WHERE typnamespace::regnamespace::text = 'logout_everywhere'")),
	'0/0/0',
	'schema logout_everywhere is gone or empty');
is( sql("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN ('users'::regclass, 'tokens'::regclass, 'shop.customers'::regclass, 'shop.tokens'::regclass)"),
	'0',
	'no trigger left on the user and token tables');
is(sql("SELECT count(*) FROM pg_proc WHERE proname IN ('kick', 'log_out_everywhere')"),
	'0', 'no generated action left');
is( sql(<<'SQL'),
SELECT count(*) FROM pg_proc p WHERE p.probin LIKE '%logout_everywhere%' OR p.prosrc LIKE '%logout_everywhere%'
  OR (p.prosqlbody IS NOT NULL AND pg_get_functiondef(p.oid) LIKE '%logout_everywhere%')
SQL
	'0',
	'no function left that refers to the extension (by library, body or schema)');
is( sql("SELECT count(*) FROM pg_depend d WHERE d.refclassid = 'pg_proc'::regclass AND NOT EXISTS (SELECT FROM pg_proc WHERE oid = d.refobjid)"),
	'0',
	'no object left that depends on a missing object');
expect_ok('updating passwords still works', $db, "UPDATE users SET hashed_password = 'x' || id");
expect_ok('updating customers still works', $db, "UPDATE shop.customers SET hashed_password = 'y'");
expect_ok('writing tokens still works', $db, <<'SQL');
INSERT INTO tokens (jti, subject, expires_at, purpose) VALUES ('t9', 'user?id=1', now() AT TIME ZONE 'utc' + interval '1 day', 'user');
UPDATE tokens SET purpose = 'revocation' WHERE jti = 't9'
SQL
is(sql("SELECT count(*) FROM tokens WHERE purpose = 'revocation' AND jti <> 't9'"),
	'0', 'no token was revoked by the password updates');

my ($dump, $dump_err) = ('', '');
IPC::Run::run([ $node->installed_command('pg_dump'), '-s', '-d', $node->connstr($db) ],
	'>', \$dump, '2>', \$dump_err)
  or BAIL_OUT("pg_dump failed: $dump_err");
my @refs = grep {
	/logout_everywhere/
	  && !/^(CREATE|ALTER) SCHEMA logout_everywhere|^-- Name: logout_everywhere; Type: SCHEMA/
} split /\n/, $dump;
is(join("\n", @refs), '',
	'dump of the database has no reference to the extension (but its empty schema)');

# And back.
expect_ok('CREATE EXTENSION again', $db, 'CREATE EXTENSION logout_everywhere');
is(sql('SELECT count(*) FROM logout_everywhere.settings'),
	'0', 'settings are empty after re-creation');
expect_ok('enable again', $db,
	"SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true)");
sql("UPDATE users SET hashed_password = 'z' WHERE id = 2");
is( sql("SELECT string_agg(jti, ',' ORDER BY jti) FROM tokens WHERE purpose = 'revocation' AND jti <> 't9'"),
	't2',
	'password trigger works after re-creation');
is(sql('SELECT log_out_everywhere(u) FROM users u WHERE id = 3'),
	'1', 'action works after re-creation');

$node->stop;
done_testing();
