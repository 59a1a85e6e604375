-- logout_everywhere 1.0 -> 1.1 (ALTER EXTENSION logout_everywhere UPDATE TO '1.1')
\echo Use "ALTER EXTENSION logout_everywhere UPDATE TO '1.1'" to load this file. \quit

-- Rows that 1.0 left behind for user or token tables dropped since: their
-- regclass would dump as a bare OID.
DELETE FROM @extschema@.settings s
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) s.user_table::pg_catalog.oid)
    OR NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) s.token_table::pg_catalog.oid);

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

-- 1.0 created the token guard with a WHEN clause that skipped rows written
-- as revocations; 1.1's guard sees every row (a later trigger may turn a
-- revocation into a live token). Inheritance children get one too.
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN
    WITH RECURSIVE guarded AS (
      SELECT tg.tgrelid AS relid FROM pg_catalog.pg_trigger tg
       WHERE tg.tgname OPERATOR(pg_catalog.=) 'logout_everywhere_token_guard' AND tg.tgparentid OPERATOR(pg_catalog.=) 0
      UNION
      SELECT i.inhrelid FROM guarded g JOIN pg_catalog.pg_inherits i ON i.inhparent OPERATOR(pg_catalog.=) g.relid
        JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid WHERE NOT c.relispartition)
    SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS name
      FROM guarded g JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) g.relid
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
  LOOP
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS logout_everywhere_token_guard ON %s', t.name);
    EXECUTE pg_catalog.format('CREATE TRIGGER logout_everywhere_token_guard BEFORE INSERT OR UPDATE ON %s'
                              ' FOR EACH ROW EXECUTE FUNCTION @extschema@.token_guard()', t.name);
  END LOOP;
END $$;

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
COMMENT ON FUNCTION @extschema@.log_out_everywhere("any", pg_catalog.text[], pg_catalog.text[], pg_catalog.text, pg_catalog.regclass) IS
  'Revoke every live token of one user (purpose becomes ''revocation''), except purposes excluded, purposes not included and except_jti; NULL purposes mean the configured ones. Returns how many tokens it revoked. Raises P0002 and revokes nothing when no row of the user table that the caller can see has that id. This version takes a typed id.';

CREATE FUNCTION @extschema@.subject_for(
    user_id    pg_catalog.text,
    user_table pg_catalog.regclass DEFAULT NULL)
RETURNS pg_catalog.text
LANGUAGE c STABLE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'subject_for';
REVOKE ALL ON FUNCTION @extschema@.subject_for(pg_catalog.text, pg_catalog.regclass) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.subject_for(pg_catalog.text, pg_catalog.regclass) IS
  'subject_for for an id given as text: a quoted literal or an untyped bound parameter, converted to the id column''s type.';
COMMENT ON FUNCTION @extschema@.subject_for("any", pg_catalog.regclass) IS
  'The token subject of a user id: subject_name || ''?id='' || the id form-encoded (application/x-www-form-urlencoded), as AshAuthentication writes it; the id as stored in the row that has it, else as the id type writes it. This version takes a typed id.';

-- 1.0 gave the generated action to whoever called enable(); 1.1 knows it
-- (enable() again, disable(), the DDL triggers) as the user table's owner's:
-- give each action to its table's owner.
DO $$
DECLARE
  a record;
BEGIN
  FOR a IN
    SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text AS action,
           c.relowner::pg_catalog.regrole::pg_catalog.text AS owner
      FROM @extschema@.settings s
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.user_table::pg_catalog.oid
      JOIN pg_catalog.pg_proc p ON p.proname OPERATOR(pg_catalog.=) s.action_name
       AND p.pronamespace OPERATOR(pg_catalog.=) c.relnamespace
       AND p.pronargs OPERATOR(pg_catalog.=) 1 AND p.proargtypes[0] OPERATOR(pg_catalog.=) c.reltype
     WHERE p.proowner OPERATOR(pg_catalog.<>) c.relowner
       AND EXISTS (SELECT FROM pg_catalog.pg_depend d
                     JOIN pg_catalog.pg_proc q ON q.oid OPERATOR(pg_catalog.=) d.refobjid
                    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                      AND d.objid OPERATOR(pg_catalog.=) p.oid
                      AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                      AND q.pronamespace OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace)
  LOOP
    EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO %s', a.action, a.owner);
  END LOOP;
END $$;

-- Default privileges of the role running the update may have granted the
-- functions this update makes to other roles: nothing is granted but what
-- the script says.
DO $$
DECLARE
  o record;
BEGIN
  FOR o IN
    SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text AS name, a.grantee
      FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
     WHERE p.oid OPERATOR(pg_catalog.=) ANY (ARRAY[
             '@extschema@.forget_dropped_objects()'::pg_catalog.regprocedure,
             '@extschema@.follow_altered_tables()'::pg_catalog.regprocedure,
             '@extschema@.log_out_everywhere(pg_catalog.text, pg_catalog.text[], pg_catalog.text[], pg_catalog.text, pg_catalog.regclass)'::pg_catalog.regprocedure,
             '@extschema@.subject_for(pg_catalog.text, pg_catalog.regclass)'::pg_catalog.regprocedure]::pg_catalog.oid[])
       AND a.grantee OPERATOR(pg_catalog.<>) p.proowner
  LOOP
    EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM %s', o.name,
                              CASE WHEN o.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                                   ELSE o.grantee::pg_catalog.regrole::pg_catalog.text END);
  END LOOP;
END $$;

-- Quoted literals and untyped parameters now resolve to the text versions,
-- which nobody but their owner may execute yet: calls like
-- log_out_everywhere('42') from a role granted the typed version fail with
-- 42501 until it is granted the text version too. The update does not grant
-- it: a grant made by an extension script is recorded as the extension's own
-- (pg_init_privs), which pg_dump leaves out, and on PostgreSQL before 17 it
-- outlives a dropped role and makes later dumps unrestorable. A WARNING
-- names each GRANT to run, in an order that keeps grant chains (grants made
-- by the owner first, then each as its grantor); an extension script shows
-- no NOTICE.
DO $$
DECLARE
  pair record;
  r record;
BEGIN
  FOR pair IN
    SELECT typed::pg_catalog.regprocedure AS typed, text_version::pg_catalog.regprocedure AS text_version
      FROM (VALUES
        ('@extschema@.log_out_everywhere("any", pg_catalog.text[], pg_catalog.text[], pg_catalog.text, pg_catalog.regclass)',
         '@extschema@.log_out_everywhere(pg_catalog.text, pg_catalog.text[], pg_catalog.text[], pg_catalog.text, pg_catalog.regclass)'),
        ('@extschema@.subject_for("any", pg_catalog.regclass)',
         '@extschema@.subject_for(pg_catalog.text, pg_catalog.regclass)')) AS v(typed, text_version)
  LOOP
    FOR r IN
      -- each EXECUTE grant on the typed version, with its depth in the chain
      -- of grants (1: made by the owner), so that each grantor's own grant
      -- comes before the grants it made
      WITH RECURSIVE acl AS (
        SELECT a.grantee, a.grantor, a.is_grantable, p.proowner
          FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
         WHERE p.oid OPERATOR(pg_catalog.=) pair.typed::pg_catalog.oid
           AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
           AND a.grantee OPERATOR(pg_catalog.<>) p.proowner),
      chain AS (
        SELECT acl.grantee, acl.grantor, 1 AS depth FROM acl
         WHERE acl.grantor OPERATOR(pg_catalog.=) acl.proowner
        UNION
        SELECT acl.grantee, acl.grantor, chain.depth OPERATOR(pg_catalog.+) 1 FROM acl
          JOIN chain ON acl.grantor OPERATOR(pg_catalog.=) chain.grantee
         WHERE chain.depth OPERATOR(pg_catalog.<) 64)
      SELECT CASE WHEN acl.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                  ELSE acl.grantee::pg_catalog.regrole::pg_catalog.text END AS grantee,
             acl.grantor::pg_catalog.regrole::pg_catalog.text AS grantor,
             acl.is_grantable,
             acl.grantor OPERATOR(pg_catalog.=) acl.proowner AS by_owner,
             (SELECT pg_catalog.min(chain.depth) FROM chain
               WHERE chain.grantee OPERATOR(pg_catalog.=) acl.grantee
                 AND chain.grantor OPERATOR(pg_catalog.=) acl.grantor) AS depth
        FROM acl
      UNION ALL
      -- the typed version's owner, when it is not the text version's (it
      -- executes its own functions without a grant)
      SELECT p.proowner::pg_catalog.regrole::pg_catalog.text, NULL, false, true, 0
        FROM pg_catalog.pg_proc p, pg_catalog.pg_proc t
       WHERE p.oid OPERATOR(pg_catalog.=) pair.typed::pg_catalog.oid
         AND t.oid OPERATOR(pg_catalog.=) pair.text_version::pg_catalog.oid
         AND p.proowner OPERATOR(pg_catalog.<>) t.proowner
       ORDER BY 5, 1, 2
    LOOP
      RAISE WARNING 'role % may execute %, not yet %', r.grantee, pair.typed, pair.text_version
        USING DETAIL = pg_catalog.format('Quoted literals and untyped parameters now resolve to %s.', pair.text_version),
              HINT = pg_catalog.format('%sGRANT EXECUTE ON FUNCTION @extschema@.%s TO %s%s;%s',
                                       CASE WHEN r.by_owner THEN '' ELSE 'SET ROLE ' OPERATOR(pg_catalog.||) r.grantor OPERATOR(pg_catalog.||) '; ' END,
                                       pair.text_version, r.grantee,
                                       CASE WHEN r.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END,
                                       CASE WHEN r.by_owner THEN '' ELSE ' RESET ROLE;' END);
    END LOOP;
  END LOOP;
END $$;


COMMENT ON FUNCTION @extschema@.enable(pg_catalog.regclass, pg_catalog.regclass, pg_catalog.name, pg_catalog.name, pg_catalog.text, pg_catalog.text[], pg_catalog.text[], pg_catalog.bool, pg_catalog.name, pg_catalog.name) IS
  'Enable log-out-everywhere for a user table: validate the tables, record the settings, ensure an index on tokens(subject), guard token writes (on the token table and its inheritance children), create the action <schema>.<action_name>(<argument_name> <user row>) and, with apply_on_password_change, the password trigger. Calling it again replaces them, the action in place (it keeps its grants). Caller must own the user table and the token table; the action belongs to the user table''s owner. Refuses (0A000) a subject column with a nondeterministic collation, and a token table in one partition or inheritance tree with another user table''s.';
