// logout_everywhere from Java with pgjdbc, with bound parameters:
// setString, setObject(UUID) and setLong.
//
//   javac -cp /usr/share/java/postgresql.jar -d out App.java
//   java -cp out:/usr/share/java/postgresql.jar App
//
// t/drivers.sh runs it (PGHOST, PGPORT, PGUSER, PGPASSWORD, LE_UUID_DB, LE_BIGINT_DB).
// The methods between "readme:" markers are the README's Java snippet.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Objects;
import java.util.UUID;

public class App {
    // readme: pgjdbc
    // Sign-in check, on every request (after the JWT's signature and exp).
    static boolean tokenValid(Connection db, String jti) throws SQLException {
        try (PreparedStatement st = db.prepareStatement("SELECT logout_everywhere.token_valid(?)")) {
            st.setString(1, jti);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                return rs.getBoolean(1);
            }
        }
    }

    // Password change on this device: the trigger logs the user out everywhere
    // else; current_jti spares this session.
    static void changePassword(Connection db, UUID userId, String hash, String currentJti) throws SQLException {
        db.setAutoCommit(false);
        try (PreparedStatement jti = db.prepareStatement("SELECT set_config('logout_everywhere.current_jti', ?, true)");
             PreparedStatement upd = db.prepareStatement("UPDATE users SET hashed_password = ? WHERE id = ?")) {
            jti.setString(1, currentJti);
            jti.execute();
            upd.setString(1, hash);
            upd.setObject(2, userId); // a uuid column: setObject(UUID), not setString
            upd.executeUpdate();
            db.commit();
        } catch (SQLException e) {
            db.rollback();
            throw e;
        } finally {
            db.setAutoCommit(true);
        }
    }

    // "Log out everywhere" (but here): how many tokens it revoked; null: no such user.
    static Long logOutEverywhere(Connection db, UUID userId, String exceptJti) throws SQLException {
        String sql = "SELECT logout_everywhere.log_out_everywhere(?, except_jti => ?)";
        try (PreparedStatement st = db.prepareStatement(sql)) {
            st.setObject(1, userId);
            st.setString(2, exceptJti);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                return rs.getLong(1);
            }
        } catch (SQLException e) {
            if ("P0002".equals(e.getSQLState())) return null; // no such user: 404
            throw e; // 22P02 not a valid id, 22004 null id
        }
    }
    // readme: end

    static int checks = 0;

    static void check(String what, Object got, Object want) {
        if (!Objects.equals(got, want)) {
            throw new AssertionError(what + ": got " + got + " (" + (got == null ? "null" : got.getClass().getSimpleName())
                    + "), expected " + want + " (" + (want == null ? "null" : want.getClass().getSimpleName()) + ")");
        }
        checks++;
        System.out.println("ok " + what + ": " + got + " (" + (got == null ? "null" : got.getClass().getSimpleName()) + ")");
    }

    interface Call { void run() throws SQLException; }

    static void sqlstate(String what, String want, Call call) {
        try {
            call.run();
        } catch (SQLException e) {
            check(what + " -> SQLSTATE", e.getSQLState(), want);
            return;
        }
        throw new AssertionError(what + ": succeeded, expected SQLSTATE " + want);
    }

    // One value of a query; each parameter set with setObject (String, UUID, Long; null as setNull).
    static Object one(Connection db, String sql, Object... params) throws SQLException {
        try (PreparedStatement st = db.prepareStatement(sql)) {
            for (int i = 0; i < params.length; i++) st.setObject(i + 1, params[i]);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                return rs.getObject(1);
            }
        }
    }

    static String newJti() { return UUID.randomUUID().toString().replace("-", "").substring(0, 24); }

    // Sign-in: store the token, as AshAuthentication does.
    static String signIn(Connection db, String subject) throws SQLException {
        String jti = newJti();
        try (PreparedStatement st = db.prepareStatement("INSERT INTO tokens (jti, subject, expires_at, purpose) "
                + "VALUES (?, ?, now() AT TIME ZONE 'utc' + interval '7 days', 'user')")) {
            st.setString(1, jti);
            st.setString(2, subject);
            st.executeUpdate();
        }
        return jti;
    }

    static Connection connect(String db) throws SQLException {
        String url = "jdbc:postgresql://" + System.getenv().getOrDefault("PGHOST", "localhost") + ":"
                + System.getenv().getOrDefault("PGPORT", "5432") + "/" + db;
        return DriverManager.getConnection(url, System.getenv("PGUSER"), System.getenv("PGPASSWORD"));
    }

    static void uuidUsers() throws SQLException {
        try (Connection db = connect(System.getenv("LE_UUID_DB"))) {
            Object id = one(db, "SELECT id FROM users WHERE email = ?", "pgjdbc@example.com");
            check("uuid id type", id.getClass().getName(), "java.util.UUID");
            UUID userId = (UUID) id;
            String subject = (String) one(db, "SELECT logout_everywhere.subject_for(?)", userId);
            check("subject_for(setObject(UUID))", subject, "user?id=" + userId);
            check("subject_for(setString)", one(db, "SELECT logout_everywhere.subject_for(?)", userId.toString()), subject);

            String laptop = signIn(db, subject), phone = signIn(db, subject);
            check("token_valid(?)", tokenValid(db, laptop), true);
            check("is_revoked(?)", one(db, "SELECT logout_everywhere.is_revoked(?)", phone), false);

            changePassword(db, userId, "$2b$12$new", laptop);
            check("password change: this device stays", tokenValid(db, laptop), true);
            check("password change: the phone is out", tokenValid(db, phone), false);
            check("is_revoked(phone)", one(db, "SELECT logout_everywhere.is_revoked(?)", phone), true);

            String tablet = signIn(db, subject);
            check("log_out_everywhere(setObject(UUID), except_jti => ?)", logOutEverywhere(db, userId, laptop), 1L);
            check("  the tablet is out", tokenValid(db, tablet), false);
            check("  this device stays", tokenValid(db, laptop), true);
            check("log_out_everywhere(setString)",
                  one(db, "SELECT logout_everywhere.log_out_everywhere(?)", userId.toString()), 1L);

            signIn(db, subject);
            check("the action log_out_everywhere(u)",
                  one(db, "SELECT public.log_out_everywhere(u) FROM users u WHERE id = ?", userId), 1L);

            check("no such user -> null (P0002)", logOutEverywhere(db, UUID.randomUUID(), null), null);
            sqlstate("log_out_everywhere(null)", "22004", () -> logOutEverywhere(db, null, null));
            sqlstate("log_out_everywhere(setString('42'))", "22P02",
                     () -> one(db, "SELECT logout_everywhere.log_out_everywhere(?)", "42"));
            sqlstate("log_out_everywhere(setString(unknown uuid))", "P0002",
                     () -> one(db, "SELECT logout_everywhere.log_out_everywhere(?)", UUID.randomUUID().toString()));
            sqlstate("subject_for(setNull)", "22004", () -> {
                try (PreparedStatement st = db.prepareStatement("SELECT logout_everywhere.subject_for(?)")) {
                    st.setNull(1, java.sql.Types.VARCHAR);
                    st.executeQuery();
                }
            });
            // setString where the id column is a uuid: pgjdbc sends varchar, and "uuid = varchar" does not exist
            sqlstate("UPDATE ... WHERE id = setString(uuid)", "42883", () -> {
                try (PreparedStatement st = db.prepareStatement("UPDATE users SET email = email WHERE id = ?")) {
                    st.setString(1, userId.toString());
                    st.executeUpdate();
                }
            });
        }
    }

    static void bigintUsers() throws SQLException {
        try (Connection db = connect(System.getenv("LE_BIGINT_DB"))) {
            Object id = one(db, "SELECT id FROM users WHERE email = ?", "pgjdbc@example.com");
            check("bigint id type", id.getClass().getName(), "java.lang.Long");
            long userId = (Long) id;
            String subject;
            try (PreparedStatement st = db.prepareStatement(
                    "SELECT logout_everywhere.subject_for(?, user_table => ?::regclass)")) {
                st.setLong(1, userId);
                st.setString(2, "users");
                try (ResultSet rs = st.executeQuery()) { rs.next(); subject = rs.getString(1); }
            }
            check("subject_for(setLong, user_table => ?::regclass)", subject, "user?id=" + userId);

            String laptop = signIn(db, subject), phone = signIn(db, subject);
            check("token_valid(?)", tokenValid(db, phone), true);
            sqlstate("two tables, no user_table", "55000",
                     () -> one(db, "SELECT logout_everywhere.log_out_everywhere(?)", userId));

            db.setAutoCommit(false);
            try (PreparedStatement jti = db.prepareStatement("SELECT set_config('logout_everywhere.current_jti', ?, true)");
                 PreparedStatement upd = db.prepareStatement("UPDATE users SET hashed_password = ? WHERE id = ?")) {
                jti.setString(1, laptop);
                jti.execute();
                upd.setString(1, "$2b$12$new");
                upd.setLong(2, userId);
                upd.executeUpdate();
                db.commit();
            }
            db.setAutoCommit(true);
            check("password change: this device stays", tokenValid(db, laptop), true);
            check("password change: the phone is out", tokenValid(db, phone), false);

            String tablet = signIn(db, subject);
            long revoked;
            try (PreparedStatement st = db.prepareStatement(
                    "SELECT logout_everywhere.log_out_everywhere(?, except_jti => ?, user_table => ?::regclass)")) {
                st.setLong(1, userId);
                st.setString(2, laptop);
                st.setString(3, "users");
                try (ResultSet rs = st.executeQuery()) { rs.next(); revoked = rs.getLong(1); }
            }
            check("log_out_everywhere(setLong, except_jti => ?, user_table => ?::regclass)", revoked, 1L);
            check("  the tablet is out", tokenValid(db, tablet), false);
            check("the action log_out_everywhere(u)",
                  one(db, "SELECT public.log_out_everywhere(u) FROM users u WHERE id = ?", userId), 1L);
            check("  this device is out too", tokenValid(db, laptop), false);

            String byTable = "SELECT logout_everywhere.log_out_everywhere(?, user_table => ?::regclass)";
            check("log_out_everywhere(setString), nothing left", one(db, byTable, Long.toString(userId), "users"), 0L);
            sqlstate("log_out_everywhere(setNull)", "22004", () -> {
                try (PreparedStatement st = db.prepareStatement(byTable)) {
                    st.setNull(1, java.sql.Types.BIGINT);
                    st.setString(2, "users");
                    st.executeQuery();
                }
            });
            sqlstate("log_out_everywhere(setString('abc'))", "22P02", () -> one(db, byTable, "abc", "users"));
            sqlstate("log_out_everywhere(setLong(999999999))", "P0002", () -> one(db, byTable, 999999999L, "users"));
        }
    }

    public static void main(String[] args) throws SQLException {
        try {
            uuidUsers();
            bigintUsers();
        } catch (AssertionError | SQLException e) {
            System.out.println("FAILED " + e.getMessage()
                    + (e instanceof SQLException ? " (SQLSTATE " + ((SQLException) e).getSQLState() + ")" : ""));
            System.exit(1);
        }
        System.out.println("pgjdbc: " + checks + " checks passed");
    }
}
