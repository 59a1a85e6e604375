--
-- untyped_parameters: what drivers send. An untyped bound parameter (node-
-- postgres, postgres.js, psycopg 3, ruby-pg, DBD::Pg, PREPARE) is taken as
-- the id's text form, as a quoted literal is; typed ids work as before, no
-- call is ambiguous, and every error keeps its SQLSTATE.
--
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regress_le_untyped;
RESET client_min_messages;
CREATE DATABASE regress_le_untyped;
SELECT current_database() AS regress_home \gset
\c regress_le_untyped
\set VERBOSITY terse
CREATE EXTENSION logout_everywhere;
SET search_path = public, logout_everywhere;

CREATE TABLE users (id uuid PRIMARY KEY, hashed_password text);
INSERT INTO users VALUES ('5f1c7a52-7b6e-4c2b-9d1e-0a9f3c2b1d00', 'h');
CREATE TABLE tokens (jti text PRIMARY KEY, subject text NOT NULL,
  expires_at timestamp(0) NOT NULL, purpose text NOT NULL);
SET client_min_messages = warning;
SELECT enable('users', apply_on_password_change => true);
RESET client_min_messages;
CREATE PROCEDURE sign_in() LANGUAGE sql AS $$
  DELETE FROM tokens;
  INSERT INTO tokens SELECT 'tok-' || n, 'user?id=5f1c7a52-7b6e-4c2b-9d1e-0a9f3c2b1d00',
    (now() AT TIME ZONE 'utc') + interval '1 day', 'user' FROM generate_series(1, 3) n;
$$;

-- PREPARE with untyped parameters, as drivers send them
PREPARE log_out(unknown) AS SELECT log_out_everywhere($1);
PREPARE log_out_untyped AS SELECT log_out_everywhere($1);
PREPARE log_out_but AS SELECT log_out_everywhere($1, except_jti => $2);
PREPARE subject_of AS SELECT subject_for($1);
SELECT name, parameter_types FROM pg_prepared_statements ORDER BY name;
CALL sign_in();
EXECUTE log_out_but('5F1C7A52-7B6E-4C2B-9D1E-0A9F3C2B1D00', 'tok-1');
EXECUTE log_out_untyped('5f1c7a52-7b6e-4c2b-9d1e-0a9f3c2b1d00');
CALL sign_in();
EXECUTE log_out('5f1c7a52-7b6e-4c2b-9d1e-0a9f3c2b1d00');
EXECUTE subject_of('5F1C7A52-7B6E-4C2B-9D1E-0A9F3C2B1D00');
-- the errors, through the untyped version
EXECUTE log_out_untyped(NULL);
\echo :LAST_ERROR_SQLSTATE
EXECUTE log_out_untyped('not-a-uuid');
\echo :LAST_ERROR_SQLSTATE
EXECUTE log_out_untyped('00000000-0000-0000-0000-000000000000');
\echo :LAST_ERROR_SQLSTATE
EXECUTE subject_of(NULL);
\echo :LAST_ERROR_SQLSTATE
EXECUTE subject_of('nope');
\echo :LAST_ERROR_SQLSTATE

-- Which version each call shape resolves to: none is ambiguous.
-- resolved(call): the type of the user_id the planner passes, read off
-- EXPLAIN VERBOSE (the "any" version gets the argument's own type, the text
-- version text; an integer constant or a row shows no cast), or the error.
CREATE FUNCTION resolved(call text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || call LOOP
    IF line ~ 'Output: ' THEN
      RETURN coalesce(substring(line FROM '(?:log_out_everywhere|subject_for)\((?:[^,()]|\([^()]*\))*?::([a-z ]+)[,)]'),
                      'no cast: ' || substring(line FROM '(?:log_out_everywhere|subject_for)\(([^,)]*)'));
    END IF;
  END LOOP;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
CREATE TEMP TABLE calls (call text);
INSERT INTO calls VALUES
  ($$SELECT log_out_everywhere('5f1c7a52-7b6e-4c2b-9d1e-0a9f3c2b1d00')$$),
  ($$SELECT log_out_everywhere('5f1c7a52-7b6e-4c2b-9d1e-0a9f3c2b1d00'::uuid)$$),
  ($$SELECT log_out_everywhere('5f1c7a52-7b6e-4c2b-9d1e-0a9f3c2b1d00'::text)$$),
  ($$SELECT log_out_everywhere('5f1c7a52-7b6e-4c2b-9d1e-0a9f3c2b1d00'::varchar)$$),
  ($$SELECT log_out_everywhere(NULL)$$),
  ($$SELECT log_out_everywhere(NULL::uuid)$$),
  ($$SELECT log_out_everywhere(42)$$),
  ($$SELECT log_out_everywhere(42::bigint, '{user}')$$),
  ($$SELECT log_out_everywhere('x', include_purposes => '{user}', exclude_purposes => '{}', except_jti => 'j', user_table => 'users')$$),
  ($$SELECT log_out_everywhere(user_id => 'x')$$),
  ($$SELECT log_out_everywhere(user_id => '5f1c7a52-7b6e-4c2b-9d1e-0a9f3c2b1d00'::uuid)$$),
  ($$SELECT subject_for('x')$$),
  ($$SELECT subject_for('5f1c7a52-7b6e-4c2b-9d1e-0a9f3c2b1d00'::uuid, 'users')$$),
  ($$SELECT subject_for(user_id => 7)$$),
  ($$SELECT public.log_out_everywhere(u) FROM users u$$);
SELECT call, resolved(call) AS user_id_passed_as FROM calls;

-- The current session's token with a bound value: set_config(..., true) is
-- SET LOCAL.
CALL sign_in();
PREPARE spare(text) AS SELECT set_config('logout_everywhere.current_jti', $1, true);
BEGIN;
EXECUTE spare('tok-2');
UPDATE users SET hashed_password = 'new';
SHOW logout_everywhere.current_jti;
COMMIT;
SHOW logout_everywhere.current_jti;
SELECT jti, purpose FROM tokens ORDER BY jti;

\c :regress_home
DROP DATABASE regress_le_untyped WITH (FORCE);
