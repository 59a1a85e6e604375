-- the SELECT EXISTS presence check on the copy of the token table that has
-- no extension (the "without" side of the mixed workload)
\set t random(1, :ntokens)
SELECT EXISTS (SELECT 1 FROM tokens_noguard
                WHERE jti = left(md5('t' || :t::text), 24) AND purpose = 'user'
                  AND expires_at > now() AT TIME ZONE 'utc');
