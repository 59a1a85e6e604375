\echo Use "CREATE EXTENSION logout_everywhere" to load this file. \quit

-- logout_everywhere 1.1: every object lives in @extschema@ (logout_everywhere).
-- The logic is in C (module logout_everywhere); this script declares it, and
-- next to each function what \df+ shows of it and who may call it.
--
-- No function is STRICT: a STRICT function returns NULL for a NULL argument
-- without being called, and the contract wants an error for a NULL user id or
-- subject (22004), false for a NULL jti, and NULL arguments that mean "the
-- configured value" or "the only enabled table".
--
-- Nothing is callable by PUBLIC: the DBA grants what a role needs (README,
-- Privileges). No function is SECURITY DEFINER.

-- The schema is named in the control file, and CREATE EXTENSION uses one of
-- that name that already exists. Refuse one that a non-superuser owns or may
-- create objects in, or that holds relations, functions, types or operators
-- already: they could shadow the extension's functions for every caller that
-- names them.
DO $$
DECLARE
  schema_oid pg_catalog.oid := '@extschema@'::pg_catalog.regnamespace::pg_catalog.oid;
BEGIN
  IF NOT (SELECT r.rolsuper FROM pg_catalog.pg_namespace n
            JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
           WHERE n.oid OPERATOR(pg_catalog.=) schema_oid)
     OR EXISTS (SELECT FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
                 WHERE n.oid OPERATOR(pg_catalog.=) schema_oid
                   AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
                   AND NOT COALESCE((SELECT r.rolsuper FROM pg_catalog.pg_roles r
                                  WHERE r.oid OPERATOR(pg_catalog.=) a.grantee), false))
     OR EXISTS (SELECT FROM pg_catalog.pg_class WHERE relnamespace OPERATOR(pg_catalog.=) schema_oid)
     OR EXISTS (SELECT FROM pg_catalog.pg_proc WHERE pronamespace OPERATOR(pg_catalog.=) schema_oid)
     OR EXISTS (SELECT FROM pg_catalog.pg_type WHERE typnamespace OPERATOR(pg_catalog.=) schema_oid)
     OR EXISTS (SELECT FROM pg_catalog.pg_operator WHERE oprnamespace OPERATOR(pg_catalog.=) schema_oid)
  THEN
    RAISE EXCEPTION 'schema "@extschema@" is not safe for logout_everywhere'
      USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'It must be owned by a superuser, hold no tables, functions, types or operators, and let no other role create objects in it.',
            HINT = 'Drop a schema of that name made beforehand, and check ALTER DEFAULT PRIVILEGES ... ON SCHEMAS, which may grant CREATE on the one CREATE EXTENSION makes.';
  END IF;
END $$;

------------------------------------------------------------------------------
-- Settings: one row per enabled user table, kept by pg_dump.
------------------------------------------------------------------------------
CREATE TABLE @extschema@.settings (
    user_table               pg_catalog.regclass PRIMARY KEY,
    token_table              pg_catalog.regclass NOT NULL,
    id_column                pg_catalog.name     NOT NULL,
    password_column          pg_catalog.name     NOT NULL,
    subject_name             pg_catalog.text     NOT NULL,
    include_purposes         pg_catalog.text[],
    exclude_purposes         pg_catalog.text[],
    apply_on_password_change pg_catalog.bool     NOT NULL,
    action_name              pg_catalog.name     NOT NULL,
    argument_name            pg_catalog.name     NOT NULL
);
COMMENT ON TABLE @extschema@.settings IS
  'logout_everywhere: one row per user table given to enable(); written by enable() and disable()';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.settings', '');
REVOKE ALL ON TABLE @extschema@.settings FROM PUBLIC;

-- Any change of the settings (enable, disable, a DBA's UPDATE, a restore)
-- tells every backend to drop its cached copy.
CREATE FUNCTION @extschema@.settings_changed() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'settings_changed';
REVOKE ALL ON FUNCTION @extschema@.settings_changed() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.settings_changed() IS
  'Trigger on logout_everywhere.settings: tells every backend to reload its cached settings.';
CREATE TRIGGER settings_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.settings
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.settings_changed();

-- A DROP of a table or column that a settings row names updates the row, so
-- that the settings always describe what exists (README, Configuration).
CREATE FUNCTION @extschema@.forget_dropped_objects() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'forget_dropped_objects';
REVOKE ALL ON FUNCTION @extschema@.forget_dropped_objects() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.forget_dropped_objects() IS
  'Event trigger (sql_drop): a dropped user or token table or id column disables its user table; a dropped password column or trigger sets apply_on_password_change to false.';
CREATE EVENT TRIGGER logout_everywhere_forget_dropped ON sql_drop
    EXECUTE FUNCTION @extschema@.forget_dropped_objects();

-- The end of a CREATE TABLE or ALTER TABLE: renamed id and password columns
-- are followed, an inheritance child of a user table is refused, one of a
-- token table gets the guard (README, Configuration).
CREATE FUNCTION @extschema@.follow_altered_tables() RETURNS event_trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'follow_altered_tables';
REVOKE ALL ON FUNCTION @extschema@.follow_altered_tables() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.follow_altered_tables() IS
  'Event trigger (ddl_command_end of CREATE and ALTER TABLE and FOREIGN TABLE, and CREATE SCHEMA): the settings follow a renamed id or password column; an inheritance child of a user table is refused, one of a token table gets the token guard.';
CREATE EVENT TRIGGER logout_everywhere_follow_altered ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE FOREIGN TABLE', 'ALTER FOREIGN TABLE', 'CREATE SCHEMA')
    EXECUTE FUNCTION @extschema@.follow_altered_tables();

------------------------------------------------------------------------------
-- Configuration: the add-on's DSL.
------------------------------------------------------------------------------
CREATE FUNCTION @extschema@.enable(
    user_table               pg_catalog.regclass,
    token_table              pg_catalog.regclass DEFAULT NULL,
    id_column                pg_catalog.name     DEFAULT 'id',
    password_column          pg_catalog.name     DEFAULT 'hashed_password',
    subject_name             pg_catalog.text     DEFAULT 'user',
    include_purposes         pg_catalog.text[]   DEFAULT NULL,
    exclude_purposes         pg_catalog.text[]   DEFAULT '{revocation}',
    apply_on_password_change pg_catalog.bool     DEFAULT false,
    action_name              pg_catalog.name     DEFAULT 'log_out_everywhere',
    argument_name            pg_catalog.name     DEFAULT 'user')
RETURNS void
LANGUAGE c VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'enable';
REVOKE ALL ON FUNCTION @extschema@.enable(pg_catalog.regclass, pg_catalog.regclass, pg_catalog.name, pg_catalog.name, pg_catalog.text, pg_catalog.text[], pg_catalog.text[], pg_catalog.bool, pg_catalog.name, pg_catalog.name) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.enable(pg_catalog.regclass, pg_catalog.regclass, pg_catalog.name, pg_catalog.name, pg_catalog.text, pg_catalog.text[], pg_catalog.text[], pg_catalog.bool, pg_catalog.name, pg_catalog.name) IS
  'Enable log-out-everywhere for a user table: validate the tables, record the settings, ensure an index on tokens(subject), guard token writes (on the token table and its inheritance children), create the action <schema>.<action_name>(<argument_name> <user row>) and, with apply_on_password_change, the password trigger. Calling it again replaces them, the action in place (it keeps its grants). Caller must own the user table and the token table; the action belongs to the user table''s owner. Refuses (0A000) a subject column with a nondeterministic collation, and a token table in one partition or inheritance tree with another user table''s.';

CREATE FUNCTION @extschema@.disable(user_table pg_catalog.regclass)
RETURNS void
LANGUAGE c VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'disable';
REVOKE ALL ON FUNCTION @extschema@.disable(pg_catalog.regclass) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.disable(pg_catalog.regclass) IS
  'Remove the settings, action and triggers that enable() made for this user table; keeps the index and touches no token. Caller must own the user table.';

------------------------------------------------------------------------------
-- Logging out.
--
-- log_out_everywhere and subject_for come twice: user_id "any" takes a typed
-- id (uuid, bigint, ...), user_id text a quoted literal or an untyped bound
-- parameter, which PostgreSQL cannot resolve against "any" (42P18). Both
-- call the same C function, which converts either to the id column's type.
------------------------------------------------------------------------------
CREATE FUNCTION @extschema@.log_out_everywhere(
    user_id          "any",
    include_purposes pg_catalog.text[]   DEFAULT NULL,
    exclude_purposes pg_catalog.text[]   DEFAULT NULL,
    except_jti       pg_catalog.text     DEFAULT NULL,
    user_table       pg_catalog.regclass DEFAULT NULL)
RETURNS pg_catalog.int8
LANGUAGE c VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'log_out_everywhere';
REVOKE ALL ON FUNCTION @extschema@.log_out_everywhere("any", pg_catalog.text[], pg_catalog.text[], pg_catalog.text, pg_catalog.regclass) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.log_out_everywhere("any", pg_catalog.text[], pg_catalog.text[], pg_catalog.text, pg_catalog.regclass) IS
  'Revoke every live token of one user (purpose becomes ''revocation''), except purposes excluded, purposes not included and except_jti; NULL purposes mean the configured ones. Returns how many tokens it revoked. Raises P0002 and revokes nothing when no row of the user table that the caller can see has that id. This version takes a typed id.';

CREATE FUNCTION @extschema@.log_out_everywhere(
    user_id          pg_catalog.text,
    include_purposes pg_catalog.text[]   DEFAULT NULL,
    exclude_purposes pg_catalog.text[]   DEFAULT NULL,
    except_jti       pg_catalog.text     DEFAULT NULL,
    user_table       pg_catalog.regclass DEFAULT NULL)
RETURNS pg_catalog.int8
LANGUAGE c VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'log_out_everywhere';
REVOKE ALL ON FUNCTION @extschema@.log_out_everywhere(pg_catalog.text, pg_catalog.text[], pg_catalog.text[], pg_catalog.text, pg_catalog.regclass) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.log_out_everywhere(pg_catalog.text, pg_catalog.text[], pg_catalog.text[], pg_catalog.text, pg_catalog.regclass) IS
  'log_out_everywhere for an id given as text: a quoted literal or an untyped bound parameter ($1 from a driver, PREPARE), converted to the id column''s type.';

CREATE FUNCTION @extschema@.revoke_subject(
    subject          pg_catalog.text,
    include_purposes pg_catalog.text[]   DEFAULT NULL,
    exclude_purposes pg_catalog.text[]   DEFAULT NULL,
    except_jti       pg_catalog.text     DEFAULT NULL,
    user_table       pg_catalog.regclass DEFAULT NULL)
RETURNS pg_catalog.int8
LANGUAGE c VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'revoke_subject';
REVOKE ALL ON FUNCTION @extschema@.revoke_subject(pg_catalog.text, pg_catalog.text[], pg_catalog.text[], pg_catalog.text, pg_catalog.regclass) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.revoke_subject(pg_catalog.text, pg_catalog.text[], pg_catalog.text[], pg_catalog.text, pg_catalog.regclass) IS
  'Like log_out_everywhere, for a token subject given as is (a deleted user, a non-standard subject). Returns how many tokens it revoked.';

CREATE FUNCTION @extschema@.subject_for(
    user_id    "any",
    user_table pg_catalog.regclass DEFAULT NULL)
RETURNS pg_catalog.text
LANGUAGE c STABLE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'subject_for';
REVOKE ALL ON FUNCTION @extschema@.subject_for("any", pg_catalog.regclass) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.subject_for("any", pg_catalog.regclass) IS
  'The token subject of a user id: subject_name || ''?id='' || the id form-encoded (application/x-www-form-urlencoded), as AshAuthentication writes it; the id as stored in the row that has it, else as the id type writes it. This version takes a typed id.';

CREATE FUNCTION @extschema@.subject_for(
    user_id    pg_catalog.text,
    user_table pg_catalog.regclass DEFAULT NULL)
RETURNS pg_catalog.text
LANGUAGE c STABLE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'subject_for';
REVOKE ALL ON FUNCTION @extschema@.subject_for(pg_catalog.text, pg_catalog.regclass) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.subject_for(pg_catalog.text, pg_catalog.regclass) IS
  'subject_for for an id given as text: a quoted literal or an untyped bound parameter, converted to the id column''s type.';

------------------------------------------------------------------------------
-- Checking tokens.
------------------------------------------------------------------------------
CREATE FUNCTION @extschema@.token_valid(
    jti         pg_catalog.text,
    purpose     pg_catalog.text     DEFAULT 'user',
    token_table pg_catalog.regclass DEFAULT NULL)
RETURNS pg_catalog.bool
LANGUAGE c STABLE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'token_valid';
REVOKE ALL ON FUNCTION @extschema@.token_valid(pg_catalog.text, pg_catalog.text, pg_catalog.regclass) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.token_valid(pg_catalog.text, pg_catalog.text, pg_catalog.regclass) IS
  'True when a token row with this jti and purpose exists and has not expired (require_token_presence_for_authentication?). False for a NULL jti or purpose.';

CREATE FUNCTION @extschema@.is_revoked(
    jti         pg_catalog.text,
    token_table pg_catalog.regclass DEFAULT NULL)
RETURNS pg_catalog.bool
LANGUAGE c STABLE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'is_revoked';
REVOKE ALL ON FUNCTION @extschema@.is_revoked(pg_catalog.text, pg_catalog.regclass) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.is_revoked(pg_catalog.text, pg_catalog.regclass) IS
  'True when a token row with this jti and purpose ''revocation'' exists. False for a NULL jti.';

CREATE FUNCTION @extschema@.expunge_expired(
    token_table pg_catalog.regclass DEFAULT NULL,
    batch_size  pg_catalog.int4     DEFAULT 10000)
RETURNS pg_catalog.int8
LANGUAGE c VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'expunge_expired';
REVOKE ALL ON FUNCTION @extschema@.expunge_expired(pg_catalog.regclass, pg_catalog.int4) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.expunge_expired(pg_catalog.regclass, pg_catalog.int4) IS
  'Delete every token row, of any purpose, that expired before now, batch_size rows per statement. Returns how many it deleted.';

CREATE PROCEDURE @extschema@.expunge_expired_committing(
    token_table   pg_catalog.regclass DEFAULT NULL,
    batch_size    pg_catalog.int4     DEFAULT 10000,
    INOUT deleted pg_catalog.int8     DEFAULT NULL)
LANGUAGE c
AS 'MODULE_PATHNAME', 'expunge_expired_committing';
REVOKE ALL ON PROCEDURE @extschema@.expunge_expired_committing(pg_catalog.regclass, pg_catalog.int4, pg_catalog.int8) FROM PUBLIC;
COMMENT ON PROCEDURE @extschema@.expunge_expired_committing(pg_catalog.regclass, pg_catalog.int4, pg_catalog.int8) IS
  'Like expunge_expired, committing after each batch when CALLed outside a transaction block (as pg_cron runs it), so that no row lock outlives its batch. Returns (deleted) how many it deleted.';

CREATE FUNCTION @extschema@.require_valid_jwt()
RETURNS void
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'require_valid_jwt';
REVOKE ALL ON FUNCTION @extschema@.require_valid_jwt() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.require_valid_jwt() IS
  'PostgREST db-pre-request hook: refuse (HTTP 401) a request whose JWT jti (request.jwt.claims) is not a valid stored token of its purpose claim (default ''user''; ''revocation'' is always refused); requests without a jti pass.';

------------------------------------------------------------------------------
-- Trigger functions, attached by enable(). A table owner who attaches one by
-- hand gets an error for a table of the wrong shape, never a wrong read.
------------------------------------------------------------------------------
CREATE FUNCTION @extschema@.password_trigger() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'password_trigger';
REVOKE ALL ON FUNCTION @extschema@.password_trigger() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.password_trigger() IS
  'Trigger attached by enable(apply_on_password_change => true): logs a user out everywhere when the password column changes.';

CREATE FUNCTION @extschema@.token_guard() RETURNS trigger
    LANGUAGE c AS 'MODULE_PATHNAME', 'token_guard';
REVOKE ALL ON FUNCTION @extschema@.token_guard() FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.token_guard() IS
  'Trigger attached by enable() to the token table: makes token writes and log-outs of the same subject meet (see README, Concurrency).';

------------------------------------------------------------------------------
-- Last: default privileges (ALTER DEFAULT PRIVILEGES of the installing role)
-- may have granted the objects above to other roles. Nothing is granted but
-- what this script says: revoke every such grant.
------------------------------------------------------------------------------
DO $$
DECLARE
  o record;
BEGIN
  FOR o IN
    SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS kind,
           p.oid::pg_catalog.regprocedure::pg_catalog.text AS name, a.grantee
      FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
     WHERE p.pronamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
       AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
    UNION
    SELECT 'TABLE', c.oid::pg_catalog.regclass::pg_catalog.text, a.grantee
      FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
     WHERE c.relnamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace
       AND a.grantee OPERATOR(pg_catalog.<>) c.relowner
  LOOP
    EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM %s', o.kind, o.name,
                              CASE WHEN o.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                                   ELSE o.grantee::pg_catalog.regrole::pg_catalog.text END);
  END LOOP;
END $$;
