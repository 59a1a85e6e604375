-- bench/load.sql: the benchmark data, set-based (psql -v nusers=N -f bench/load.sql).
--
-- users          N users, AshPostgres-like (uuid id, email, hashed_password)
-- tokens         10 tokens per user in the AshPostgres token table, primary key
--                on jti; logout_everywhere.enable() adds the index on subject
-- users_plain    a copy of users with no trigger (the "without" side)
-- users_plpgsql  a copy of users for the PL/pgSQL baseline's password trigger
-- tokens_ash     a copy of tokens as AshPostgres ships it: no index on subject
-- tokens_noguard a copy of tokens with the same indexes and no trigger (the
--                "without the token guard" side of the insert comparison)
-- tokens_plpgsql a copy of tokens for the PL/pgSQL baseline, which puts its
--                own token guard on it (the extension's is on tokens only)
--
-- Deterministic, so that pgbench scripts can name rows without a lookup:
--   user i (1..N)   id  = md5('u' || i)::uuid, subject 'user?id=' || id
--   token t (1..10N) jti = left(md5('t' || t), 24)  (24 chars of [0-9a-f],
--                   inside Joken's base32hex alphabet), for user ((t-1) % N) + 1
--                   and slot k = (t-1) / N:
--     k = 0      'revocation' (already revoked)
--     k = 1..5   'user'
--     k = 6, 7   'remember_me'
--     k = 8      'magic_link'
--     k = 9      'user', expired for every fifth user
-- so a log-out revokes 9 tokens (8 for every fifth user): 10,000 users hold
-- about 88,000 live tokens. Tokens are stored in slot order: the ten tokens
-- of one user lie on ten different pages, as tokens issued over days do.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
SET maintenance_work_mem = '256MB';
SET work_mem = '64MB';
SET synchronous_commit = off;

CREATE TABLE users (
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    email           text NOT NULL,
    hashed_password text,
    confirmed_at    timestamp,
    inserted_at     timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at      timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));

INSERT INTO users (id, email, hashed_password, confirmed_at, inserted_at, updated_at)
SELECT md5('u' || i)::uuid,
       'user' || i || '@example.com',
       '$2b$12$' || left(md5('p' || i) || md5('q' || i), 53),   -- bcrypt-sized
       ts, ts, ts
  FROM generate_series(1, :nusers) i,
       LATERAL (SELECT date_trunc('second', now() AT TIME ZONE 'utc') - interval '30 days' AS ts) x;
ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY (id);
CREATE UNIQUE INDEX users_unique_email_index ON users (email);

CREATE TABLE users_plain (LIKE users INCLUDING ALL);
INSERT INTO users_plain SELECT * FROM users;
CREATE TABLE users_plpgsql (LIKE users INCLUDING ALL);
INSERT INTO users_plpgsql SELECT * FROM users;

-- The token table exactly as AshPostgres creates it (its primary key added
-- after the load, which is faster than maintaining it row by row).
CREATE TABLE tokens (
    jti        text NOT NULL,
    subject    text NOT NULL,
    expires_at timestamp(0) NOT NULL,
    purpose    text NOT NULL,
    extra_data jsonb,
    created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
    updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));

INSERT INTO tokens (jti, subject, expires_at, purpose, extra_data, created_at, updated_at)
SELECT left(md5('t' || t), 24),
       'user?id=' || md5('u' || i)::uuid,
       c.created + interval '7 days',
       CASE WHEN k = 0 THEN 'revocation'
            WHEN k IN (6, 7) THEN 'remember_me'
            WHEN k = 8 THEN 'magic_link'
            ELSE 'user' END,
       '{}'::jsonb,
       c.created, c.created
  FROM generate_series(1, 10 * :nusers) t,
       LATERAL (SELECT (t - 1) / :nusers AS k, (t - 1) % :nusers + 1 AS i) ki,
       LATERAL (SELECT date_trunc('second', now() AT TIME ZONE 'utc')
                       - CASE WHEN k = 9 AND i % 5 = 0 THEN interval '8 days' ELSE interval '0' END
                       - (t % 500000) * interval '1 second' AS created) c;
ALTER TABLE tokens ADD CONSTRAINT tokens_pkey PRIMARY KEY (jti);

-- Peer 1: the same rows, as AshPostgres ships the table (no index on subject).
CREATE TABLE tokens_ash (LIKE tokens INCLUDING DEFAULTS);
INSERT INTO tokens_ash SELECT * FROM tokens;
ALTER TABLE tokens_ash ADD CONSTRAINT tokens_ash_pkey PRIMARY KEY (jti);

CREATE TABLE tokens_noguard (LIKE tokens INCLUDING DEFAULTS);
INSERT INTO tokens_noguard SELECT * FROM tokens;
ALTER TABLE tokens_noguard ADD CONSTRAINT tokens_noguard_pkey PRIMARY KEY (jti);
CREATE INDEX tokens_noguard_subject_idx ON tokens_noguard (subject);

CREATE TABLE tokens_plpgsql (LIKE tokens INCLUDING DEFAULTS);
INSERT INTO tokens_plpgsql SELECT * FROM tokens;
ALTER TABLE tokens_plpgsql ADD CONSTRAINT tokens_plpgsql_pkey PRIMARY KEY (jti);

-- The extension, with the password trigger; tokens are loaded first, so the
-- token guard does not run during the load. enable() creates the index on
-- tokens(subject).
CREATE EXTENSION logout_everywhere;
SELECT logout_everywhere.enable('public.users'::regclass, 'public.tokens'::regclass,
                                apply_on_password_change => true);

-- Peer 2: the PL/pgSQL baseline, on its copy of the token table; its
-- enable() creates the index on subject and its token guard there.
\ir plpgsql_baseline.sql
SELECT plpgsql_baseline.enable('public.users_plpgsql'::regclass, 'public.tokens_plpgsql'::regclass,
                               apply_on_password_change => true);

VACUUM (ANALYZE) users, users_plain, users_plpgsql, tokens, tokens_ash, tokens_noguard, tokens_plpgsql;
CHECKPOINT;
