-- token_valid (the C extension) of a random stored token
\set t random(1, :ntokens)
SELECT logout_everywhere.token_valid(left(md5('t' || :t::text), 24), 'user');
