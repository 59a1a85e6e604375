--
-- lock_escalation: a transaction that would take too many locks takes the
-- table-wide lock instead, before it can exhaust the shared lock table or
-- keep an unbounded list of jtis for a give-back (lock_coverage shows the
-- locks of single writes and log-outs).
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_lock_escalation;
RESET client_min_messages;
CREATE DATABASE regress_le_lock_escalation;
SELECT current_database() AS regress_home \gset
\c regress_le_lock_escalation
\set VERBOSITY terse
CREATE EXTENSION logout_everywhere;

\getenv test_dir PG_ABS_SRCDIR
\i :test_dir/sql/include/held_locks.psql

-- More users than the shared lock table has room for (by default about
-- 7,000 locks: max_locks_per_transaction, 64, for each of about 110
-- backends), and a token table partitioned by subject.
CREATE TABLE users (id integer PRIMARY KEY, hashed_password text);
INSERT INTO users SELECT i, 'h' FROM generate_series(1, 13000) i;
CREATE TABLE tokens (
  jti        text NOT NULL,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  PRIMARY KEY (jti, subject)) PARTITION BY LIST (subject);
CREATE TABLE tokens_1 PARTITION OF tokens FOR VALUES IN ('user?id=1');
CREATE TABLE tokens_rest PARTITION OF tokens DEFAULT;
SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true);
CREATE VIEW live AS
  SELECT tableoid::regclass AS stored_in, jti, subject, purpose FROM tokens
   WHERE purpose <> 'revocation' ORDER BY jti;
\set later '(now() AT TIME ZONE ''utc'') + interval ''1 day'''

-- Escalation. More than 64 subject locks in one transaction (a row stored
-- in a partition takes one in each table it is stored under): the
-- table-wide SHARE lock, and no more subject locks.
BEGIN;
INSERT INTO tokens SELECT 'e' || i, 'user?id=' || i, :later, 'user' FROM generate_series(1, 200) i;
SELECT * FROM held;
ROLLBACK;
-- Many tokens of one subject: past 10,000 kept jtis (a row in a partition
-- keeps one per table it is stored under) the writer escalates too, so what
-- it keeps for a give-back stays bounded.
BEGIN;
INSERT INTO tokens SELECT 'one' || i, 'user?id=1', :later, 'user' FROM generate_series(1, 6000) i;
SELECT * FROM held;
-- a log-out after that takes its subject lock and the table lock EXCLUSIVE
-- (an escalated writer no longer records what a give-back would have to
-- revoke); a second log-out then takes no subject lock at all (one
-- ExclusiveLock subject below: user 2's, none for user 3)
SELECT logout_everywhere.log_out_everywhere(2) AS revoked;
SELECT logout_everywhere.log_out_everywhere(3) AS revoked;
SELECT * FROM held;
ROLLBACK;
-- The generated action over many users (one log-out per row): it escalates
-- to the table-wide EXCLUSIVE lock instead of exhausting the lock table.
INSERT INTO tokens SELECT 'x' || i, 'user?id=' || i, :later, 'user' FROM generate_series(1, 13000) i;
BEGIN;
SELECT sum(log_out_everywhere(u)) AS revoked FROM users u;
SELECT * FROM held;
COMMIT;
SELECT count(*) AS live_tokens FROM live;
-- a loop of single-user password changes in one transaction, likewise
INSERT INTO tokens SELECT 'y' || i, 'user?id=' || i, :later, 'user' FROM generate_series(1, 100) i;
BEGIN;
DO $$ BEGIN FOR i IN 1 .. 100 LOOP UPDATE users SET hashed_password = 'new' WHERE id = i; END LOOP; END $$;
SELECT * FROM held;
COMMIT;
SELECT count(*) AS live_tokens FROM live;

\c :regress_home
DROP DATABASE regress_le_lock_escalation WITH (FORCE);
