# logout_everywhere from ruby-pg (the "pg" gem), with bound parameters.
#
#   ruby app.rb    (t/drivers.sh runs it; PG* variables, LE_UUID_DB, LE_BIGINT_DB)
#
# The methods between "readme:" markers are the README's Ruby snippet.
require 'pg'
require 'securerandom'

# readme: ruby-pg
# Sign-in check, on every request (after the JWT's signature and exp).
def token_valid?(conn, jti)
  conn.exec_params('SELECT logout_everywhere.token_valid($1)', [jti]).getvalue(0, 0) == 't' # 't' or 'f'
end

# Password change on this device: the trigger logs the user out everywhere
# else; current_jti spares this session.
def change_password(conn, user_id, hashed, current_jti)
  conn.transaction do
    conn.exec_params("SELECT set_config('logout_everywhere.current_jti', $1, true)", [current_jti])
    conn.exec_params('UPDATE users SET hashed_password = $1 WHERE id = $2', [hashed, user_id])
  end
end

# "Log out everywhere" (but here): how many tokens it revoked; nil: no such user.
def log_out_everywhere(conn, user_id, except_jti = nil)
  conn.exec_params('SELECT logout_everywhere.log_out_everywhere($1, except_jti => $2)',
                   [user_id, except_jti]).getvalue(0, 0).to_i # a String: '2'
rescue PG::NoDataFound # P0002: 404
  nil # others: e.result.error_field(PG::PG_DIAG_SQLSTATE), '22P02' not a valid id, '22004' null id
end
# readme: end

NAME = 'ruby-pg'
$checks = 0

def check(what, got, want)
  unless got == want && got.class == want.class
    abort "FAILED #{what}: got #{got.inspect} (#{got.class}), expected #{want.inspect} (#{want.class})"
  end
  $checks += 1
  puts "ok #{what}: #{got.inspect} (#{got.class})"
end

def sqlstate(what, want)
  yield
  abort "FAILED #{what}: succeeded, expected SQLSTATE #{want}"
rescue PG::Error => e
  check("#{what} -> SQLSTATE", e.result.error_field(PG::PG_DIAG_SQLSTATE), want)
end

def one(conn, sql, params = [])
  conn.exec_params(sql, params).getvalue(0, 0)
end

# Sign-in: store the token, as AshAuthentication does.
def sign_in(conn, subject)
  jti = SecureRandom.hex(12)
  conn.exec_params("INSERT INTO tokens (jti, subject, expires_at, purpose)
                    VALUES ($1, $2, now() AT TIME ZONE 'utc' + interval '7 days', 'user')", [jti, subject])
  jti
end

def uuid_users
  conn = PG.connect(dbname: ENV.fetch('LE_UUID_DB'))
  conn.set_notice_processor { |_| }
  user_id = one(conn, 'SELECT id FROM users WHERE email = $1', ["#{NAME}@example.com"])
  check('uuid id type', user_id.class, String)
  subject = one(conn, 'SELECT logout_everywhere.subject_for($1)', [user_id])
  check('subject_for($1)', subject, "user?id=#{user_id}")

  laptop = sign_in(conn, subject)
  phone = sign_in(conn, subject)
  check('token_valid($1)', token_valid?(conn, laptop), true)
  check('is_revoked($1), raw', one(conn, 'SELECT logout_everywhere.is_revoked($1)', [phone]), 'f')

  change_password(conn, user_id, '$2b$12$new', laptop)
  check('password change: this device stays', token_valid?(conn, laptop), true)
  check('password change: the phone is out', token_valid?(conn, phone), false)
  check('is_revoked(phone)', one(conn, 'SELECT logout_everywhere.is_revoked($1)', [phone]), 't')

  tablet = sign_in(conn, subject)
  check('log_out_everywhere($1, except_jti => $2)', log_out_everywhere(conn, user_id, laptop), 1)
  check('  the tablet is out', token_valid?(conn, tablet), false)
  check('  this device stays', token_valid?(conn, laptop), true)
  check('log_out_everywhere($1), raw', one(conn, 'SELECT logout_everywhere.log_out_everywhere($1)', [user_id]), '1')

  sign_in(conn, subject)
  # With the basic type map, results arrive as Ruby types.
  conn.type_map_for_results = PG::BasicTypeMapForResults.new(conn)
  check('the action log_out_everywhere(u), typed', one(conn,
        'SELECT public.log_out_everywhere(u) FROM users u WHERE id = $1', [user_id]), 1)
  check('token_valid($1), typed', one(conn, 'SELECT logout_everywhere.token_valid($1)', [laptop]), false)
  conn.type_map_for_results = PG::TypeMapAllStrings.new

  check('no such user -> nil (P0002)', log_out_everywhere(conn, SecureRandom.uuid), nil)
  sqlstate('log_out_everywhere(nil)', '22004') { log_out_everywhere(conn, nil) }
  sqlstate("log_out_everywhere('42')", '22P02') { log_out_everywhere(conn, '42') }
  sqlstate('log_out_everywhere(unknown uuid)', 'P0002') do
    one(conn, 'SELECT logout_everywhere.log_out_everywhere($1)', [SecureRandom.uuid])
  end
  sqlstate('subject_for(nil)', '22004') { one(conn, 'SELECT logout_everywhere.subject_for($1)', [nil]) }
  conn.close
end

def bigint_users
  conn = PG.connect(dbname: ENV.fetch('LE_BIGINT_DB'))
  conn.set_notice_processor { |_| }
  user_id = one(conn, 'SELECT id FROM users WHERE email = $1', ["#{NAME}@example.com"])
  check('bigint id type', user_id.class, String)
  subject = one(conn, 'SELECT logout_everywhere.subject_for($1, user_table => $2::regclass)', [user_id.to_i, 'users'])
  check('subject_for(Integer, user_table => $2::regclass)', subject, "user?id=#{user_id}")

  laptop = sign_in(conn, subject)
  phone = sign_in(conn, subject)
  check('token_valid($1)', token_valid?(conn, phone), true)
  sqlstate('two tables, no user_table', '55000') { log_out_everywhere(conn, user_id) }

  change_password(conn, user_id.to_i, '$2b$12$new', laptop)
  check('password change: this device stays', token_valid?(conn, laptop), true)
  check('password change: the phone is out', token_valid?(conn, phone), false)

  tablet = sign_in(conn, subject)
  check('log_out_everywhere($1, except_jti => $2, user_table => $3::regclass)', one(conn,
        'SELECT logout_everywhere.log_out_everywhere($1, except_jti => $2, user_table => $3::regclass)',
        [user_id.to_i, laptop, 'users']), '1')
  check('  the tablet is out', token_valid?(conn, tablet), false)
  check('the action log_out_everywhere(u)', one(conn,
        'SELECT public.log_out_everywhere(u) FROM users u WHERE id = $1', [user_id]), '1')
  check('  this device is out too', token_valid?(conn, laptop), false)

  by_table = 'SELECT logout_everywhere.log_out_everywhere($1, user_table => $2::regclass)'
  sqlstate('log_out_everywhere(nil)', '22004') { one(conn, by_table, [nil, 'users']) }
  sqlstate("log_out_everywhere('abc')", '22P02') { one(conn, by_table, ['abc', 'users']) }
  sqlstate('log_out_everywhere(999999999)', 'P0002') { one(conn, by_table, [999_999_999, 'users']) }
  conn.close
end

uuid_users
bigint_users
puts "#{NAME}: #{$checks} checks passed"
