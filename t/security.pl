# Issue 5.6: security.
#  - hostile search_path: operators, functions and catalog-named views that
#    shadow pg_catalog's, ahead of it on search_path, change nothing (and are
#    never called) in enable, disable, log-outs, checks, expunge, the
#    password trigger, the token guard and the generated action;
#  - names that need quoting (schemas, tables, columns, action and argument
#    names, subject_name);
#  - enable/disable by a role that does not own the user table -> 42501;
#  - missing EXECUTE, or missing UPDATE on the token table -> 42501 and
#    nothing changed; the minimal grants of the contract are enough;
#  - row-level security hiding tokens: they are not revoked, the count says so;
#  - no SECURITY DEFINER function; EXECUTE revoked from PUBLIC everywhere;
#  - the extension is not trusted: a database owner cannot create it.
use strict;
use warnings;
use FindBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib "$FindBin::RealBin/lib";
use LogoutEverywhereTest;

my $root = "$FindBin::RealBin/..";

my $node = start_node('security');

my $db = 'le_security';
qv('postgres', "CREATE DATABASE $db");
qv('postgres', "CREATE ROLE le_app; CREATE ROLE le_alice; CREATE ROLE le_dbowner CREATEDB");
my $exp = "now() AT TIME ZONE 'utc' + interval '1 day'";
my $old = "now() AT TIME ZONE 'utc' - interval '1 day'";

qv($db, <<"SQL");
CREATE EXTENSION logout_everywhere;
CREATE TABLE users (id int PRIMARY KEY, email text, hashed_password text);
CREATE TABLE tokens $ash_tokens_ddl;
CREATE TABLE x (keep int);   -- must survive hostile names
INSERT INTO users SELECT i, 'u' || i, 'h' FROM generate_series(1, 20) i;
-- every user: user, remember_me, api_key live; one expired
CREATE FUNCTION seed_tokens() RETURNS void LANGUAGE sql AS \$\$
  DELETE FROM tokens;
  INSERT INTO tokens (jti, subject, expires_at, purpose)
    SELECT 'u' || i || '-' || p, 'user?id=' || i, $exp, p
    FROM generate_series(1, 20) i, unnest('{user,remember_me,api_key}'::text[]) p;
  INSERT INTO tokens (jti, subject, expires_at, purpose)
    SELECT 'u' || i || '-old', 'user?id=' || i, $old, 'user' FROM generate_series(1, 20) i;
\$\$;
SELECT seed_tokens();
SQL
# "id:jti-suffix:purpose" of every token that is not in its seeded state.
my $changed_sql = q{SELECT coalesce(string_agg(jti || ':' || purpose, ',' ORDER BY jti), '') FROM tokens WHERE purpose <> coalesce(nullif(split_part(jti, '-', 2), 'old'), 'user')};

note('--- hostile search_path');
qv($db, <<'SQL');
CREATE SEQUENCE public.evil_hits;
GRANT USAGE ON SEQUENCE public.evil_hits TO PUBLIC;
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.hit() RETURNS void LANGUAGE sql AS $$ SELECT nextval('public.evil_hits') $$;
-- comparison operators that always say true
CREATE FUNCTION evil.t_text(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.hit(); SELECT true $$;
CREATE FUNCTION evil.t_name(name, name) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.hit(); SELECT true $$;
CREATE FUNCTION evil.t_int4(int4, int4) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.hit(); SELECT true $$;
CREATE FUNCTION evil.t_int8(int8, int8) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.hit(); SELECT true $$;
CREATE FUNCTION evil.t_oid(oid, oid) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.hit(); SELECT true $$;
CREATE FUNCTION evil.t_ts(timestamp, timestamp) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.hit(); SELECT true $$;
CREATE FUNCTION evil.t_tstz(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.hit(); SELECT true $$;
CREATE FUNCTION evil.t_arr(anyarray, anyarray) RETURNS boolean LANGUAGE sql AS $$ SELECT evil.hit(); SELECT true $$;
CREATE FUNCTION evil.cat(text, text) RETURNS text LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 'user?id=1' $$;
DO $$
DECLARE op text; t text;
BEGIN
  FOREACH op IN ARRAY '{=,<>,<,>,<=,>=}'::text[] LOOP
    FOREACH t IN ARRAY '{text:t_text,name:t_name,int4:t_int4,int8:t_int8,oid:t_oid,timestamp:t_ts,timestamptz:t_tstz}'::text[] LOOP
      EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.%s)',
                     op, split_part(t, ':', 1), split_part(t, ':', 1), split_part(t, ':', 2));
    END LOOP;
  END LOOP;
  FOREACH op IN ARRAY '{@>,<@,&&,=,<>}'::text[] LOOP
    EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = anyarray, RIGHTARG = anyarray, FUNCTION = evil.t_arr)', op);
  END LOOP;
END $$;
CREATE OPERATOR evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.cat);
-- functions that lie about the time, the length of things and text
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT evil.hit(); SELECT '1900-01-01'::pg_catalog.timestamptz $$;
CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT evil.hit(); SELECT '1900-01-01'::pg_catalog.timestamptz $$;
CREATE FUNCTION evil.statement_timestamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT evil.hit(); SELECT '1900-01-01'::pg_catalog.timestamptz $$;
CREATE FUNCTION evil.transaction_timestamp() RETURNS timestamptz LANGUAGE sql AS $$ SELECT evil.hit(); SELECT '1900-01-01'::pg_catalog.timestamptz $$;
CREATE FUNCTION evil.timezone(text, timestamptz) RETURNS timestamp LANGUAGE sql AS $$ SELECT evil.hit(); SELECT '1900-01-01'::pg_catalog.timestamp $$;
CREATE FUNCTION evil.timezone(text, timestamp) RETURNS timestamptz LANGUAGE sql AS $$ SELECT evil.hit(); SELECT '1900-01-01'::pg_catalog.timestamptz $$;
CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 'user' $$;
CREATE FUNCTION evil.upper(text) RETURNS text LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 'USER' $$;
CREATE FUNCTION evil.concat(VARIADIC text[]) RETURNS text LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 'user?id=1' $$;
CREATE FUNCTION evil.format(text, VARIADIC text[]) RETURNS text LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 'SELECT 1' $$;
CREATE FUNCTION evil.quote_ident(text) RETURNS text LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 'x' $$;
CREATE FUNCTION evil.cardinality(anyarray) RETURNS int LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 0 $$;
CREATE FUNCTION evil.array_length(anyarray, int) RETURNS int LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 0 $$;
CREATE FUNCTION evil.array_position(anyarray, anyelement) RETURNS int LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 1 $$;
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE sql AS $$ SELECT evil.hit(); SELECT NULL::anyelement WHERE false $$ ;
CREATE FUNCTION evil.text(int) RETURNS text LANGUAGE sql AS $$ SELECT evil.hit(); SELECT '1' $$;
CREATE FUNCTION evil.pg_advisory_xact_lock(bigint) RETURNS void LANGUAGE sql AS $$ SELECT evil.hit() $$;
CREATE FUNCTION evil.pg_advisory_xact_lock_shared(bigint) RETURNS void LANGUAGE sql AS $$ SELECT evil.hit() $$;
CREATE FUNCTION evil.hashtext(text) RETURNS int LANGUAGE sql AS $$ SELECT evil.hit(); SELECT 0 $$;
-- catalog-named views that show nothing
CREATE VIEW evil.pg_class AS SELECT * FROM pg_catalog.pg_class WHERE evil.hit() IS NULL AND false;
CREATE VIEW evil.pg_attribute AS SELECT attrelid, attname, atttypid, attnum, atttypmod, attnotnull, attisdropped FROM pg_catalog.pg_attribute WHERE evil.hit() IS NULL AND false;
CREATE VIEW evil.pg_trigger AS SELECT * FROM pg_catalog.pg_trigger WHERE evil.hit() IS NULL AND false;
CREATE VIEW evil.pg_index AS SELECT * FROM pg_catalog.pg_index WHERE evil.hit() IS NULL AND false;
CREATE VIEW evil.pg_proc AS SELECT * FROM pg_catalog.pg_proc WHERE evil.hit() IS NULL AND false;
CREATE VIEW evil.pg_namespace AS SELECT * FROM pg_catalog.pg_namespace WHERE evil.hit() IS NULL AND false;
CREATE TABLE evil.settings (LIKE logout_everywhere.settings);
CREATE TABLE evil.tokens (LIKE public.tokens);
DO $$ BEGIN PERFORM setval('public.evil_hits', 1, false); END $$;
SQL
my $evil_path = 'evil,pg_catalog,public';
# qe DB SQL: q with the hostile search_path set at connection time.
sub qe { local $ENV{PGOPTIONS} = "-c search_path=$evil_path"; return qv(@_); }
sub hits { return qv($db, 'SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM evil_hits'); }

expect_ok('enable under the hostile search_path', $db,
	"SET search_path = $evil_path; SELECT logout_everywhere.enable('public.users', 'public.tokens', exclude_purposes => '{revocation,api_key}', apply_on_password_change => true)");
is(qv($db, "SELECT user_table::text || ' ' || token_table::text FROM logout_everywhere.settings"),
	'users tokens', 'settings recorded the right tables');
is(qe($db, 'SELECT logout_everywhere.subject_for(5)'), 'user?id=5', 'subject_for');
is(qe($db, 'SELECT logout_everywhere.log_out_everywhere(5)'), 2,
	"log_out_everywhere(5) revokes user 5's 2 live, not excluded tokens");
is(qe($db, q{SELECT logout_everywhere.log_out_everywhere(6, include_purposes => '{user,api_key}', exclude_purposes => '{remember_me}', except_jti => 'u6-user')}),
	1, 'log_out_everywhere with include/exclude/except_jti');
is(qe($db, q{SELECT logout_everywhere.revoke_subject('user?id=7')}), 2, 'revoke_subject');
is(qe($db, 'SELECT public.log_out_everywhere(u) FROM public.users u WHERE id OPERATOR(pg_catalog.=) 8'),
	2, 'the generated action');
qe($db, q{UPDATE public.users SET hashed_password = 'new' WHERE id OPERATOR(pg_catalog.=) 9});
qe($db, 'UPDATE public.users SET hashed_password = hashed_password WHERE id OPERATOR(pg_catalog.=) 10');
is(qv($db, $changed_sql),
	'u5-remember_me:revocation,u5-user:revocation,u6-api_key:revocation,u7-remember_me:revocation,u7-user:revocation,u8-remember_me:revocation,u8-user:revocation,u9-remember_me:revocation,u9-user:revocation',
	'only the intended tokens were revoked (5, 6 api_key, 7, 8, 9 by the password trigger; not 10)');
is(qe($db, q{SELECT pg_catalog.concat_ws(',', logout_everywhere.token_valid('u1-user'), logout_everywhere.token_valid('u1-old'), logout_everywhere.token_valid('u5-user'), logout_everywhere.token_valid('u1-user', 'remember_me'), logout_everywhere.is_revoked('u5-user'), logout_everywhere.is_revoked('u1-user'))}),
	't,f,f,f,t,f', 'token_valid / is_revoked');
expect_ok('a login (token guard) under the hostile search_path', $db,
	"SET search_path = $evil_path; INSERT INTO public.tokens (jti, subject, expires_at, purpose) VALUES ('new', 'user?id=11', pg_catalog.now() AT TIME ZONE 'utc' + interval '1 day', 'user')");
is(qe($db, 'SELECT logout_everywhere.expunge_expired()'), 20, 'expunge_expired deletes the 20 expired tokens only');
is(qv($db, 'SELECT count(*) FROM tokens'), 61, '  ... and 61 remain');
expect_ok('disable under the hostile search_path', $db,
	"SET search_path = $evil_path; SELECT logout_everywhere.disable('public.users')");
is(qv($db, q{SELECT count(*) FROM pg_proc WHERE proname = 'log_out_everywhere' AND pronamespace = 'public'::regnamespace})
	  . '/' . qv($db, q{SELECT count(*) FROM pg_trigger WHERE tgrelid = 'users'::regclass AND NOT tgisinternal}),
	'0/0', 'disable removed the action and the triggers');
is(hits(), 0, 'no shadowing object was ever called');
is(qv($db, 'SELECT (SELECT count(*) FROM evil.settings) + (SELECT count(*) FROM evil.tokens)'),
	0, 'evil.settings / evil.tokens untouched');
# Negative control: the shadowing objects do take effect on unqualified SQL.
is(qe($db, q{SELECT ('a' = 'b')::pg_catalog.text OPERATOR(pg_catalog.||) pg_catalog.date_part('year', now())::pg_catalog.text}),
	'true1900', q{negative control: unqualified 'a' = 'b' and now() are hijacked});
ok(hits() > 0, 'negative control: the hits are counted');
qv($db, q{SELECT seed_tokens(); UPDATE users SET hashed_password = 'h'});
qv($db, q{SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true)});

note('--- names that need quoting');
qv($db, <<"SQL");
CREATE SCHEMA "My Schema";
CREATE TABLE "My Schema"."User Table" ("Id Col" int PRIMARY KEY, "pass""word" text, "select" text);
CREATE SCHEMA "tok.sch";
CREATE TABLE "tok.sch"."Tokens!" $ash_tokens_ddl;
INSERT INTO "My Schema"."User Table" SELECT i, 'h', 's' FROM generate_series(1, 3) i;
INSERT INTO "tok.sch"."Tokens!" (jti, subject, expires_at, purpose)
  SELECT 'q' || i || '-' || p, 'us''er "x"?id=' || i, $exp, p FROM generate_series(1, 3) i, unnest('{user,remember_me}'::text[]) p;
SQL
my $action = 'Log Out "all"; DROP TABLE x; --';
my $qaction = qv($db, "SELECT quote_ident('$action')");
expect_ok('enable with quoted names', $db,
	qq{SELECT logout_everywhere.enable('"My Schema"."User Table"', '"tok.sch"."Tokens!"', id_column => 'Id Col', password_column => 'pass"word',
       subject_name => 'us''er "x"', apply_on_password_change => true, action_name => '$action', argument_name => 'the user')});
is(qv($db, q{SELECT logout_everywhere.subject_for(1, '"My Schema"."User Table"')}),
	q{us'er "x"?id=1}, 'subject_for with a quoted subject_name');
is(qv($db, qq{SELECT "My Schema".$qaction(u) FROM "My Schema"."User Table" u WHERE "Id Col" = 1}),
	2, 'the action with a hostile name');
is(qv($db, "SELECT array_to_string(proargnames, ',') FROM pg_proc WHERE proname = '$action'"),
	'the user', '  ... its argument is called "the user"');
qv($db, q{UPDATE "My Schema"."User Table" SET "pass""word" = 'n' WHERE "Id Col" = 2});
qv($db, q{UPDATE "My Schema"."User Table" SET "select" = 'n' WHERE "Id Col" = 3});
is(qv($db, q{SELECT string_agg(jti, ',' ORDER BY jti) FROM "tok.sch"."Tokens!" WHERE purpose = 'revocation'}),
	'q1-remember_me,q1-user,q2-remember_me,q2-user', 'the password trigger on a quoted column');
is(qv($db, q{SELECT logout_everywhere.log_out_everywhere(3, user_table => '"My Schema"."User Table"')}),
	2, 'log_out_everywhere with user_table given as a quoted name');
is(qv($db, q{SELECT count(*) FROM pg_class WHERE relname = 'x'}), 1, 'table x still exists');
expect_ok('disable with quoted names', $db, q{SELECT logout_everywhere.disable('"My Schema"."User Table"')});

note('--- ownership');
qv($db, q{GRANT USAGE ON SCHEMA logout_everywhere TO le_alice;
       GRANT EXECUTE ON FUNCTION logout_everywhere.enable(regclass, regclass, name, name, text, text[], text[], boolean, name, name),
                                 logout_everywhere.disable(regclass) TO le_alice;
       GRANT ALL ON users, tokens TO le_alice;
       CREATE TABLE users2 (id int PRIMARY KEY, hashed_password text)});
my $trace_sql = q{SELECT (SELECT string_agg(row(s.*)::text, ';') FROM logout_everywhere.settings s) || (SELECT count(*) FROM pg_trigger) || '/' || (SELECT count(*) FROM pg_proc)};
my $before = qv($db, $trace_sql);
expect_error('enable by a role that does not own the user table', '42501', $db,
	q{SET ROLE le_alice; SELECT logout_everywhere.enable('users2', 'tokens', apply_on_password_change => true)});
expect_error('enable again of an enabled table by a non-owner', '42501', $db,
	q{SET ROLE le_alice; SELECT logout_everywhere.enable('users', 'tokens', exclude_purposes => '{}')});
expect_error('disable by a non-owner', '42501', $db, q{SET ROLE le_alice; SELECT logout_everywhere.disable('users')});
is(qv($db, $trace_sql), $before, 'the refused calls left no trace');
qv($db, 'ALTER TABLE users2 OWNER TO le_alice; GRANT CREATE ON SCHEMA public TO le_alice');
expect_error('enable by the owner of the user table, not of the token table', '42501', $db,
	q{SET ROLE le_alice; SELECT logout_everywhere.enable('users2', 'tokens', subject_name => 'u2')});
qv($db, "CREATE TABLE tokens2 $ash_tokens_ddl; ALTER TABLE tokens2 OWNER TO le_alice;
       GRANT EXECUTE ON FUNCTION logout_everywhere.token_guard() TO le_alice");
expect_ok('enable by the owner of both tables (not a superuser) works', $db,
	q{SET ROLE le_alice; SELECT logout_everywhere.enable('users2', 'tokens2', subject_name => 'u2')});
expect_ok('disable by the owner works', $db, q{SET ROLE le_alice; SELECT logout_everywhere.disable('users2')});

note('--- missing privileges');
qv($db, 'GRANT USAGE ON SCHEMA logout_everywhere TO le_app; GRANT SELECT, UPDATE ON users TO le_app; GRANT SELECT, INSERT ON tokens TO le_app');
expect_error('log_out_everywhere without EXECUTE', '42501', $db, 'SET ROLE le_app; SELECT logout_everywhere.log_out_everywhere(1)');
expect_error('the generated action without EXECUTE', '42501', $db, 'SET ROLE le_app; SELECT log_out_everywhere(u) FROM users u WHERE id = 1');
expect_error('revoke_subject without EXECUTE', '42501', $db, q{SET ROLE le_app; SELECT logout_everywhere.revoke_subject('user?id=1')});
expect_error('token_valid without EXECUTE', '42501', $db, q{SET ROLE le_app; SELECT logout_everywhere.token_valid('u1-user')});
expect_error('expunge_expired without EXECUTE', '42501', $db, 'SET ROLE le_app; SELECT logout_everywhere.expunge_expired()');
qv($db, q{GRANT EXECUTE ON FUNCTION logout_everywhere.log_out_everywhere("any", text[], text[], text, regclass),
                              logout_everywhere.revoke_subject(text, text[], text[], text, regclass),
                              logout_everywhere.expunge_expired(regclass, int),
                              logout_everywhere.token_valid(text, text, regclass), public.log_out_everywhere(users) TO le_app});
expect_error('log_out_everywhere without UPDATE on the token table', '42501', $db, 'SET ROLE le_app; SELECT logout_everywhere.log_out_everywhere(1)');
expect_error('revoke_subject without UPDATE on the token table', '42501', $db, q{SET ROLE le_app; SELECT logout_everywhere.revoke_subject('user?id=1')});
expect_error('the action without UPDATE on the token table', '42501', $db, 'SET ROLE le_app; SELECT log_out_everywhere(u) FROM users u WHERE id = 1');
expect_error('a password change without UPDATE on the token table', '42501', $db, q{SET ROLE le_app; UPDATE users SET hashed_password = 'x' WHERE id = 1});
expect_error('expunge_expired without DELETE on the token table', '42501', $db, 'SET ROLE le_app; SELECT logout_everywhere.expunge_expired()');
is(qv($db, $changed_sql) . '/' . qv($db, q{SELECT count(*) FROM users WHERE hashed_password <> 'h'}) . '/' . qv($db, 'SELECT count(*) FROM tokens'),
	'/0/80', 'nothing changed by the refused calls');
expect_error('the settings table is not readable by the application role', '42501', $db, 'SET ROLE le_app; SELECT * FROM logout_everywhere.settings');
expect_ok('a login (token guard) by the application role with INSERT only', $db,
	"SET ROLE le_app; INSERT INTO tokens (jti, subject, expires_at, purpose) VALUES ('app-1', 'user?id=1', $exp, 'user')");
qv($db, 'GRANT UPDATE ON tokens TO le_app');
is(qv($db, 'SET ROLE le_app; SELECT logout_everywhere.log_out_everywhere(1)'), 4,
	q{with the contract's grants (no grant on settings) log_out_everywhere works (3 seeded + 1 new)});
is(qv($db, q{SET ROLE le_app; UPDATE users SET hashed_password = 'x' WHERE id = 2; SELECT count(*) FROM tokens WHERE subject = 'user?id=2' AND purpose = 'revocation'}),
	3, '  ... the password trigger works');
is(qv($db, q{SET ROLE le_app; SELECT logout_everywhere.token_valid('u3-user')}), 't', '  ... token_valid works');
qv($db, q{SELECT seed_tokens(); UPDATE users SET hashed_password = 'h'});

note('--- row-level security on the token table');
qv($db, <<'SQL');
ALTER TABLE tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY app_sel ON tokens FOR SELECT TO le_app USING (purpose <> 'remember_me');
CREATE POLICY app_upd ON tokens FOR UPDATE TO le_app USING (purpose <> 'remember_me') WITH CHECK (true);
CREATE POLICY app_ins ON tokens FOR INSERT TO le_app WITH CHECK (true);
SQL
is(qv($db, 'SET ROLE le_app; SELECT logout_everywhere.log_out_everywhere(12)'), 2,
	'log_out_everywhere as le_app revokes and counts only the visible tokens (user, api_key)');
is(qv($db, q{SELECT purpose FROM tokens WHERE jti = 'u12-remember_me'}), 'remember_me',
	'  ... the hidden remember_me token is not revoked');
is(qv($db, 'SELECT logout_everywhere.log_out_everywhere(12)'), 1,
	'the superuser (RLS bypassed) then revokes the hidden one');
qv($db, q{SET ROLE le_app; UPDATE users SET hashed_password = 'x' WHERE id = 13});
is(qv($db, q{SELECT string_agg(jti || ':' || purpose, ',' ORDER BY jti) FROM tokens WHERE subject = 'user?id=13' AND jti <> 'u13-old'}),
	'u13-api_key:revocation,u13-remember_me:remember_me,u13-user:revocation',
	'the password trigger as le_app also leaves the hidden token');
qv($db, q{ALTER TABLE tokens DISABLE ROW LEVEL SECURITY; SELECT seed_tokens(); UPDATE users SET hashed_password = 'h'});

note('--- SECURITY DEFINER, PUBLIC, trust');
my $ext_funcs = q{(SELECT objid FROM pg_depend WHERE classid = 'pg_proc'::regclass AND refclassid = 'pg_extension'::regclass AND deptype = 'e'
            AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'logout_everywhere'))};
my $related = "p.oid IN $ext_funcs OR p.pronamespace = 'logout_everywhere'::regnamespace OR p.probin LIKE '%logout_everywhere%'
         OR p.prosrc LIKE '%logout_everywhere%' OR (p.prosqlbody IS NOT NULL AND pg_get_functiondef(p.oid) LIKE '%logout_everywhere%')";
ok(qv($db, "SELECT count(*) FROM pg_proc p WHERE $related") >= 12, 'the extension has functions');
is(qv($db, "SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), '') FROM pg_proc p WHERE p.prosecdef AND ($related)"),
	'', q{no SECURITY DEFINER function (extension's or generated)});
# The install scripts, wherever DATA finds them (sql/ or the top directory).
my @scripts = (glob("$root/sql/logout_everywhere--*.sql"), glob("$root/logout_everywhere--*.sql"));
ok(scalar(@scripts) > 0, 'the install scripts are found') or diag("none under $root");
my $secdef = 0;
for my $f (@scripts)
{
	for my $line (split /\n/, slurp_file($f))
	{
		$line =~ s/--.*//;
		$secdef++ if $line =~ /security *definer/i;
	}
}
is($secdef, 0, 'no SECURITY DEFINER in the install scripts (outside comments)');
is(qv($db, "SELECT coalesce(string_agg(p.oid::regprocedure::text, ', '), '') FROM pg_proc p
              WHERE ($related) AND EXISTS (SELECT FROM aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                                           WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')"),
	'', 'no function of the extension, nor the generated action, is executable by PUBLIC');
is(qv($db, q{SELECT count(*) FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a WHERE c.oid = 'logout_everywhere.settings'::regclass AND a.grantee = 0}),
	0, 'the settings table grants nothing to PUBLIC');
is(qv($db, q{SELECT string_agg(DISTINCT trusted::text || ',' || superuser::text, ';') FROM pg_available_extension_versions WHERE name = 'logout_everywhere'}),
	'false,true', 'the extension is not trusted and needs a superuser');
# A comment within the five lines above "trusted = false".
my @control = split /\n/, slurp_file("$root/logout_everywhere.control");
my ($trusted_at) = grep { $control[$_] =~ /^trusted *= *false/ } 0 .. $#control;
ok(defined $trusted_at && grep({ /^#/ } @control[ ($trusted_at > 5 ? $trusted_at - 5 : 0) .. $trusted_at ]),
	'the control file says why trusted = false');
qv('postgres', 'CREATE DATABASE le_security_owned OWNER le_dbowner');
expect_error('a database owner who is not a superuser cannot create the extension', '42501', 'le_security_owned',
	'SET ROLE le_dbowner; CREATE EXTENSION logout_everywhere');
expect_ok('  ... while a trusted extension would be allowed (control)', 'le_security_owned',
	'SET ROLE le_dbowner; CREATE EXTENSION pgcrypto');

$node->stop;
done_testing();
