-- the same UPDATE on the copy of the table with no trigger
\set uid random(1, :nusers)
UPDATE users_plain SET confirmed_at = now() AT TIME ZONE 'utc', updated_at = now() AT TIME ZONE 'utc'
 WHERE id = md5('u' || :uid::text)::uuid;
