--
-- lock_coverage: every way a token is written takes the guard's lock, on a
-- tag that the log-out's lock meets (the subject in the token table, and in
-- every table the row lands below). Each case runs in a transaction and
-- shows the locks it holds. When a transaction escalates: lock_escalation.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_lock_coverage;
RESET client_min_messages;
CREATE DATABASE regress_le_lock_coverage;
SELECT current_database() AS regress_home \gset
\c regress_le_lock_coverage
\set VERBOSITY terse
CREATE EXTENSION logout_everywhere;

\getenv test_dir PG_ABS_SRCDIR
\i :test_dir/sql/include/held_locks.psql

CREATE TABLE users (id integer PRIMARY KEY, hashed_password text);
INSERT INTO users SELECT i, 'h' FROM generate_series(1, 10) i;
-- a token table partitioned by subject, with a partition that is itself
-- partitioned, and an inheritance token table for a second user table
CREATE TABLE tokens (
  jti        text NOT NULL,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  PRIMARY KEY (jti, subject)) PARTITION BY LIST (subject);
CREATE TABLE tokens_1 PARTITION OF tokens FOR VALUES IN ('user?id=1');
CREATE TABLE tokens_2 PARTITION OF tokens FOR VALUES IN ('user?id=2') PARTITION BY LIST (subject);
CREATE TABLE tokens_2_all PARTITION OF tokens_2 DEFAULT;
CREATE TABLE tokens_rest PARTITION OF tokens DEFAULT;
SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true);
SELECT tgrelid::regclass AS guarded FROM pg_trigger
 WHERE tgname = 'logout_everywhere_token_guard' ORDER BY 1::regclass::text;
CREATE VIEW live AS
  SELECT tableoid::regclass AS stored_in, jti, subject, purpose FROM tokens
   WHERE purpose <> 'revocation' ORDER BY jti;
\set later '(now() AT TIME ZONE ''utc'') + interval ''1 day'''

-- INSERT through the parent, and straight into a leaf
BEGIN;
INSERT INTO tokens VALUES ('a1', 'user?id=1', :later, 'user');
SELECT * FROM held;
ROLLBACK;
BEGIN;
INSERT INTO tokens_2_all VALUES ('a2', 'user?id=2', :later, 'user');
SELECT * FROM held;
ROLLBACK;
-- COPY
BEGIN;
COPY tokens (jti, subject, expires_at, purpose) FROM STDIN;
c1	user?id=1	2999-01-01 00:00:00	user
c2	user?id=2	2999-01-01 00:00:00	user
\.
SELECT * FROM held;
ROLLBACK;
-- an upsert whose conflict turns a revocation back into a live token (the
-- UPDATE path), and a MERGE that does both
INSERT INTO tokens VALUES ('u1', 'user?id=3', :later, 'revocation');
BEGIN;
SELECT * FROM held;
INSERT INTO tokens VALUES ('u1', 'user?id=3', :later, 'user')
  ON CONFLICT (jti, subject) DO UPDATE SET purpose = excluded.purpose;
SELECT * FROM held;
ROLLBACK;
BEGIN;
MERGE INTO tokens t USING (VALUES ('u1', 'user?id=3'), ('m2', 'user?id=4')) AS v(jti, subject)
  ON t.jti = v.jti AND t.subject = v.subject
  WHEN MATCHED THEN UPDATE SET purpose = 'user'
  WHEN NOT MATCHED THEN INSERT VALUES (v.jti, v.subject, (now() AT TIME ZONE 'utc') + interval '1 day', 'user');
SELECT * FROM held;
ROLLBACK;
-- a cross-partition UPDATE (the row moves from tokens_rest to tokens_1)
BEGIN;
UPDATE tokens SET subject = 'user?id=1', purpose = 'user' WHERE jti = 'u1';
SELECT * FROM held;
ROLLBACK;
-- a revocation takes no lock; a write of a revoked row neither
BEGIN;
UPDATE tokens SET updated_at = now() WHERE jti = 'u1';
INSERT INTO tokens VALUES ('r1', 'user?id=5', :later, 'revocation');
SELECT * FROM held;
ROLLBACK;
-- a partition attached later gets the guard (a clone of the parent's)
CREATE TABLE tokens_9 (LIKE tokens INCLUDING DEFAULTS);
ALTER TABLE tokens ATTACH PARTITION tokens_9 FOR VALUES IN ('user?id=9');
BEGIN;
INSERT INTO tokens_9 VALUES ('p9', 'user?id=9', :later, 'user');
SELECT * FROM held;
ROLLBACK;
-- the log-out: exclusive on the subject, then the table lock
BEGIN;
SELECT logout_everywhere.log_out_everywhere(1);
SELECT * FROM held;
ROLLBACK;

-- An application trigger that fires after the guard (its name sorts after
-- it) may change the subject: writes then take the table locks, which
-- any log-out meets whatever subject is stored.
CREATE FUNCTION set_subject() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.subject := 'user?id=' || split_part(NEW.jti, '-', 1); RETURN NEW; END $$;
CREATE TRIGGER zz_set_subject BEFORE INSERT ON tokens_rest
  FOR EACH ROW EXECUTE FUNCTION set_subject();
BEGIN;
INSERT INTO tokens_rest VALUES ('7-x', 'placeholder', :later, 'user');
SELECT * FROM held;
ROLLBACK;
-- one that sorts before the guard changes the row before the guard sees it
DROP TRIGGER zz_set_subject ON tokens_rest;
CREATE TRIGGER aa_set_subject BEFORE INSERT ON tokens_rest
  FOR EACH ROW EXECUTE FUNCTION set_subject();
BEGIN;
INSERT INTO tokens_rest VALUES ('7-x', 'placeholder', :later, 'user');
SELECT * FROM held;
SELECT stored_in, jti, subject FROM live;
ROLLBACK;
DROP TRIGGER aa_set_subject ON tokens_rest;

-- A transaction that stored a token and then logs the same user out takes
-- the exclusive lock beside its share lock (nobody else holds the subject, so
-- nothing waits; specs/concurrency_upgrade.spec has two such transactions).
BEGIN;
INSERT INTO tokens VALUES ('s1', 'user?id=1', :later, 'user');
SELECT logout_everywhere.log_out_everywhere(1, except_jti => 's1');
SELECT * FROM held;
SELECT stored_in, jti FROM live;
ROLLBACK;

-- A savepoint rolled back keeps the transaction's locks (they are the
-- transaction's, not the savepoint's).
BEGIN;
SAVEPOINT s;
INSERT INTO tokens VALUES ('v1', 'user?id=1', :later, 'user');
ROLLBACK TO SAVEPOINT s;
SELECT * FROM held;
ROLLBACK;

-- An inheritance token table: the guard goes on each child, also on a child
-- made after enable() (the ddl_command_end event trigger), and a child whose
-- guard is disabled makes a log-out refuse until enable() runs again.
CREATE TABLE staff (id integer PRIMARY KEY);
INSERT INTO staff VALUES (1);
CREATE TABLE staff_tokens (jti text PRIMARY KEY, subject text NOT NULL,
  expires_at timestamp(0) NOT NULL, purpose text NOT NULL);
CREATE TABLE staff_tokens_old () INHERITS (staff_tokens);
SELECT logout_everywhere.enable('staff', 'staff_tokens', subject_name => 'staff');
BEGIN;
INSERT INTO staff_tokens_old VALUES ('o1', 'staff?id=1', :later, 'user');
SELECT * FROM held;
ROLLBACK;
CREATE TABLE staff_tokens_new () INHERITS (staff_tokens);
SELECT tgname FROM pg_trigger WHERE tgrelid = 'staff_tokens_new'::regclass;
SELECT logout_everywhere.log_out_everywhere(1, user_table => 'staff');
-- a disabled guard counts as none
ALTER TABLE staff_tokens_old DISABLE TRIGGER logout_everywhere_token_guard;
SELECT logout_everywhere.log_out_everywhere(1, user_table => 'staff');
\echo :LAST_ERROR_SQLSTATE
-- and so does one that fires on replicas only
SELECT logout_everywhere.enable('staff', 'staff_tokens', subject_name => 'staff');
ALTER TABLE staff_tokens_old ENABLE REPLICA TRIGGER logout_everywhere_token_guard;
SELECT logout_everywhere.log_out_everywhere(1, user_table => 'staff');
\echo :LAST_ERROR_SQLSTATE
SELECT logout_everywhere.enable('staff', 'staff_tokens', subject_name => 'staff');
SELECT logout_everywhere.log_out_everywhere(1, user_table => 'staff');
-- Past 1 MB of kept jtis a writer escalates (lock_escalation has the
-- 10,000-jti bound): a 400 kB jti stored in an inheritance child (which has
-- no index on jti) is kept once for each of the two tables, a second one
-- passes 1 MB and takes the table-wide SHARE lock. A log-out after that
-- takes its table lock EXCLUSIVE.
BEGIN;
INSERT INTO staff_tokens_old VALUES (repeat('a', 400000), 'staff?id=1', :later, 'user');
SELECT * FROM held;
INSERT INTO staff_tokens_old VALUES (repeat('b', 400000), 'staff?id=1', :later, 'user');
SELECT * FROM held;
SELECT logout_everywhere.log_out_everywhere(1, user_table => 'staff') AS revoked;
SELECT * FROM held;
ROLLBACK;
-- An application trigger after the guard that turns a revocation into a
-- live token: the write takes the table locks (the guard has no
-- WHEN clause, so it sees revocations too).
CREATE FUNCTION revive() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.jti LIKE 'revive%' THEN NEW.purpose := 'user'; END IF; RETURN NEW; END $$;
CREATE TRIGGER zz_revive BEFORE INSERT ON staff_tokens FOR EACH ROW EXECUTE FUNCTION revive();
BEGIN;
INSERT INTO staff_tokens VALUES ('revive-1', 'staff?id=1', :later, 'revocation');
SELECT * FROM held;
ROLLBACK;
-- and a log-out on that table takes the table lock itself (its own
-- revoking UPDATE fires the guard, which sees the later trigger)
BEGIN;
SELECT logout_everywhere.log_out_everywhere(1, user_table => 'staff');
SELECT * FROM held;
ROLLBACK;
DROP TRIGGER zz_revive ON staff_tokens;
SELECT logout_everywhere.disable('staff');
SELECT count(*) AS guards_left FROM pg_trigger WHERE tgrelid::regclass::text LIKE 'staff_tokens%';

\c :regress_home
DROP DATABASE regress_le_lock_coverage WITH (FORCE);
