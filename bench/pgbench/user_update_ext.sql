-- an UPDATE of a user that does not touch the password column, on the table
-- with the extension's password trigger
\set uid random(1, :nusers)
UPDATE users SET confirmed_at = now() AT TIME ZONE 'utc', updated_at = now() AT TIME ZONE 'utc'
 WHERE id = md5('u' || :uid::text)::uuid;
