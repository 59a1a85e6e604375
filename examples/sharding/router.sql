-- logout_everywhere across shards: the router database, with PL/Proxy.
--
-- Every call is routed by the user's subject: token checks by the JWT's
-- "sub" claim, everything about a user by 'user?id=' || id, which is the
-- same text for the ids used here (uuid). For ids whose text form the
-- subject encodes (spaces, '&'...), route by subject_for's result instead.
-- psql variables: shard0 and shard1 are libpq connection strings.
-- (PL/Proxy names the arguments in each query itself, so the remote calls
-- pass them by position.)
CREATE EXTENSION IF NOT EXISTS plproxy;

CREATE SERVER tokens_shards FOREIGN DATA WRAPPER plproxy
  OPTIONS (p0 :'shard0', p1 :'shard1');
CREATE USER MAPPING FOR PUBLIC SERVER tokens_shards;

CREATE FUNCTION subject_of(id uuid) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT 'user?id=' || id::text $$;

CREATE FUNCTION create_user(id uuid, email text, hashed_password text) RETURNS uuid
LANGUAGE plproxy AS $$
  CLUSTER 'tokens_shards';
  RUN ON hashtext(subject_of(id));
  SELECT shard.create_user(id, email, hashed_password);
$$;

CREATE FUNCTION store_token(jti text, subject text, expires_at timestamp, purpose text)
RETURNS text LANGUAGE plproxy AS $$
  CLUSTER 'tokens_shards';
  RUN ON hashtext(subject);
  SELECT shard.store_token(jti, subject, expires_at, purpose);
$$;

-- The check on every request: the JWT carries jti and sub.
CREATE FUNCTION token_valid(jti text, sub text, purpose text DEFAULT 'user')
RETURNS boolean LANGUAGE plproxy AS $$
  CLUSTER 'tokens_shards';
  RUN ON hashtext(sub);
  SELECT logout_everywhere.token_valid(jti, purpose);
$$;

CREATE FUNCTION is_revoked(jti text, sub text) RETURNS boolean
LANGUAGE plproxy AS $$
  CLUSTER 'tokens_shards';
  RUN ON hashtext(sub);
  SELECT logout_everywhere.is_revoked(jti);
$$;

CREATE FUNCTION log_out_everywhere(id uuid, except_jti text DEFAULT NULL) RETURNS bigint
LANGUAGE plproxy AS $$
  CLUSTER 'tokens_shards';
  RUN ON hashtext(subject_of(id));
  SELECT logout_everywhere.log_out_everywhere(id, NULL::text[], NULL::text[], except_jti);
$$;

CREATE FUNCTION change_password(id uuid, hashed_password text, current_jti text DEFAULT NULL)
RETURNS boolean LANGUAGE plproxy AS $$
  CLUSTER 'tokens_shards';
  RUN ON hashtext(subject_of(id));
  SELECT shard.change_password(id, hashed_password, current_jti);
$$;

-- Expiry runs on every shard.
CREATE FUNCTION expunge_expired() RETURNS SETOF bigint
LANGUAGE plproxy AS $$
  CLUSTER 'tokens_shards';
  RUN ON ALL;
  SELECT logout_everywhere.expunge_expired();
$$;
