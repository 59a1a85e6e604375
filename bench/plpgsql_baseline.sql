-- plpgsql_baseline: a straightforward PL/pgSQL implementation of the
-- logout_everywhere contract, the code a careful user would write instead of
-- installing the C extension. It is the Peer 2 baseline of bench/run and is
-- not part of the extension.
--
-- What it implements, as the contract says: settings per user table,
-- enable(), log_out_everywhere(), revoke_subject(), subject_for(),
-- token_valid() and a password trigger (row by row, the obvious way).
-- Table and column names come from the settings, so the statements are
-- dynamic (EXECUTE format(...) USING ...), values always as parameters,
-- "now" right for timestamp (UTC wall clock) and timestamptz columns.
-- Two clauses of the contract that cost something, done the usual way:
--   - immune to search_path: every function has SET search_path =
--     pg_catalog, pg_temp, the usual way to pin a function's path, so table
--     names come out schema-qualified and no operator can be shadowed;
--   - no token issued before a log-out survives it: a token write takes a
--     shared advisory lock on (token table, subject), in a BEFORE trigger
--     that enable() puts on the token table; a revocation takes it
--     exclusively before its UPDATE, so it waits for open logins of that
--     subject (READ COMMITTED: the UPDATE's snapshot comes after the lock).
--     One lock per user: with PostgreSQL's default lock table, a statement
--     that changes 15,000 passwords fails with "out of shared memory"
--     (12,000 pass; the benchmark's bulk change is 10,000).
--
-- Where it is simpler than the extension (each one in its favour, so the
-- comparison is conservative): no escalation to a table lock for bulk
-- changes, no generated per-table action, user_id is anyelement (a bare
-- quoted literal needs a cast), only light validation in enable(), which
-- also wants the token table named (no "tokens" on the caller's path), and
-- the token trigger has a WHEN clause, so a revoking UPDATE never calls it.
--
-- Load it with psql into a database that has the user and token tables:
--   psql -f bench/plpgsql_baseline.sql
--   SELECT plpgsql_baseline.enable('users', 'tokens', apply_on_password_change => true);

CREATE SCHEMA plpgsql_baseline;

CREATE TABLE plpgsql_baseline.settings (
    user_table               regclass PRIMARY KEY,
    token_table              regclass NOT NULL,
    id_column                name     NOT NULL,
    id_type                  regtype  NOT NULL,
    password_column          name     NOT NULL,
    subject_name             text     NOT NULL,
    include_purposes         text[],
    exclude_purposes         text[],
    apply_on_password_change boolean  NOT NULL,
    expires_tz               boolean  NOT NULL,   -- expires_at is timestamptz
    updated_at_type          regtype              -- NULL: no updated_at column
);

-- application/x-www-form-urlencoded, as AshAuthentication's URI.encode_query.
CREATE FUNCTION plpgsql_baseline.form_encode(s text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    b   bytea;
    c   int;
    out text := '';
BEGIN
    IF s ~ '^[A-Za-z0-9._~-]*$' THEN
        RETURN s;                       -- the common case (uuid, integer)
    END IF;
    b := convert_to(s, 'UTF8');
    FOR i IN 0 .. length(b) - 1 LOOP
        c := get_byte(b, i);
        IF c BETWEEN 48 AND 57 OR c BETWEEN 65 AND 90 OR c BETWEEN 97 AND 122
           OR c IN (45, 46, 95, 126) THEN
            out := out || chr(c);
        ELSIF c = 32 THEN
            out := out || '+';
        ELSE
            out := out || '%' || upper(lpad(to_hex(c), 2, '0'));
        END IF;
    END LOOP;
    RETURN out;
END $$;

-- The settings row of a user table; NULL means "the only one".
CREATE FUNCTION plpgsql_baseline.settings_of(p_user_table regclass)
RETURNS plpgsql_baseline.settings
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s plpgsql_baseline.settings;
    n int;
BEGIN
    IF p_user_table IS NULL THEN
        SELECT count(*) INTO n FROM plpgsql_baseline.settings;
        IF n <> 1 THEN
            RAISE EXCEPTION '% user tables are enabled', n
                USING ERRCODE = '55000',
                      HINT = 'Call plpgsql_baseline.enable(), or pass user_table.';
        END IF;
        SELECT * INTO s FROM plpgsql_baseline.settings;
    ELSE
        SELECT * INTO s FROM plpgsql_baseline.settings st
         WHERE st.user_table = p_user_table;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'table % is not enabled', p_user_table
                USING ERRCODE = '55000', HINT = 'Call plpgsql_baseline.enable().';
        END IF;
    END IF;
    RETURN s;
END $$;

CREATE FUNCTION plpgsql_baseline.enable(
    user_table               regclass,
    token_table              regclass DEFAULT NULL,
    id_column                name     DEFAULT 'id',
    password_column          name     DEFAULT 'hashed_password',
    subject_name             text     DEFAULT 'user',
    include_purposes         text[]   DEFAULT NULL,
    exclude_purposes         text[]   DEFAULT '{revocation}',
    apply_on_password_change boolean  DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_id_type   regtype;
    v_exp_type  regtype;
    v_upd_type  regtype;
BEGIN
    -- Under this function's search_path, "tokens" would not be the
    -- caller's: the baseline asks for the token table.
    IF token_table IS NULL THEN
        RAISE EXCEPTION 'token_table must be given' USING ERRCODE = '22004';
    END IF;
    SELECT atttypid INTO v_id_type FROM pg_attribute
     WHERE attrelid = user_table AND attname = id_column AND attnum > 0 AND NOT attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of table % does not exist', id_column, user_table
            USING ERRCODE = '42703';
    END IF;
    SELECT atttypid INTO v_exp_type FROM pg_attribute
     WHERE attrelid = token_table AND attname = 'expires_at' AND attnum > 0 AND NOT attisdropped;
    IF v_exp_type IS NULL OR v_exp_type NOT IN ('timestamp'::regtype, 'timestamptz'::regtype) THEN
        RAISE EXCEPTION 'column "expires_at" of table % must be timestamp or timestamptz', token_table
            USING ERRCODE = '42804';
    END IF;
    SELECT atttypid INTO v_upd_type FROM pg_attribute
     WHERE attrelid = token_table AND attname = 'updated_at' AND attnum > 0 AND NOT attisdropped;

    INSERT INTO plpgsql_baseline.settings
    VALUES (user_table, token_table, id_column, v_id_type, password_column, subject_name,
            include_purposes, exclude_purposes, apply_on_password_change,
            v_exp_type = 'timestamptz'::regtype, v_upd_type)
    ON CONFLICT ON CONSTRAINT settings_pkey DO UPDATE SET
        token_table = EXCLUDED.token_table, id_column = EXCLUDED.id_column,
        id_type = EXCLUDED.id_type, password_column = EXCLUDED.password_column,
        subject_name = EXCLUDED.subject_name, include_purposes = EXCLUDED.include_purposes,
        exclude_purposes = EXCLUDED.exclude_purposes,
        apply_on_password_change = EXCLUDED.apply_on_password_change,
        expires_tz = EXCLUDED.expires_tz, updated_at_type = EXCLUDED.updated_at_type;

    -- An index led by subject, as the contract asks.
    IF NOT EXISTS (SELECT 1 FROM pg_index i
                    WHERE i.indrelid = token_table
                      AND i.indkey[0] = (SELECT attnum FROM pg_attribute
                                          WHERE attrelid = token_table AND attname = 'subject')) THEN
        EXECUTE format('CREATE INDEX ON %s (subject)', token_table);
    END IF;

    -- The concurrency guard on token writes (see token_guard()).
    EXECUTE format('DROP TRIGGER IF EXISTS plpgsql_baseline_token_guard ON %s', token_table);
    EXECUTE format('CREATE TRIGGER plpgsql_baseline_token_guard BEFORE INSERT OR UPDATE ON %s '
                   'FOR EACH ROW WHEN (NEW.purpose <> ''revocation'') '
                   'EXECUTE FUNCTION plpgsql_baseline.token_guard()', token_table);

    EXECUTE format('DROP TRIGGER IF EXISTS plpgsql_baseline_password ON %s', user_table);
    IF apply_on_password_change THEN
        EXECUTE format('CREATE TRIGGER plpgsql_baseline_password AFTER UPDATE ON %s '
                       'FOR EACH ROW WHEN (OLD.%I IS DISTINCT FROM NEW.%I) '
                       'EXECUTE FUNCTION plpgsql_baseline.password_trigger()',
                       user_table, password_column, password_column);
    END IF;
END $$;

-- BEFORE INSERT OR UPDATE FOR EACH ROW WHEN (NEW.purpose <> 'revocation') on
-- the token table: a row that makes a token live waits for a log-out of its
-- subject in progress, and makes a later one wait for this transaction. The
-- lock key is (token table, subject) hashed; a revocation takes it exclusively.
CREATE FUNCTION plpgsql_baseline.token_guard() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtextextended(NEW.subject, TG_RELID::bigint));
    RETURN NEW;
END $$;

-- The UPDATE every entry point ends in.
CREATE FUNCTION plpgsql_baseline.revoke(
    s plpgsql_baseline.settings, p_subject text,
    p_include text[], p_exclude text[], p_except_jti text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_now text := CASE WHEN s.expires_tz THEN 'now()' ELSE '(now() AT TIME ZONE ''UTC'')' END;
    v_set text := '';
    n     bigint;
BEGIN
    IF array_position(p_include, NULL) IS NOT NULL OR array_position(p_exclude, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'purposes must not contain NULL' USING ERRCODE = '22004';
    END IF;
    -- Wait for open token writes of this subject; the UPDATE's snapshot,
    -- taken after, sees what they stored.
    PERFORM pg_advisory_xact_lock(hashtextextended(p_subject, s.token_table::oid::bigint));
    IF s.updated_at_type = 'timestamptz'::regtype THEN
        v_set := ', updated_at = now()';
    ELSIF s.updated_at_type IS NOT NULL THEN
        v_set := ', updated_at = (now() AT TIME ZONE ''UTC'')';
    END IF;
    EXECUTE format('UPDATE %s SET purpose = ''revocation''%s '
                   'WHERE subject = $1 AND expires_at > %s AND purpose <> ''revocation'' '
                   'AND ($2::text[] IS NULL OR purpose = ANY ($2)) '
                   'AND NOT (purpose = ANY (coalesce($3, ''{}''::text[]))) '
                   'AND ($4::text IS NULL OR jti <> $4)',
                   s.token_table, v_set, v_now)
        USING p_subject, p_include, p_exclude, p_except_jti;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

CREATE FUNCTION plpgsql_baseline.subject_for(user_id anyelement, user_table regclass DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s plpgsql_baseline.settings := plpgsql_baseline.settings_of(user_table);
BEGIN
    IF user_id IS NULL THEN
        RAISE EXCEPTION 'user_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    RETURN s.subject_name || '?id=' || plpgsql_baseline.form_encode(user_id::text);
END $$;

CREATE FUNCTION plpgsql_baseline.revoke_subject(
    subject text, include_purposes text[] DEFAULT NULL, exclude_purposes text[] DEFAULT NULL,
    except_jti text DEFAULT NULL, user_table regclass DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s plpgsql_baseline.settings;
BEGIN
    IF subject IS NULL THEN
        RAISE EXCEPTION 'subject must not be NULL' USING ERRCODE = '22004';
    END IF;
    s := plpgsql_baseline.settings_of(user_table);
    RETURN plpgsql_baseline.revoke(s, subject,
                                   coalesce(include_purposes, s.include_purposes),
                                   coalesce(exclude_purposes, s.exclude_purposes),
                                   except_jti);
END $$;

CREATE FUNCTION plpgsql_baseline.log_out_everywhere(
    user_id anyelement, include_purposes text[] DEFAULT NULL, exclude_purposes text[] DEFAULT NULL,
    except_jti text DEFAULT NULL, user_table regclass DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s      plpgsql_baseline.settings;
    v_id   text;
BEGIN
    IF user_id IS NULL THEN
        RAISE EXCEPTION 'user_id must not be NULL' USING ERRCODE = '22004';
    END IF;
    s := plpgsql_baseline.settings_of(user_table);
    -- The user must exist; its id's text form makes the subject.
    EXECUTE format('SELECT %I::text FROM %s WHERE %I = $1::text::%s',
                   s.id_column, s.user_table, s.id_column, s.id_type)
        INTO v_id USING user_id;
    IF v_id IS NULL THEN
        RAISE EXCEPTION 'no row of % has % = %', s.user_table, s.id_column, user_id
            USING ERRCODE = 'P0002';
    END IF;
    RETURN plpgsql_baseline.revoke(s, s.subject_name || '?id=' || plpgsql_baseline.form_encode(v_id),
                                   coalesce(include_purposes, s.include_purposes),
                                   coalesce(exclude_purposes, s.exclude_purposes),
                                   except_jti);
END $$;

CREATE FUNCTION plpgsql_baseline.token_valid(jti text, purpose text DEFAULT 'user',
                                             token_table regclass DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_table regclass := token_table;
    v_tz    boolean;
    n       int;
    ok      boolean;
BEGIN
    IF jti IS NULL OR purpose IS NULL THEN
        RETURN false;
    END IF;
    IF v_table IS NULL THEN
        SELECT count(DISTINCT st.token_table), min(st.token_table::oid)::regclass, bool_or(st.expires_tz)
          INTO n, v_table, v_tz
          FROM plpgsql_baseline.settings st;
        IF n <> 1 THEN
            RAISE EXCEPTION 'no single token table is enabled'
                USING ERRCODE = '55000', HINT = 'Call plpgsql_baseline.enable(), or pass token_table.';
        END IF;
    ELSE
        SELECT atttypid = 'timestamptz'::regtype INTO v_tz FROM pg_attribute
         WHERE attrelid = v_table AND attname = 'expires_at' AND NOT attisdropped;
    END IF;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE jti = $1 AND purpose = $2 AND expires_at > %s)',
                   v_table, CASE WHEN v_tz THEN 'now()' ELSE '(now() AT TIME ZONE ''UTC'')' END)
        INTO ok USING jti, purpose;
    RETURN ok;
END $$;

-- AFTER UPDATE FOR EACH ROW WHEN (OLD.<password> IS DISTINCT FROM NEW.<password>):
-- log that user out, sparing plpgsql_baseline.current_jti.
CREATE FUNCTION plpgsql_baseline.password_trigger() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    s plpgsql_baseline.settings := plpgsql_baseline.settings_of(TG_RELID::regclass);
BEGIN
    PERFORM plpgsql_baseline.revoke(
        s,
        s.subject_name || '?id=' || plpgsql_baseline.form_encode(to_jsonb(NEW) ->> s.id_column),
        s.include_purposes, s.exclude_purposes,
        nullif(current_setting('plpgsql_baseline.current_jti', true), ''));
    RETURN NULL;
END $$;
