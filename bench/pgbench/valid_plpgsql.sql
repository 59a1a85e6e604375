-- Peer 2: the PL/pgSQL baseline's token_valid
\set t random(1, :ntokens)
SELECT plpgsql_baseline.token_valid(left(md5('t' || :t::text), 24), 'user');
