# Cancel, error and savepoints around the password trigger (issue 5.4).
#  - statement_timeout firing during a bulk password change (parked in the
#    user-table UPDATE, or in the middle of the revocation) revokes nothing;
#    the next password change in the same session revokes only its own
#    user's tokens (no subjects left over from the cancelled statement);
#  - ROLLBACK TO SAVEPOINT undoes exactly the revocations made after it;
#  - an error raised by another trigger later in the same statement (row
#    trigger, statement trigger after the extension's, deferred
#    constraint trigger at COMMIT, a trigger on the token table during the
#    revocation) rolls everything back, also when the error is caught by a
#    PL/pgSQL exception block, after which only later changes count.
# Each session prints "label=<revoked user ids> pw=<changed user ids>".
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib "$FindBin::RealBin/lib";
use LogoutEverywhereTest;

my $node = start_node('cancel_savepoints', "lc_messages = 'C'\n");

my $db = 'le_cancel';
$node->safe_psql('postgres', "CREATE DATABASE $db");
$node->safe_psql($db, <<"SQL");
CREATE EXTENSION logout_everywhere;
CREATE TABLE users (id int PRIMARY KEY, hashed_password text NOT NULL);
CREATE TABLE tokens $ash_tokens_ddl;
SQL
$node->safe_psql($db, <<'SQL');
INSERT INTO users SELECT i, 'h' || i FROM generate_series(1, 1000) i;
INSERT INTO tokens (jti, subject, expires_at, purpose, extra_data)
  SELECT 'u' || i || '-' || p, 'user?id=' || i, now() AT TIME ZONE 'utc' + interval '1 day', p,
         jsonb_build_object('p', p)
  FROM generate_series(1, 1000) i, unnest('{user,remember_me,magic_link}'::text[]) p;
SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true);

CREATE FUNCTION revoked_users() RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '')
  FROM (SELECT DISTINCT split_part(subject, '=', 2)::int AS id FROM tokens WHERE purpose = 'revocation') s $$;
CREATE FUNCTION changed_users() RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM users WHERE hashed_password <> 'h' || id $$;
CREATE FUNCTION state() RETURNS text LANGUAGE sql AS $$ SELECT revoked_users() || ' pw=' || changed_users() $$;
-- Resetting a password is a password change: no trigger may fire here.
CREATE FUNCTION reset_all() RETURNS void LANGUAGE sql AS $$
  SELECT set_config('session_replication_role', 'replica', true);
  UPDATE tokens SET purpose = extra_data->>'p' WHERE purpose = 'revocation';
  UPDATE users SET hashed_password = 'h' || id WHERE hashed_password <> 'h' || id;
  SELECT set_config('session_replication_role', 'origin', true) $$;

CREATE SEQUENCE park_counter;
CREATE FUNCTION park() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('park_counter') = TG_ARGV[0]::bigint THEN
    PERFORM pg_sleep(600);        -- statement_timeout ends this
  END IF;
  RETURN NEW;
END $$;
CREATE FUNCTION fail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_LEVEL = 'STATEMENT' AND current_setting('test.fail', true) IS DISTINCT FROM 'on' THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'test trigger % fails', TG_NAME USING ERRCODE = 'P0001';
END $$;
SQL

# run_session(SQL): one psql session that reads SQL and goes on after errors.
# Returns a hash of the values printed as LABEL=..., and the session's stderr.
sub run_session
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql(
		$db, $sql,
		on_error_stop => 0,
		stdout => \$out,
		stderr => \$err);
	my %result;
	for my $line (split /\n/, $out)
	{
		$result{$1} = $2 if $line =~ /^([a-z0-9_]+)=(.*)$/;
	}
	return (\%result, $err);
}

note 'statement_timeout during a bulk change';
my ($cancel, $cancel_err) = run_session(<<'SQL');
SELECT 'start=' || state();
-- a) parked half-way through the user table
CREATE TRIGGER park BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION park('500');
SET statement_timeout = '2s';
UPDATE users SET hashed_password = hashed_password || 'x';
RESET statement_timeout;
SELECT 'a_parked_at=' || last_value FROM park_counter;
SELECT 'a_after_cancel=' || state();
DROP TRIGGER park ON users;
UPDATE users SET hashed_password = 'p' WHERE id = 17;
SELECT 'a_next=' || state();
SELECT reset_all();
-- b) parked half-way through the revocation (1500 of 3000 tokens rewritten)
ALTER SEQUENCE park_counter RESTART;
CREATE TRIGGER park BEFORE UPDATE ON tokens FOR EACH ROW WHEN (NEW.purpose = 'revocation') EXECUTE FUNCTION park('1500');
SET statement_timeout = '2s';
UPDATE users SET hashed_password = hashed_password || 'x';
RESET statement_timeout;
SELECT 'b_parked_at=' || last_value FROM park_counter;
SELECT 'b_after_cancel=' || state();
DROP TRIGGER park ON tokens;
UPDATE users SET hashed_password = 'p' WHERE id = 18;
SELECT 'b_next=' || state();
SELECT 'b_action=' || logout_everywhere.log_out_everywhere(19);
SELECT 'b_action_state=' || state();
SELECT reset_all();
-- c) cancelled inside a savepoint; the transaction goes on
ALTER SEQUENCE park_counter RESTART;
CREATE TRIGGER park BEFORE UPDATE ON tokens FOR EACH ROW WHEN (NEW.purpose = 'revocation') EXECUTE FUNCTION park('1500');
BEGIN;
UPDATE users SET hashed_password = 'p' WHERE id = 20;
SAVEPOINT s;
SET LOCAL statement_timeout = '2s';
UPDATE users SET hashed_password = hashed_password || 'x';
ROLLBACK TO SAVEPOINT s;
SET LOCAL statement_timeout = 0;
UPDATE users SET hashed_password = 'p' WHERE id = 21;
COMMIT;
SELECT 'c_parked_at=' || last_value FROM park_counter;
SELECT 'c_after=' || state();
DROP TRIGGER park ON tokens;
SELECT reset_all();
SQL
is($cancel->{start}, ' pw=', 'cancel session: clean start');
my $cancels = () = $cancel_err =~ /canceling statement due to statement timeout/g;
is($cancels, 3, 'three statements were cancelled by statement_timeout')
  or diag("stderr: $cancel_err");
note "a) parked at user $cancel->{a_parked_at} of 1000; "
  . "b) at revocation $cancel->{b_parked_at} of 3000; c) at $cancel->{c_parked_at}";
is($cancel->{a_after_cancel}, ' pw=',
	'a) cancel in the user-table UPDATE: nothing revoked, no password changed');
is($cancel->{a_next}, '17 pw=17',
	'a) next change in the session revokes only its own user');
is($cancel->{b_after_cancel}, ' pw=',
	'b) cancel in the middle of the revocation: nothing revoked, no password changed');
is($cancel->{b_next}, '18 pw=18',
	'b) next change in the session revokes only its own user');
is($cancel->{b_action}, '3',
	"b) log_out_everywhere after the cancel revokes one user's 3 tokens");
is($cancel->{b_action_state}, '18,19 pw=18', 'b) state after it');
is($cancel->{c_after}, '20,21 pw=20,21',
	'c) cancel inside a savepoint: only the changes outside it count');

note 'savepoints';
my ($sp, $sp_err) = run_session(<<'SQL');
BEGIN;
UPDATE users SET hashed_password = 'a' WHERE id = 1;
SAVEPOINT s1;
UPDATE users SET hashed_password = 'a' WHERE id = 2;
SELECT 'lo3=' || logout_everywhere.log_out_everywhere(3);
SAVEPOINT s2;
UPDATE users SET hashed_password = 'a' WHERE id IN (4, 5);
SELECT logout_everywhere.revoke_subject('user?id=6');
SELECT 'in_s2=' || state();
ROLLBACK TO SAVEPOINT s2;
SELECT 'after_rb_s2=' || state();
UPDATE users SET hashed_password = 'a' WHERE id = 7;
ROLLBACK TO SAVEPOINT s1;
SELECT 'after_rb_s1=' || state();
SAVEPOINT s3;
UPDATE users SET hashed_password = 'a' WHERE id = 8;
RELEASE SAVEPOINT s3;
UPDATE users SET hashed_password = 'a' WHERE id = 9;
COMMIT;
SELECT 'committed=' || state();
-- the same token revoked in a savepoint, rolled back, revoked again
BEGIN;
SAVEPOINT x;
SELECT 'x1=' || logout_everywhere.log_out_everywhere(10);
ROLLBACK TO SAVEPOINT x;
SELECT 'x2=' || logout_everywhere.log_out_everywhere(10);
COMMIT;
SELECT 'again=' || state();
SELECT reset_all();
SQL
is($sp_err, '', 'savepoints: no error');
is($sp->{in_s2}, '1,2,3,4,5,6 pw=1,2,4,5', 'inside s2 everything is visible');
is($sp->{after_rb_s2}, '1,2,3 pw=1,2',
	'ROLLBACK TO s2 undoes the revocations of 4, 5 and 6 only');
is($sp->{after_rb_s1}, '1 pw=1', 'ROLLBACK TO s1 undoes 2, 3 and 7 only');
is($sp->{committed}, '1,8,9 pw=1,8,9',
	'after COMMIT: 1, 8 (released savepoint) and 9');
is(($sp->{x1} // '') . '/' . ($sp->{x2} // ''), '3/3',
	'a revocation rolled back to a savepoint can be made again, count 3 both times');
is($sp->{again}, '1,8,9,10 pw=1,8,9', 'state after it');

note 'errors raised by other triggers';
my ($e, $e_err) = run_session(<<'SQL');
-- a) an AFTER row trigger (it fires before the extension's statement trigger) fails on the 2nd row
CREATE TRIGGER zz_fail_row AFTER UPDATE ON users FOR EACH ROW WHEN (NEW.id = 25) EXECUTE FUNCTION fail();
UPDATE users SET hashed_password = 'e' WHERE id IN (24, 25, 26);
SELECT 'a=' || state();
UPDATE users SET hashed_password = 'e' WHERE id = 27;
SELECT 'a_next=' || state();
-- ... and a BEFORE row trigger that fails
CREATE TRIGGER aa_fail_before BEFORE UPDATE ON users FOR EACH ROW WHEN (NEW.id = 29) EXECUTE FUNCTION fail();
UPDATE users SET hashed_password = 'e' WHERE id IN (28, 29);
SELECT 'a_before=' || state();
-- b) a statement trigger that fires after the extension's
CREATE TRIGGER zz_fail_stmt AFTER UPDATE ON users FOR EACH STATEMENT EXECUTE FUNCTION fail();
SET test.fail = 'on';
UPDATE users SET hashed_password = 'e' WHERE id IN (30, 31);
SELECT 'b=' || state();
SET test.fail = 'off';
UPDATE users SET hashed_password = 'e' WHERE id = 32;
SELECT 'b_next=' || state();
-- c) a deferred constraint trigger that fails at COMMIT
CREATE CONSTRAINT TRIGGER zz_deferred AFTER UPDATE ON users DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (NEW.id = 41) EXECUTE FUNCTION fail();
BEGIN;
UPDATE users SET hashed_password = 'e' WHERE id IN (40, 41);
SELECT logout_everywhere.log_out_everywhere(42);
COMMIT;
SELECT 'c=' || state();
-- d) the failing statement is caught by an exception block; the rest of the
--    transaction goes on
DO $$
BEGIN
  BEGIN
    UPDATE users SET hashed_password = 'e' WHERE id IN (50, 25, 51);
  EXCEPTION WHEN raise_exception THEN
    RAISE NOTICE 'caught: %', SQLERRM;
  END;
  UPDATE users SET hashed_password = 'e' WHERE id = 52;
END $$;
SELECT 'd=' || state();
-- e) a trigger on the token table fails in the middle of the revocation:
--    the password UPDATE fails as a whole
CREATE TRIGGER zz_fail_token BEFORE UPDATE ON tokens FOR EACH ROW
  WHEN (NEW.purpose = 'revocation' AND OLD.jti = 'u61-remember_me') EXECUTE FUNCTION fail();
UPDATE users SET hashed_password = 'e' WHERE id IN (60, 61, 62);
SELECT 'e=' || state();
DROP TRIGGER zz_fail_token ON tokens;
UPDATE users SET hashed_password = 'e' WHERE id = 63;
SELECT 'e_next=' || state();
SQL
my $row_errors = () = $e_err =~ /ERROR:  test trigger zz_fail_row fails/g;
is($row_errors, 1, 'a) the failing row trigger aborted the statement');
is($e->{a}, ' pw=', 'a) AFTER row trigger error: nothing revoked or changed');
is($e->{a_next}, '27 pw=27', 'a) next change revokes only its own user');
is($e->{a_before}, '27 pw=27', 'a) BEFORE row trigger error: nothing more revoked');
is($e->{b}, '27 pw=27',
	"b) statement trigger after the extension's: everything rolled back");
is($e->{b_next}, '27,32 pw=27,32', 'b) next change revokes only its own user');
like($e_err, qr/test trigger zz_deferred fails/,
	'c) deferred trigger failed at COMMIT');
is($e->{c}, '27,32 pw=27,32',
	'c) failure at COMMIT rolls back the password change and the log-out');
is($e->{d}, '27,32,52 pw=27,32,52',
	'd) error caught by an exception block: only the later change counts');
like($e_err, qr/test trigger zz_fail_token fails/,
	'e) token-table trigger failed during the revocation');
is($e->{e}, '27,32,52 pw=27,32,52',
	'e) failed revocation: password UPDATE fails, nothing revoked');
is($e->{e_next}, '27,32,52,63 pw=27,32,52,63',
	'e) next change revokes only its own user');

$node->stop;
done_testing();
