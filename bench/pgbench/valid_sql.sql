-- the equivalent SELECT EXISTS (AshAuthentication's presence check)
\set t random(1, :ntokens)
SELECT EXISTS (SELECT 1 FROM tokens
                WHERE jti = left(md5('t' || :t::text), 24) AND purpose = 'user'
                  AND expires_at > now() AT TIME ZONE 'utc');
