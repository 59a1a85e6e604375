-- the token insert of token_insert.sql, on the copy of the token table that
-- has the same indexes and no token guard trigger. Bench tokens' jti start
-- with 'v' (base32hex), so bench/run can delete them.
\set uid random(1, :nusers)
INSERT INTO tokens_noguard (jti, subject, expires_at, purpose, extra_data, created_at, updated_at)
VALUES ('v' || left(md5(random()::text), 23),
        'user?id=' || md5('u' || :uid::text)::uuid,
        date_trunc('second', now() AT TIME ZONE 'utc') + interval '7 days',
        'user', '{}', now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc')
ON CONFLICT (jti) DO UPDATE
   SET subject = EXCLUDED.subject, expires_at = EXCLUDED.expires_at, purpose = EXCLUDED.purpose,
       extra_data = EXCLUDED.extra_data, updated_at = EXCLUDED.updated_at;
