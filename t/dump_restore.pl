# pg_dump / restore of a database that uses logout_everywhere with
# apply_on_password_change and a custom action_name / argument_name (issue
# 5.1).  The dump is restored (plain SQL through psql, and custom format
# through pg_restore) into fresh databases with no error; there the settings,
# the password trigger, the token guard (concurrency) and the generated
# action all work.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use FindBin;
use lib "$FindBin::RealBin/lib";
use LogoutEverywhereTest;

my $node = start_node('dump_restore', "lc_messages = 'C'\n");

my $tmpdir = PostgreSQL::Test::Utils::tempdir();
my $src = 'le_dump_src';
$node->safe_psql('postgres', "CREATE DATABASE $src");

$node->safe_psql($src, <<"SQL");
CREATE EXTENSION logout_everywhere;
CREATE SCHEMA app;
CREATE TABLE app.accounts (id bigint PRIMARY KEY, email text NOT NULL, pw_hash text);
CREATE TABLE app.tokens $ash_tokens_ddl;
SQL
$node->safe_psql($src, <<'SQL');
INSERT INTO app.accounts SELECT i, 'u' || i || '@example.com', 'hash' || i FROM generate_series(1, 5) i;
SELECT logout_everywhere.enable('app.accounts', 'app.tokens',
       id_column => 'id', password_column => 'pw_hash', subject_name => 'account',
       exclude_purposes => '{revocation,api_key}',
       apply_on_password_change => true,
       action_name => 'sign_out_all', argument_name => 'acct');
-- 3 live tokens per account (user, remember_me, api_key) + 1 expired
INSERT INTO app.tokens (jti, subject, expires_at, purpose)
SELECT 'a' || i || '-' || p, 'account?id=' || i,
       (now() AT TIME ZONE 'utc') + interval '1 day', p
FROM generate_series(1, 5) i, unnest('{user,remember_me,api_key}'::text[]) p;
INSERT INTO app.tokens (jti, subject, expires_at, purpose)
SELECT 'a' || i || '-old', 'account?id=' || i, (now() AT TIME ZONE 'utc') - interval '1 day', 'user'
FROM generate_series(1, 5) i;
-- an inheritance child of the token table with a primary key of its own:
-- the restore adds that key (an ALTER TABLE) after it loaded the settings,
-- then creates the child's guard
CREATE TABLE app.tokens_archive () INHERITS (app.tokens);
ALTER TABLE app.tokens_archive ADD PRIMARY KEY (jti);
SQL
note 'source database set up';

my $settings_sql =
  'SELECT row(s.*)::text FROM logout_everywhere.settings s ORDER BY 1';
my $triggers_sql = <<'SQL';
SELECT string_agg(tgrelid::regclass || ':' || tgname || ':' || tgfoid::regproc, ',' ORDER BY tgname)
  FROM pg_trigger WHERE NOT tgisinternal
   AND tgrelid IN ('app.accounts'::regclass, 'app.tokens'::regclass, 'app.tokens_archive'::regclass)
SQL
my $action_sql = <<'SQL';
SELECT p.oid::regprocedure || ' ' || coalesce(array_to_string(p.proargnames, ','), '') || ' ' || p.prorettype::regtype
  FROM pg_proc p WHERE p.pronamespace = 'app'::regnamespace AND p.proname = 'sign_out_all'
SQL
my $tokens_sql =
  "SELECT string_agg(jti || ':' || purpose, ',' ORDER BY jti) FROM app.tokens";
my $src_settings = $node->safe_psql($src, $settings_sql);
my $src_triggers = $node->safe_psql($src, $triggers_sql);
my $src_action = $node->safe_psql($src, $action_sql);
note "settings: $src_settings";
note "triggers: $src_triggers";
note "action:   $src_action";
ok($src_settings ne '', 'a settings row after enable');
ok($src_action ne '', 'an action app.sign_out_all after enable');
my $src_tokens = $node->safe_psql($src, $tokens_sql);

my $pg_dump = $node->installed_command('pg_dump');
$node->command_ok([ $pg_dump, '-Fp', '-f', "$tmpdir/dump.sql", '-d', $node->connstr($src) ],
	'plain dump');
$node->command_ok([ $pg_dump, '-Fc', '-f', "$tmpdir/dump.custom", '-d', $node->connstr($src) ],
	'custom-format dump');

$node->safe_psql('postgres', 'CREATE DATABASE le_dump_plain TEMPLATE template0');
$node->safe_psql('postgres', 'CREATE DATABASE le_dump_custom TEMPLATE template0');

my ($out, $err) = ('', '');
my $restored = IPC::Run::run(
	[
		$node->installed_command('psql'), '-X', '-q', '-v', 'ON_ERROR_STOP=1',
		'--single-transaction', '-d', $node->connstr('le_dump_plain'),
		'-f', "$tmpdir/dump.sql"
	],
	'<', \undef, '>', \$out, '2>', \$err);
ok($restored && $err !~ /ERROR|WARNING/,
	'plain dump restores with no error or warning')
  or diag("plain restore: $err");

($out, $err) = ('', '');
$restored = IPC::Run::run(
	[
		$node->installed_command('pg_restore'), '--exit-on-error',
		'--single-transaction', '-d', $node->connstr('le_dump_custom'),
		"$tmpdir/dump.custom"
	],
	'<', \undef, '>', \$out, '2>', \$err);
ok($restored && $err !~ /ERROR|WARNING/,
	'custom dump restores with pg_restore with no error or warning')
  or diag("custom restore: $err");

for my $db ('le_dump_plain', 'le_dump_custom')
{
	note "checking $db";
	my $q = sub { return $node->safe_psql($db, $_[0]); };
	is($q->($settings_sql), $src_settings, "$db: settings restored");
	is($q->($triggers_sql), $src_triggers, "$db: triggers restored");
	is($q->($action_sql), $src_action, "$db: action restored");
	is($q->($tokens_sql), $src_tokens, "$db: tokens restored");
	is( $q->(<<'SQL'),
SELECT count(*) > 0 FROM pg_depend d JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
 WHERE p.proname = 'sign_out_all' AND d.refclassid = 'pg_proc'::regclass
   AND d.refobjid IN (SELECT objid FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
                        AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'logout_everywhere'))
SQL
		't',
		"$db: action still depends on the extension (DROP EXTENSION refused)");

	# Password trigger: changing account 1's password revokes its user and
	# remember_me tokens (api_key is excluded; the expired one is left alone).
	$q->("UPDATE app.accounts SET pw_hash = 'new' WHERE id = 1");
	is( $q->("SELECT string_agg(jti, ',' ORDER BY jti) FROM app.tokens WHERE purpose = 'revocation'"),
		'a1-remember_me,a1-user',
		"$db: password change revokes the configured purposes of that account only");
	# Same value written again: nothing more.
	$q->("UPDATE app.accounts SET pw_hash = pw_hash, email = email || 'x' WHERE id = 2");
	is($q->("SELECT count(*) FROM app.tokens WHERE purpose = 'revocation'"),
		'2', "$db: rewriting the same password revokes nothing");
	# current_jti is spared.
	$q->("BEGIN; SET LOCAL logout_everywhere.current_jti = 'a2-user'; UPDATE app.accounts SET pw_hash = 'n2' WHERE id = 2; COMMIT");
	is( $q->("SELECT string_agg(jti || ':' || purpose, ',' ORDER BY jti) FROM app.tokens WHERE subject = 'account?id=2' AND expires_at > now() AT TIME ZONE 'utc'"),
		'a2-api_key:api_key,a2-remember_me:revocation,a2-user:user',
		"$db: password change spares logout_everywhere.current_jti");

	# The generated action with its custom name and argument name.
	is($q->("SELECT app.sign_out_all(a) FROM app.accounts a WHERE email = 'u3\@example.com'"),
		'2', "$db: action app.sign_out_all(acct) revokes account 3");
	is($q->('SELECT app.sign_out_all(acct => a) FROM app.accounts a WHERE id = 4'),
		'2', "$db: action called with the named argument");
	is($q->('SELECT logout_everywhere.log_out_everywhere(5)'),
		'2', "$db: log_out_everywhere uses the restored settings");
	is($q->('SELECT logout_everywhere.subject_for(42)'),
		'account?id=42', "$db: subject_for uses the restored subject_name");
	is( $q->("SELECT logout_everywhere.token_valid('a5-api_key', 'api_key')::text || ',' || logout_everywhere.is_revoked('a5-user')::text"),
		'true,true',
		"$db: token_valid / is_revoked work");

	# Token guard (concurrency mechanism): a login of account 5 that is still
	# open makes a log-out of account 5 wait (here: hit lock_timeout), while
	# a log-out of another account does not wait.  The login and the sleep
	# are one psql -c, so one transaction.
	my ($bg_out, $bg_err) = ('', '');
	my $login = IPC::Run::start(
		[
			$node->installed_command('psql'), '-X', '-q', '-d', $node->connstr($db),
			'-c', "INSERT INTO app.tokens (jti, subject, expires_at, purpose)
                   VALUES ('a5-open', 'account?id=5', now() AT TIME ZONE 'utc' + interval '1 day', 'user');
                   SELECT pg_sleep(300)"
		],
		'<', \undef, '>', \$bg_out, '2>', \$bg_err);
	if (ok( $node->poll_query_until($db,
				"SELECT count(*) = 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'"),
			"$db: the open login holds its transaction"))
	{
		is( $q->("SELECT count(*) > 0 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.wait_event = 'PgSleep' AND l.locktype = 'advisory' AND l.granted"),
			't',
			"$db: the open login holds a guard lock");
		expect_error("$db: log-out of account 5 waits for the open login",
			'55P03', $db,
			"SET lock_timeout = '2s'; SELECT logout_everywhere.log_out_everywhere(5)");
		is($q->("SET lock_timeout = '2s'; SELECT logout_everywhere.log_out_everywhere(4)"),
			'0', "$db: log-out of account 4 does not wait");
		$q->("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'");
	}
	else
	{
		$login->kill_kill;
	}
	$login->finish;
	is($q->("SELECT count(*) FROM app.tokens WHERE jti = 'a5-open'"),
		'0', "$db: the cancelled login left nothing");

	# disable / enable still work on the restored database.
	expect_ok("$db: disable works", $db, "SELECT logout_everywhere.disable('app.accounts')");
	is( $q->("SELECT count(*) FROM pg_proc WHERE proname = 'sign_out_all'") . '/'
		  . $q->("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'app.accounts'::regclass AND NOT tgisinternal"),
		'0/0',
		"$db: disable removed the action and the password triggers");
	is($q->("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'app.tokens'::regclass AND NOT tgisinternal"),
		'0', "$db: disable of the last user table removed the token guard");
	expect_ok("$db: enable again works", $db,
		"SELECT logout_everywhere.enable('app.accounts', 'app.tokens', password_column => 'pw_hash', subject_name => 'account', apply_on_password_change => true)"
	);
}

$node->stop;
done_testing();
