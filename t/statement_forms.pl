# Issue 5.4 (continued): the password trigger under every way PostgreSQL
# can change a password column, and under two-phase commit.  Each case must
# revoke exactly the users whose password changed, once:
#   nested UPDATEs from AFTER and BEFORE row triggers (the nested
#   statement's log-out must not lose or duplicate the outer statement's
#   users), a nested change whose outer statement then fails, MERGE,
#   INSERT ... ON CONFLICT DO UPDATE, UPDATE through a view, writable CTEs,
#   a PL/pgSQL loop, UPDATE ... WHERE CURRENT OF, a function called from a
#   SELECT, PREPARE TRANSACTION + COMMIT PREPARED / ROLLBACK PREPARED.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/lib";
use LogoutEverywhereTest;

my $node = start_node('statement_forms', "max_prepared_transactions = 5\n");

my $db = 'le_forms';
qv('postgres', "CREATE DATABASE $db");
qv($db, <<"SQL");
CREATE EXTENSION logout_everywhere;
CREATE TABLE users (id int PRIMARY KEY, hashed_password text NOT NULL);
CREATE TABLE tokens $ash_tokens_ddl;
SQL
qv($db, <<'SQL');
INSERT INTO users SELECT i, 'h' FROM generate_series(1, 100) i;
INSERT INTO tokens (jti, subject, expires_at, purpose)
  SELECT 't' || i || '-' || p, 'user?id=' || i, now() AT TIME ZONE 'utc' + interval '1 day', p
  FROM generate_series(1, 100) i, unnest('{user,remember_me}'::text[]) p;
SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true);
-- user ids with revoked tokens, and how many tokens are revoked
CREATE FUNCTION revoked() RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') || ' n=' || coalesce(sum(n), 0)
  FROM (SELECT split_part(subject, '=', 2)::int AS id, count(*) AS n FROM tokens
        WHERE purpose = 'revocation' GROUP BY 1) s $$;
-- resetting must not fire the password trigger
CREATE FUNCTION reset_all() RETURNS void LANGUAGE sql AS $$
  SELECT set_config('session_replication_role', 'replica', true);
  UPDATE tokens SET purpose = split_part(jti, '-', 2) WHERE purpose = 'revocation';
  UPDATE users SET hashed_password = 'h' WHERE hashed_password <> 'h';
  DELETE FROM users WHERE id > 100;
  SELECT set_config('session_replication_role', 'origin', true) $$;
CREATE FUNCTION nested_after() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id = 80 THEN UPDATE users SET hashed_password = 'n' WHERE id = 81; END IF;
  IF NEW.id = 90 THEN RAISE EXCEPTION 'outer statement fails after a nested change'; END IF;
  RETURN NULL;
END $$;
CREATE FUNCTION nested_before() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.id = 83 THEN UPDATE users SET hashed_password = 'n' WHERE id = 84; END IF;
  RETURN NEW;
END $$;
CREATE FUNCTION change_pw(int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN UPDATE users SET hashed_password = 'f' WHERE id = $1; RETURN $1; END $$;
CREATE VIEW v_users AS SELECT * FROM users;
SQL

# case_ NAME SQL EXPECTED: reset, run SQL (errors allowed), compare
# revoked(); returns the SQL's stderr.
sub case_
{
	my ($name, $sql, $expected) = @_;
	qv($db, 'SELECT reset_all()');
	my ($out, $err) = ('', '');
	$node->psql($db, $sql, stdout => \$out, stderr => \$err, on_error_stop => 1);
	is(qv($db, 'SELECT revoked()'), $expected, $name);
	return $err;
}

qv($db, 'CREATE TRIGGER zz_nested AFTER UPDATE ON users FOR EACH ROW EXECUTE FUNCTION nested_after()');
case_('nested UPDATE from an AFTER row trigger',
	q{UPDATE users SET hashed_password = 'n' WHERE id IN (80, 82)}, '80,81,82 n=6');
my $err = case_('nested change, then the outer statement fails: nothing',
	q{UPDATE users SET hashed_password = 'n' WHERE id IN (80, 90)}, ' n=0');
like($err, qr/outer statement fails/, '  ... the outer statement did fail');
qv($db, 'DROP TRIGGER zz_nested ON users; CREATE TRIGGER aa_nested BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION nested_before()');
case_('nested UPDATE from a BEFORE row trigger',
	q{UPDATE users SET hashed_password = 'n' WHERE id IN (83, 85)}, '83,84,85 n=6');
qv($db, 'DROP TRIGGER aa_nested ON users');
case_('MERGE ... WHEN MATCHED THEN UPDATE',
	q{MERGE INTO users u USING (VALUES (10), (11)) v(id) ON u.id = v.id WHEN MATCHED THEN UPDATE SET hashed_password = 'm'}, '10,11 n=4');
case_('INSERT ... ON CONFLICT DO UPDATE (one changed, one same value, one insert)',
	q{INSERT INTO users VALUES (12, 'u'), (13, 'h'), (101, 'x') ON CONFLICT (id) DO UPDATE SET hashed_password = excluded.hashed_password}, '12 n=2');
case_('UPDATE through a view', q{UPDATE v_users SET hashed_password = 'v' WHERE id = 14}, '14 n=2');
case_('writable CTE plus main UPDATE',
	q{WITH c AS (UPDATE users SET hashed_password = 'c' WHERE id = 15 RETURNING id) UPDATE users SET hashed_password = 'd' WHERE id = 16}, '15,16 n=4');
case_('PL/pgSQL loop, one statement per user',
	q{DO $$ BEGIN FOR i IN 17..19 LOOP UPDATE users SET hashed_password = 'l' WHERE id = i; END LOOP; END $$}, '17,18,19 n=6');
case_('the same user twice in one transaction',
	q{BEGIN; UPDATE users SET hashed_password = 'a' WHERE id = 23; UPDATE users SET hashed_password = 'b' WHERE id = 23; COMMIT}, '23 n=2');
case_('UPDATE ... WHERE CURRENT OF',
	q{BEGIN; DECLARE cur CURSOR FOR SELECT * FROM users WHERE id = 20 FOR UPDATE; FETCH cur; UPDATE users SET hashed_password = 'k' WHERE CURRENT OF cur; COMMIT}, '20 n=2');
case_('a function called from a SELECT list', 'SELECT change_pw(i) FROM generate_series(24, 26) i', '24,25,26 n=6');
qv($db, 'SELECT reset_all()');
qv($db, q{BEGIN; UPDATE users SET hashed_password = 'p' WHERE id = 21; PREPARE TRANSACTION 'le_forms_1'});
is(qv($db, 'SELECT revoked()'), ' n=0', 'PREPARE TRANSACTION: nothing visible yet');
qv($db, q{COMMIT PREPARED 'le_forms_1'});
is(qv($db, 'SELECT revoked()'), '21 n=2', 'COMMIT PREPARED: the revocation is committed');
qv($db, q{BEGIN; UPDATE users SET hashed_password = 'p' WHERE id = 22; PREPARE TRANSACTION 'le_forms_2'});
qv($db, q{ROLLBACK PREPARED 'le_forms_2'});
is(qv($db, 'SELECT revoked()'), '21 n=2', 'ROLLBACK PREPARED: nothing more');
is(qv($db, 'SELECT hashed_password FROM users WHERE id = 22'), 'h', 'ROLLBACK PREPARED: password 22 unchanged');
qv($db, 'SELECT reset_all()');
qv($db, q{UPDATE users SET hashed_password = 'after' WHERE id = 30});
is(qv($db, 'SELECT revoked()'), '30 n=2', 'after all that, a plain change revokes only its own user');

$node->stop;
done_testing();
