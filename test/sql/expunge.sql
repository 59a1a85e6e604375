--
-- expunge: expunge_expired() deletes every expired row, of any purpose, in batches
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_expunge;
RESET client_min_messages;
CREATE DATABASE regress_le_expunge TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C';
SELECT current_database() AS regress_home \gset
\c regress_le_expunge
\set VERBOSITY sqlstate

CREATE EXTENSION logout_everywhere;
CREATE TABLE tokens (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));
CREATE INDEX ON tokens (subject);
CREATE TABLE users (id uuid PRIMARY KEY, email text NOT NULL UNIQUE, hashed_password text);

-- Each DELETE statement on tokens logs how many rows it deleted (a batch),
-- and in which transaction.
CREATE TABLE delete_log (n bigint, xact xid8 DEFAULT pg_current_xact_id());
CREATE FUNCTION log_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO delete_log SELECT count(*) FROM gone;
  RETURN NULL;
END $$;
CREATE TRIGGER log_delete AFTER DELETE ON tokens REFERENCING OLD TABLE AS gone
  FOR EACH STATEMENT EXECUTE FUNCTION log_delete();
CREATE VIEW batches AS
  SELECT count(*) FILTER (WHERE n > 0) AS batches, max(n) AS largest, sum(n) AS deleted FROM delete_log;

-- seed(expired, live): that many expired and live tokens, the purposes
-- taken in turn from every kind Ash writes, revocations included.
CREATE PROCEDURE seed(expired integer, live integer) LANGUAGE sql AS $$
  DELETE FROM tokens;
  INSERT INTO tokens (jti, subject, expires_at, purpose)
  SELECT 'dead-' || n, 'user?id=' || (n % 7),
         (now() AT TIME ZONE 'utc') - interval '1 hour' - n * interval '1 minute',
         (ARRAY['user','remember_me','magic_link','revocation','otp','sign_in','confirm'])[1 + n % 7]
    FROM generate_series(1, expired) n;
  INSERT INTO tokens (jti, subject, expires_at, purpose)
  SELECT 'live-' || n, 'user?id=' || (n % 7),
         (now() AT TIME ZONE 'utc') + interval '1 hour' + n * interval '1 minute',
         (ARRAY['user','remember_me','magic_link','revocation','otp','sign_in','confirm'])[1 + n % 7]
    FROM generate_series(1, live) n;
  TRUNCATE delete_log;
$$;
CREATE VIEW left_over AS
  SELECT count(*) FILTER (WHERE jti LIKE 'dead-%') AS dead,
         count(*) FILTER (WHERE jti LIKE 'live-%') AS live,
         count(DISTINCT purpose) FILTER (WHERE jti LIKE 'live-%') AS live_purposes
    FROM tokens;

-- With an explicit token table (nothing enabled yet).
CALL seed(7, 7);
SELECT purpose, count(*) FROM tokens WHERE jti LIKE 'dead-%' GROUP BY purpose ORDER BY purpose;
SELECT logout_everywhere.expunge_expired('tokens');
SELECT * FROM left_over;
SELECT logout_everywhere.expunge_expired('tokens');

-- With the token table of the one enabled user table, default batch size.
SELECT logout_everywhere.enable('users');
-- (nothing has been deleted through the trigger yet)
CALL seed(25, 10);
SELECT logout_everywhere.expunge_expired();
SELECT * FROM left_over;
SELECT * FROM batches;

-- Batch size 1: one row per batch, all of them in the end.
CALL seed(23, 5);
SELECT logout_everywhere.expunge_expired(batch_size => 1);
SELECT * FROM left_over;
SELECT * FROM batches;
-- Batches that do not divide the count, and a batch far larger than it.
CALL seed(2500, 40);
SELECT logout_everywhere.expunge_expired(batch_size => 1000);
SELECT * FROM left_over;
SELECT * FROM batches;
CALL seed(300, 40);
SELECT logout_everywhere.expunge_expired(NULL, 2147483647);
SELECT * FROM left_over;
SELECT * FROM batches;
-- Nothing expired.
CALL seed(0, 5);
SELECT logout_everywhere.expunge_expired();
-- An empty table.
DELETE FROM tokens;
SELECT logout_everywhere.expunge_expired();

-- Inside a transaction the deletions roll back with it.
CALL seed(12, 3);
BEGIN;
SELECT logout_everywhere.expunge_expired(batch_size => 5);
SELECT * FROM left_over;
ROLLBACK;
SELECT * FROM left_over;

-- An invalid batch size is refused (and nothing is deleted).
SELECT logout_everywhere.expunge_expired(batch_size => 0);
SELECT logout_everywhere.expunge_expired(batch_size => -1);
SELECT logout_everywhere.expunge_expired(batch_size => NULL);
SELECT * FROM left_over;

--
-- expunge_expired_committing: the same deletions, committed batch by batch.
--
CREATE VIEW transactions AS
  SELECT count(DISTINCT xact) AS transactions, sum(n) AS deleted FROM delete_log WHERE n > 0;
-- CALLed on its own: one transaction per batch (10 + 10 + 5).
CALL seed(25, 4);
CALL logout_everywhere.expunge_expired_committing(batch_size => 10);
SELECT * FROM left_over;
SELECT * FROM transactions;
-- The default batch size, and nothing left to delete.
CALL seed(25, 4);
CALL logout_everywhere.expunge_expired_committing();
SELECT * FROM transactions;
CALL logout_everywhere.expunge_expired_committing('tokens');
-- Batches committed before an error stay committed; the failing batch
-- deletes nothing. (The third DELETE statement fails.)
CALL seed(25, 4);
CREATE SEQUENCE statements;
CREATE FUNCTION fail_third() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('statements') = 3 THEN
    RAISE EXCEPTION 'third batch fails' USING ERRCODE = 'XX999';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER fail_third AFTER DELETE ON tokens FOR EACH STATEMENT EXECUTE FUNCTION fail_third();
CALL logout_everywhere.expunge_expired_committing(batch_size => 10);
SELECT * FROM left_over;
SELECT * FROM transactions;
DROP TRIGGER fail_third ON tokens;
-- Inside a transaction block it cannot commit: one transaction, which a
-- ROLLBACK undoes.
CALL seed(25, 4);
BEGIN;
CALL logout_everywhere.expunge_expired_committing(batch_size => 10);
SELECT * FROM transactions;
ROLLBACK;
SELECT * FROM left_over;
-- From a DO block at top level, which may commit: one transaction per batch.
CALL seed(25, 4);
\set VERBOSITY terse
DO $$
DECLARE
  deleted bigint;
BEGIN
  CALL logout_everywhere.expunge_expired_committing('tokens', 10, deleted);
  RAISE NOTICE 'deleted %', deleted;
END $$;
\set VERBOSITY sqlstate
SELECT * FROM transactions;
-- Bad arguments are refused before anything is deleted.
CALL seed(25, 4);
CALL logout_everywhere.expunge_expired_committing(batch_size => 0);
CALL logout_everywhere.expunge_expired_committing(batch_size => NULL);
SELECT * FROM left_over;

\c :regress_home
DROP DATABASE regress_le_expunge WITH (FORCE);
