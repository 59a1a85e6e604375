#!/bin/bash
# Issue 5.4: cancel, error and savepoints around the password trigger.
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
# Each psql session prints "label=<revoked user ids> pw=<changed user ids>".
set -euo pipefail
. "$(dirname "$0")/lib/robust.bash"

DB=le_cancel
q postgres "DROP DATABASE IF EXISTS $DB"
q postgres "CREATE DATABASE $DB"
qs $DB <<'SQL'
CREATE EXTENSION logout_everywhere;
CREATE TABLE users (id int PRIMARY KEY, hashed_password text NOT NULL);
CREATE TABLE tokens (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));
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

# run_session NAME: psql reads the session from stdin, continues after
# errors; stdout kept in $TMPD/NAME.out, stderr in $TMPD/NAME.err.
run_session() {
    psql -X -q -At -d $DB >"$TMPD/$1.out" 2>"$TMPD/$1.err" || true
}
# result NAME LABEL: the value printed as LABEL=... in session NAME.
result() { sed -n "s/^$2=//p" "$TMPD/$1.out"; }
has_error() { grep -q "$2" "$TMPD/$1.err"; }

say "--- statement_timeout during a bulk change"
run_session cancel <<'SQL'
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
check "cancel session: clean start" "$(result cancel start)" " pw="
grep -c 'canceling statement due to statement timeout' "$TMPD/cancel.err" | grep -qx 3 \
    && ok "three statements were cancelled by statement_timeout" \
    || bad "expected 3 statement_timeout cancels, stderr: $(cat "$TMPD/cancel.err")"
say "a) parked at user $(result cancel a_parked_at) of 1000; b) at revocation $(result cancel b_parked_at) of 3000; c) at $(result cancel c_parked_at)"
check "a) cancel in the user-table UPDATE: nothing revoked, no password changed" "$(result cancel a_after_cancel)" " pw="
check "a) next change in the session revokes only its own user" "$(result cancel a_next)" "17 pw=17"
check "b) cancel in the middle of the revocation: nothing revoked, no password changed" "$(result cancel b_after_cancel)" " pw="
check "b) next change in the session revokes only its own user" "$(result cancel b_next)" "18 pw=18"
check "b) log_out_everywhere after the cancel revokes one user's 3 tokens" "$(result cancel b_action)" 3
check "b) state after it" "$(result cancel b_action_state)" "18,19 pw=18"
check "c) cancel inside a savepoint: only the changes outside it count" "$(result cancel c_after)" "20,21 pw=20,21"

say "--- savepoints"
run_session savepoints <<'SQL'
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
check "savepoints: no error" "$(cat "$TMPD/savepoints.err")" ""
check "inside s2 everything is visible" "$(result savepoints in_s2)" "1,2,3,4,5,6 pw=1,2,4,5"
check "ROLLBACK TO s2 undoes the revocations of 4, 5 and 6 only" "$(result savepoints after_rb_s2)" "1,2,3 pw=1,2"
check "ROLLBACK TO s1 undoes 2, 3 and 7 only" "$(result savepoints after_rb_s1)" "1 pw=1"
check "after COMMIT: 1, 8 (released savepoint) and 9" "$(result savepoints committed)" "1,8,9 pw=1,8,9"
check "a revocation rolled back to a savepoint can be made again, count 3 both times" \
    "$(result savepoints x1)/$(result savepoints x2)" "3/3"
check "state after it" "$(result savepoints again)" "1,8,9,10 pw=1,8,9"

say "--- errors raised by other triggers"
run_session errors <<'SQL'
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
check "a) the failing row trigger aborted the statement" "$(grep -c 'ERROR:  test trigger zz_fail_row fails' "$TMPD/errors.err")" 1
check "a) AFTER row trigger error: nothing revoked or changed" "$(result errors a)" " pw="
check "a) next change revokes only its own user" "$(result errors a_next)" "27 pw=27"
check "a) BEFORE row trigger error: nothing more revoked" "$(result errors a_before)" "27 pw=27"
check "b) statement trigger after the extension's: everything rolled back" "$(result errors b)" "27 pw=27"
check "b) next change revokes only its own user" "$(result errors b_next)" "27,32 pw=27,32"
if has_error errors 'test trigger zz_deferred fails'; then ok "c) deferred trigger failed at COMMIT"; else bad "c) deferred trigger did not fail"; fi
check "c) failure at COMMIT rolls back the password change and the log-out" "$(result errors c)" "27,32 pw=27,32"
check "d) error caught by an exception block: only the later change counts" "$(result errors d)" "27,32,52 pw=27,32,52"
if has_error errors 'test trigger zz_fail_token fails'; then ok "e) token-table trigger failed during the revocation"; else bad "e) token-table trigger did not fail"; fi
check "e) failed revocation: password UPDATE fails, nothing revoked" "$(result errors e)" "27,32,52 pw=27,32,52"
check "e) next change revokes only its own user" "$(result errors e_next)" "27,32,52,63 pw=27,32,52,63"

finish
