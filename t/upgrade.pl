# The upgrade path: CREATE EXTENSION logout_everywhere VERSION '<v>' then
# ALTER EXTENSION logout_everywhere UPDATE, for every installed version v
# (today only 1.0, so the update is a no-op; once a 1.1 exists with its
# sql/logout_everywhere--1.0--1.1.sql, the same test checks the real
# upgrade).  For each v it checks that
#
#   - 1.0, the first release, is still installable (databases out there are
#     at 1.0; its install script must ship forever);
#   - PostgreSQL finds an update path from v to the default version;
#   - after the update the extension is at the default version and its
#     objects (functions with their arguments, results, volatility, C symbol,
#     privileges and comments; the settings table's columns, indexes and
#     triggers; the schema's privileges; the config-dump registration) are
#     exactly those of a fresh CREATE EXTENSION;
#   - a user table enabled under v keeps working: its settings row is
#     unchanged, the password trigger (sparing current_jti) and the action
#     log_out_everywhere(user) revoke as before;
#   - an application role granted the functions under v can still call
#     them after the update, a quoted literal id included: it resolves to
#     the text version that 1.1 adds, which the update does not grant (a
#     grant by an extension script is not dumped) but names, in a WARNING
#     per role with the GRANT to run; the test runs those, as the README
#     says, and a dump of the updated database keeps them;
#   - a dump taken under 1.0 restores as 1.1 (pg_dump records no version);
#     the token guard that 1.0 made (with a WHEN clause, recreated here by
#     hand, as the library is always the current one) makes log-outs refuse
#     (55000) until enable() runs again for the user table, and the
#     application role needs EXECUTE on the text versions: the README's
#     Upgrading steps; after them it ends the same as a fresh install.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/lib";
use LogoutEverywhereTest;

my $ext = 'logout_everywhere';

my $node = start_node('upgrade', "lc_messages = 'C'\n");
my $tmpdir = PostgreSQL::Test::Utils::tempdir();
$node->safe_psql('postgres', 'CREATE ROLE le_app');

my $default = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = '$ext'");
ok($default ne '', "$ext is installed") or BAIL_OUT("$ext is not installed");
my @versions = split /\n/,
  $node->safe_psql('postgres',
	"SELECT version FROM pg_available_extension_versions WHERE name = '$ext' ORDER BY string_to_array(version, '.')::int[]"
  );
note "default version $default; installed versions: @versions";
ok((grep { $_ eq '1.0' } @versions),
	"version 1.0 is still installable (keep sql/$ext--1.0.sql)");

# Everything about the extension's own objects that an upgrade script could
# get wrong, one line per object, in a stable order.
my $fingerprint_sql = <<'SQL';
WITH e AS (SELECT oid, extrelocatable, extnamespace, extconfig, extcondition
             FROM pg_extension WHERE extname = 'logout_everywhere'),
     m AS (SELECT d.classid, d.objid, d.objsubid
             FROM pg_depend d, e
            WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid AND d.deptype = 'e')
SELECT pg_describe_object(m.classid, m.objid, m.objsubid)
    || coalesce(' | ' || (
         SELECT concat_ws(' | ', pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
                          p.prokind, p.provolatile, p.proisstrict, p.prosecdef, p.proleakproof,
                          p.proparallel, p.probin, p.prosrc, p.proconfig::text, p.proacl::text)
           FROM pg_proc p WHERE m.classid = 'pg_proc'::regclass AND p.oid = m.objid), '')
    || coalesce(' | ' || (
         SELECT concat_ws(' | ', c.relkind, c.relacl::text, c.relrowsecurity,
                  (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                     || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                                     || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), ''),
                                     ', ' ORDER BY a.attnum)
                     FROM pg_attribute a
                     LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                  (SELECT string_agg(pg_get_indexdef(i.indexrelid), ', ' ORDER BY pg_get_indexdef(i.indexrelid))
                     FROM pg_index i WHERE i.indrelid = c.oid),
                  (SELECT string_agg(pg_get_triggerdef(t.oid), ', ' ORDER BY pg_get_triggerdef(t.oid))
                     FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal))
           FROM pg_class c WHERE m.classid = 'pg_class'::regclass AND c.oid = m.objid), '')
    || coalesce(' | comment: ' || obj_description(m.objid, (SELECT relname FROM pg_class WHERE oid = m.classid)), '')
  FROM m
UNION ALL
SELECT concat_ws(' | ', 'extension', e.extrelocatable, n.nspname, n.nspacl::text,
                 e.extconfig::regclass[]::text, e.extcondition::text)
  FROM e JOIN pg_namespace n ON n.oid = e.extnamespace
ORDER BY 1;
SQL

# A user table enabled with the password trigger, and tokens of two users.
my $setup_app_sql = <<"SQL";
SET client_min_messages = warning;
CREATE SCHEMA app;
CREATE TABLE app.users (id bigint PRIMARY KEY, email text NOT NULL, hashed_password text NOT NULL);
CREATE TABLE app.tokens $ash_tokens_ddl;
SQL
$setup_app_sql .= <<'SQL';
\o /dev/null
SELECT logout_everywhere.enable('app.users', 'app.tokens', apply_on_password_change => true);
\o
INSERT INTO app.users VALUES (1, 'a@example.com', 'h1'), (2, 'b@example.com', 'h2');
-- an application role with the README's grants, on the functions this
-- version has
GRANT USAGE ON SCHEMA logout_everywhere, app TO le_app;
GRANT SELECT, INSERT, UPDATE ON app.tokens TO le_app;
GRANT SELECT ON app.users TO le_app;
DO $$
DECLARE f regprocedure;
BEGIN
  FOR f IN SELECT p.oid FROM pg_proc p
            WHERE p.pronamespace = 'logout_everywhere'::regnamespace
              AND p.proname IN ('token_valid', 'is_revoked', 'log_out_everywhere', 'subject_for')
  LOOP
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO le_app', f);
  END LOOP;
END $$;
INSERT INTO app.tokens (jti, subject, expires_at, purpose) VALUES
  ('t-laptop', 'user?id=1', now() AT TIME ZONE 'utc' + interval '7 days', 'user'),
  ('t-phone',  'user?id=1', now() AT TIME ZONE 'utc' + interval '7 days', 'user'),
  ('t-other',  'user?id=2', now() AT TIME ZONE 'utc' + interval '7 days', 'user');
SQL

my $extversion_sql = "SELECT extversion FROM pg_extension WHERE extname = '$ext'";

$node->safe_psql('postgres', 'CREATE DATABASE le_fresh');
$node->safe_psql('le_fresh', "CREATE EXTENSION $ext");
$node->safe_psql('le_fresh', $setup_app_sql);
my $fresh = $node->safe_psql('le_fresh', $fingerprint_sql);
is($node->safe_psql('le_fresh', $extversion_sql),
	$default, "CREATE EXTENSION installs the default version $default");
note "a fresh CREATE EXTENSION ($default): "
  . scalar(split /\n/, $fresh) . ' objects';

for my $v (@versions)
{
	(my $db = "le_from_$v") =~ s/[^0-9a-zA-Z_]/_/g;
	note "$v -> $default (database $db)";
	if ($v ne $default)
	{
		my $path = $node->safe_psql('postgres',
			"SELECT path FROM pg_extension_update_paths('$ext') WHERE source = '$v' AND target = '$default'"
		);
		ok($path ne '',
			"$v: an update path to $default (sql/$ext--$v--....sql)");
		note "update path: $path";
	}

	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, "CREATE EXTENSION $ext VERSION '$v'");
	is($node->safe_psql($db, $extversion_sql),
		$v, "CREATE EXTENSION ... VERSION '$v' installs $v");
	$node->safe_psql($db, $setup_app_sql);
	my $settings_before = $node->safe_psql($db,
		'SELECT row_to_json(s) FROM logout_everywhere.settings s');
	# the guard as 1.0 made it: writes of revocations skip it
	$node->safe_psql($db, <<'SQL') if $v eq '1.0';
DROP TRIGGER logout_everywhere_token_guard ON app.tokens;
CREATE TRIGGER logout_everywhere_token_guard BEFORE INSERT OR UPDATE ON app.tokens
  FOR EACH ROW WHEN (new.purpose IS DISTINCT FROM 'revocation') EXECUTE FUNCTION logout_everywhere.token_guard();
SQL

	# the dump for the restore below, taken before the update
	$node->command_ok(
		[ $node->installed_command('pg_dump'), '-Fc', '-f', "$tmpdir/$db.dump", '-d', $node->connstr($db) ],
		"$v: pg_dump before the update");

	my ($ret, $out, $err) = $node->psql($db, "ALTER EXTENSION $ext UPDATE");
	is($ret, 0, "$v: ALTER EXTENSION $ext UPDATE succeeds") or diag($err);
	note $err if $err ne '';
	if ($v eq $default)
	{
		like($err,
			qr/version "\Q$v\E" of extension "$ext" is already installed/,
			"$v: updating the default version is a no-op");
	}
	elsif ($v eq '1.0')
	{
		my @grants = $err =~ /HINT:  (GRANT EXECUTE ON FUNCTION .*;)/g;
		is( join("\n", @grants),
			"GRANT EXECUTE ON FUNCTION logout_everywhere.log_out_everywhere(text,text[],text[],text,regclass) TO le_app;\n"
			  . "GRANT EXECUTE ON FUNCTION logout_everywhere.subject_for(text,regclass) TO le_app;",
			"$v: the update names the GRANT of each text version that le_app needs");
		is($node->safe_psql($db,
				"SELECT has_function_privilege('le_app', 'logout_everywhere.subject_for(text, regclass)', 'EXECUTE')"),
			'f', "$v: ... and grants nothing itself");
		$node->safe_psql($db, join("\n", @grants));
	}
	is($node->safe_psql($db, $extversion_sql),
		$default, "$v: after ALTER EXTENSION UPDATE the version is $default");

	my $upgraded = $node->safe_psql($db, $fingerprint_sql);
	my %in_fresh = map { $_ => 1 } split /\n/, $fresh;
	my %in_upgraded = map { $_ => 1 } split /\n/, $upgraded;
	ok($upgraded eq $fresh,
		"$v updated to $default has the same objects as a fresh install")
	  or diag(join "\n",
		"(- fresh, + updated)",
		(map { "- $_" } grep { !$in_upgraded{$_} } split /\n/, $fresh),
		(map { "+ $_" } grep { !$in_fresh{$_} } split /\n/, $upgraded));

	is($node->safe_psql($db, 'SELECT row_to_json(s) FROM logout_everywhere.settings s'),
		$settings_before, "$v: the settings are unchanged by the update");

	# The password trigger, sparing the current device, then the action.
	$node->safe_psql($db, <<'SQL');
BEGIN;
SET LOCAL logout_everywhere.current_jti = 't-laptop';
UPDATE app.users SET hashed_password = 'h1-new' WHERE id = 1;
COMMIT;
SQL
	is( $node->safe_psql($db,
			"SELECT string_agg(jti || '=' || purpose, ',' ORDER BY jti) FROM app.tokens"),
		't-laptop=user,t-other=user,t-phone=revocation',
		"$v: the password trigger after the update");
	is($node->safe_psql($db, 'SELECT app.log_out_everywhere(u) FROM app.users u WHERE id = 1'),
		'1', "$v: the action log_out_everywhere(user) after the update revokes 1 token");
	is( $node->safe_psql($db,
			"SELECT logout_everywhere.token_valid('t-laptop'), logout_everywhere.is_revoked('t-laptop'), logout_everywhere.token_valid('t-other')"
		),
		'f|t|t',
		"$v: token checks after the update");
	is( $node->safe_psql($db,
			"SET ROLE le_app; SELECT logout_everywhere.log_out_everywhere('2', user_table => 'app.users'), "
			  . "logout_everywhere.subject_for('2', 'app.users')"),
		'1|user?id=2',
		"$v: the application role calls log_out_everywhere('2') and subject_for('2') after the update");

	next if $v ne '1.0';
	# The updated database, dumped and restored: the grants are kept.
	$node->command_ok(
		[ $node->installed_command('pg_dump'), '-Fc', '-f', "$tmpdir/$db.updated.dump", '-d', $node->connstr($db) ],
		"$v: pg_dump after the update");
	$node->safe_psql('postgres', "CREATE DATABASE ${db}_updated_restored TEMPLATE template0");
	$node->command_ok(
		[
			$node->installed_command('pg_restore'), '--exit-on-error',
			'-d', $node->connstr("${db}_updated_restored"), "$tmpdir/$db.updated.dump"
		],
		"$v: the updated database's dump restores");
	is( $node->safe_psql("${db}_updated_restored",
			"SET ROLE le_app; SELECT logout_everywhere.subject_for('1', 'app.users')"),
		'user?id=1', "$v: restored from a dump taken after the update: the application role keeps the text version");

	# A dump taken under 1.0, restored where 1.1 is installed: the README's
	# Upgrading steps.
	my $restored = "${db}_restored";
	$node->safe_psql('postgres', "CREATE DATABASE $restored TEMPLATE template0");
	$node->command_ok(
		[
			$node->installed_command('pg_restore'), '--exit-on-error',
			'-d', $node->connstr($restored), "$tmpdir/$db.dump"
		],
		"$v: the dump restores where $default is installed");
	is($node->safe_psql($restored, $extversion_sql), $default, "$v: the restore makes the extension $default");
	($ret, $out, $err) = $node->psql($restored, 'SELECT app.log_out_everywhere(u) FROM app.users u WHERE id = 1');
	like($err, qr/has no enabled logout_everywhere token guard/,
		"$v: restored: a log-out refuses the guard that $v made");
	$node->safe_psql($restored, <<'SQL');
SET client_min_messages = warning;
SELECT logout_everywhere.enable(user_table, token_table, id_column, password_column, subject_name,
         include_purposes, exclude_purposes, apply_on_password_change, action_name, argument_name)
  FROM logout_everywhere.settings;
GRANT EXECUTE ON FUNCTION logout_everywhere.log_out_everywhere(text, text[], text[], text, regclass),
                          logout_everywhere.subject_for(text, regclass) TO le_app;
SQL
	is($node->safe_psql($restored, $fingerprint_sql), $fresh,
		"$v: restored, enable() again, text versions granted: the same objects as a fresh install");
	is($node->safe_psql($restored, 'SELECT app.log_out_everywhere(u) FROM app.users u WHERE id = 1'),
		'2', "$v: restored: the action revokes the user's 2 tokens");
	is( $node->safe_psql($restored,
			"SET ROLE le_app; SELECT logout_everywhere.log_out_everywhere('2', user_table => 'app.users')"),
		'1', "$v: restored: the application role logs a user out by a quoted id");
}

# The statements the update names, for PUBLIC, a chain of grants three deep
# whose role names sort against the chain's order (le_z1 with the grant
# option grants le_y2, which grants le_app and an odd role name): once run in
# the order printed, each text version has the ACL of its typed version.
if (grep { $_ eq '1.0' } @versions)
{
	$node->safe_psql('postgres',
		q{CREATE DATABASE le_grants; CREATE ROLE le_z1; CREATE ROLE le_y2; CREATE ROLE "le ""odd"" app"});
	$node->safe_psql('le_grants', <<'SQL');
CREATE EXTENSION logout_everywhere VERSION '1.0';
GRANT USAGE ON SCHEMA logout_everywhere TO PUBLIC;
GRANT EXECUTE ON FUNCTION logout_everywhere.subject_for("any", regclass) TO PUBLIC;
GRANT EXECUTE ON FUNCTION logout_everywhere.log_out_everywhere("any", text[], text[], text, regclass)
  TO le_z1 WITH GRANT OPTION;
SET ROLE le_z1;
GRANT EXECUTE ON FUNCTION logout_everywhere.log_out_everywhere("any", text[], text[], text, regclass)
  TO le_y2 WITH GRANT OPTION;
SET ROLE le_y2;
GRANT EXECUTE ON FUNCTION logout_everywhere.log_out_everywhere("any", text[], text[], text, regclass)
  TO le_app, "le ""odd"" app";
RESET ROLE;
SQL
	my ($ret, $out, $err) = $node->psql('le_grants', "ALTER EXTENSION $ext UPDATE");
	my @grants = $err =~ /HINT:  (.*GRANT EXECUTE ON FUNCTION .*;.*)/g;
	is(scalar(@grants), 5, 'the update names 5 grants (PUBLIC, and the chain of four)')
	  or diag($err);
	$node->safe_psql('le_grants', join("\n", @grants));
	is( $node->safe_psql('le_grants', <<'SQL'),
SELECT bool_and((SELECT array_agg(a::text ORDER BY a::text) FROM unnest(typed.proacl) a)
              = (SELECT array_agg(a::text ORDER BY a::text) FROM unnest(text_version.proacl) a))
  FROM pg_proc typed, pg_proc text_version
 WHERE (typed.oid, text_version.oid) IN
       (('logout_everywhere.log_out_everywhere("any", text[], text[], text, regclass)'::regprocedure,
         'logout_everywhere.log_out_everywhere(text, text[], text[], text, regclass)'::regprocedure),
        ('logout_everywhere.subject_for("any", regclass)'::regprocedure,
         'logout_everywhere.subject_for(text, regclass)'::regprocedure))
SQL
		't', 'after the named statements each text version has the typed version\'s privileges');
}

# 1.0 gave the action to whoever called enable(): a superuser's action for
# another role's table (made so by hand, as the library is the current one)
# is the table owner's after the update, so enable() again replaces it.
if (grep { $_ eq '1.0' } @versions)
{
	$node->safe_psql('postgres', 'CREATE DATABASE le_owned; CREATE ROLE le_owner');
	$node->safe_psql('le_owned', <<"SQL");
SET client_min_messages = warning;
CREATE EXTENSION logout_everywhere VERSION '1.0';
CREATE TABLE users (id integer PRIMARY KEY, hashed_password text);
CREATE TABLE tokens $ash_tokens_ddl;
ALTER TABLE users OWNER TO le_owner;
ALTER TABLE tokens OWNER TO le_owner;
SELECT logout_everywhere.enable('users', 'tokens');
ALTER FUNCTION public.log_out_everywhere(users) OWNER TO CURRENT_USER;
ALTER EXTENSION logout_everywhere UPDATE;
SQL
	is($node->safe_psql('le_owned', "SELECT proowner::regrole FROM pg_proc WHERE oid = 'public.log_out_everywhere(users)'::regprocedure"),
		'le_owner', '1.0: after the update the action belongs to the user table\'s owner');
	my ($ret, $out, $err) = $node->psql('le_owned', "SELECT logout_everywhere.enable('users', 'tokens')");
	is($ret, 0, '1.0: ... and enable() again replaces it') or diag($err);
}

$node->stop;
done_testing();
