"""logout_everywhere from psycopg 3, with bound parameters.

    /usr/bin/python3 psycopg3_app.py                  server-side binding (psycopg's default)
    /usr/bin/python3 psycopg3_app.py --client-side    ClientCursor: values merged into the query

t/drivers.sh runs both (PG* variables, LE_UUID_DB, LE_BIGINT_DB). The
functions between "readme:" markers are the README's psycopg snippet.
"""
import os
import secrets
import sys
import uuid

import psycopg


# readme: psycopg
def token_valid(conn, jti):
    """Sign-in check, on every request (after the JWT's signature and exp)."""
    return conn.execute("SELECT logout_everywhere.token_valid(%s)", [jti]).fetchone()[0]


def change_password(conn, user_id, hashed, current_jti):
    """The trigger logs the user out everywhere else; current_jti spares this session."""
    with conn.transaction():
        conn.execute("SELECT set_config('logout_everywhere.current_jti', %s, true)", [current_jti])
        conn.execute("UPDATE users SET hashed_password = %s WHERE id = %s", [hashed, user_id])


def log_out_everywhere(conn, user_id, except_jti=None):
    """How many tokens it revoked, an int; None: no such user."""
    try:
        return conn.execute("SELECT logout_everywhere.log_out_everywhere(%s, except_jti => %s)",
                            [user_id, except_jti]).fetchone()[0]
    except psycopg.errors.NoDataFound:  # P0002: 404
        return None  # others: e.sqlstate, '22P02' not a valid id, '22004' null id
# readme: end


CLIENT_SIDE = "--client-side" in sys.argv
NAME = "psycopg-client" if CLIENT_SIDE else "psycopg"
checks = 0


def check(what, got, want):
    global checks
    if got != want or type(got) is not type(want):
        sys.exit(f"FAILED {what}: got {got!r} ({type(got).__name__}), expected {want!r} ({type(want).__name__})")
    checks += 1
    print(f"ok {what}: {got!r} ({type(got).__name__})")


def sqlstate(what, want, fn, *args):
    try:
        fn(*args)
    except psycopg.Error as e:
        check(f"{what} -> SQLSTATE", e.sqlstate, want)
        return
    sys.exit(f"FAILED {what}: succeeded, expected SQLSTATE {want}")


def connect(dbname):
    return psycopg.connect(dbname=dbname, autocommit=True,
                           cursor_factory=psycopg.ClientCursor if CLIENT_SIDE else psycopg.Cursor)


def one(conn, query, params=()):
    return conn.execute(query, params).fetchone()[0]


def sign_in(conn, subject):
    """Store the token, as AshAuthentication does."""
    jti = secrets.token_hex(12)
    conn.execute("""INSERT INTO tokens (jti, subject, expires_at, purpose)
                    VALUES (%s, %s, now() AT TIME ZONE 'utc' + interval '7 days', 'user')""", [jti, subject])
    return jti


def uuid_users():
    conn = connect(os.environ["LE_UUID_DB"])
    user_id = one(conn, "SELECT id FROM users WHERE email = %s", [f"{NAME}@example.com"])
    check("uuid id type", type(user_id), uuid.UUID)
    subject = one(conn, "SELECT logout_everywhere.subject_for(%s)", [user_id])
    check("subject_for(UUID)", subject, f"user?id={user_id}")
    check("subject_for(str)", one(conn, "SELECT logout_everywhere.subject_for(%s)", [str(user_id)]), subject)

    laptop, phone = sign_in(conn, subject), sign_in(conn, subject)
    check("token_valid(%s)", token_valid(conn, laptop), True)
    check("is_revoked(%s)", one(conn, "SELECT logout_everywhere.is_revoked(%s)", [phone]), False)

    change_password(conn, user_id, "$2b$12$new", laptop)
    check("password change: this device stays", token_valid(conn, laptop), True)
    check("password change: the phone is out", token_valid(conn, phone), False)
    check("is_revoked(phone)", one(conn, "SELECT logout_everywhere.is_revoked(%s)", [phone]), True)

    tablet = sign_in(conn, subject)
    check("log_out_everywhere(str, except_jti => %s)", log_out_everywhere(conn, str(user_id), laptop), 1)
    check("  the tablet is out", token_valid(conn, tablet), False)
    check("  this device stays", token_valid(conn, laptop), True)
    check("log_out_everywhere(UUID)",
          one(conn, "SELECT logout_everywhere.log_out_everywhere(%s)", [user_id]), 1)
    check("log_out_everywhere(str), nothing left",
          one(conn, "SELECT logout_everywhere.log_out_everywhere(%s)", [str(user_id)]), 0)

    sign_in(conn, subject)
    check("the action log_out_everywhere(u)",
          one(conn, "SELECT public.log_out_everywhere(u) FROM users u WHERE id = %s", [user_id]), 1)

    check("no such user -> None (P0002)", log_out_everywhere(conn, str(uuid.uuid4())), None)
    sqlstate("log_out_everywhere(None)", "22004", log_out_everywhere, conn, None)
    sqlstate("log_out_everywhere('42')", "22P02", log_out_everywhere, conn, "42")
    sqlstate("log_out_everywhere(42)", "22P02", log_out_everywhere, conn, 42)
    sqlstate("log_out_everywhere(unknown UUID)", "P0002",
             one, conn, "SELECT logout_everywhere.log_out_everywhere(%s)", [uuid.uuid4()])
    sqlstate("subject_for(None)", "22004", one, conn, "SELECT logout_everywhere.subject_for(%s)", [None])
    conn.close()


def bigint_users():
    conn = connect(os.environ["LE_BIGINT_DB"])
    user_id = one(conn, "SELECT id FROM users WHERE email = %s", [f"{NAME}@example.com"])
    check("bigint id type", type(user_id), int)
    subject = one(conn, "SELECT logout_everywhere.subject_for(%s, user_table => %s::regclass)", [user_id, "users"])
    check("subject_for(int, user_table => %s::regclass)", subject, f"user?id={user_id}")
    check("subject_for(str, ...)", one(conn, "SELECT logout_everywhere.subject_for(%s, user_table => %s::regclass)",
                                       [str(user_id), "users"]), subject)

    laptop, phone = sign_in(conn, subject), sign_in(conn, subject)
    check("token_valid(%s)", token_valid(conn, phone), True)
    sqlstate("two tables, no user_table", "55000", log_out_everywhere, conn, user_id)

    with conn.transaction():
        conn.execute("SELECT set_config('logout_everywhere.current_jti', %s, true)", [laptop])
        conn.execute("UPDATE users SET hashed_password = %s WHERE id = %s", ["$2b$12$new", user_id])
    check("password change: this device stays", token_valid(conn, laptop), True)
    check("password change: the phone is out", token_valid(conn, phone), False)

    tablet = sign_in(conn, subject)
    check("log_out_everywhere(int, except_jti => %s, user_table => %s::regclass)", one(conn,
          "SELECT logout_everywhere.log_out_everywhere(%s, except_jti => %s, user_table => %s::regclass)",
          [user_id, laptop, "users"]), 1)
    check("  the tablet is out", token_valid(conn, tablet), False)
    check("the action log_out_everywhere(u)",
          one(conn, "SELECT public.log_out_everywhere(u) FROM users u WHERE id = %s", [user_id]), 1)
    check("  this device is out too", token_valid(conn, laptop), False)

    by_table = "SELECT logout_everywhere.log_out_everywhere(%s, user_table => %s::regclass)"
    check("log_out_everywhere(str), nothing left", one(conn, by_table, [str(user_id), "users"]), 0)
    sqlstate("log_out_everywhere(None)", "22004", one, conn, by_table, [None, "users"])
    sqlstate("log_out_everywhere('abc')", "22P02", one, conn, by_table, ["abc", "users"])
    sqlstate("log_out_everywhere(999999999)", "P0002", one, conn, by_table, [999999999, "users"])
    sqlstate("log_out_everywhere(2**40)", "P0002", one, conn, by_table, [2**40, "users"])
    conn.close()


uuid_users()
bigint_users()
print(f"{NAME}: {checks} checks passed")
