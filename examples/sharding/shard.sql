-- logout_everywhere across shards: what each shard runs.
--
-- A user's row and all of the user's tokens live on one shard, the one that
-- the router picks from the user's subject ('user?id=<id>'), so a log-out, a
-- password change and the lock handshake between them and the user's logins
-- stay inside one database. Each shard is an ordinary logout_everywhere
-- installation; the functions below are what the router calls.
CREATE EXTENSION IF NOT EXISTS logout_everywhere;

CREATE TABLE users (
  id              uuid PRIMARY KEY,
  email           text NOT NULL,
  hashed_password text NOT NULL);

-- The token table exactly as AshAuthentication + AshPostgres create it.
CREATE TABLE tokens (
  jti        text NOT NULL PRIMARY KEY,
  subject    text NOT NULL,
  expires_at timestamp(0) NOT NULL,
  purpose    text NOT NULL,
  extra_data jsonb,
  created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
  updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));

SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true);

CREATE SCHEMA shard;

CREATE FUNCTION shard.create_user(id uuid, email text, hashed_password text) RETURNS uuid
LANGUAGE sql AS $$
  INSERT INTO users VALUES (id, email, hashed_password) RETURNING id
$$;

-- Ash's store_token: an upsert of the token row (the guard takes its lock).
CREATE FUNCTION shard.store_token(jti text, subject text, expires_at timestamp, purpose text)
RETURNS text LANGUAGE sql AS $$
  INSERT INTO tokens (jti, subject, expires_at, purpose) VALUES (jti, subject, expires_at, purpose)
  ON CONFLICT (jti) DO UPDATE SET subject = excluded.subject, expires_at = excluded.expires_at,
    purpose = excluded.purpose, updated_at = now() AT TIME ZONE 'utc'
  RETURNING jti
$$;

-- A password change that spares the device asking for it.
CREATE FUNCTION shard.change_password(id uuid, hashed_password text, current_jti text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('logout_everywhere.current_jti', coalesce(current_jti, ''), true);
  UPDATE users u SET hashed_password = change_password.hashed_password WHERE u.id = change_password.id;
  RETURN FOUND;
END $$;
