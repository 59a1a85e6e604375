// logout_everywhere from a Node.js application, end to end.
//
//   cd examples/node && npm ci && node app.js
//
// Run it against a throwaway cluster: it connects with the usual PG* variables
// (PGHOST, PGPORT, PGUSER, PGPASSWORD) as a superuser, creates the database
// le_node_example and the login role le_node_example_app (dropping them first
// if they exist), then plays the application with that role's privileges only:
//
//   1. alice signs in on three devices (laptop, phone, tablet); bob on one.
//      Every issued token is stored, as AshAuthentication does:
//      INSERT ... ON CONFLICT (jti) DO UPDATE.
//   2. Each request is authenticated: JWT signature and exp, then
//      logout_everywhere.token_valid(jti, purpose) (the token is stored, not
//      revoked, not expired).
//   3. alice changes her password on the laptop: SET LOCAL
//      logout_everywhere.current_jti spares the laptop's token, the password
//      trigger revokes the phone's and the tablet's.
//   4. An admin logs alice out everywhere: the action log_out_everywhere(user)
//      that logout_everywhere.enable() created.
//   5. The same with token checks cached in the process: the cache LISTENs on
//      the channel that logout_everywhere.notify_channel names, and drops a
//      user's cached checks when a revocation of theirs commits. A cache that
//      does not listen (the negative control) keeps answering "valid".
//
// Every request's answer is checked; the process exits 1 on the first
// mismatch, 0 when the whole flow behaved as expected.
'use strict';

const crypto = require('node:crypto');
const { Client, Pool } = require('pg');

const DB = 'le_node_example';
const CHANNEL = 'token_revocations';
const APP_ROLE = 'le_node_example_app';
const SECRET = crypto.randomBytes(32); // the JWT signing key
const TOKEN_LIFETIME_S = 7 * 24 * 3600; // Ash's default: 7 days

// ------------------------------------------------------------ small helpers

let checks = 0;
function expect(what, got, want) {
  checks += 1;
  const ok = JSON.stringify(got) === JSON.stringify(want);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}: ${JSON.stringify(got)}${ok ? '' : ` (expected ${JSON.stringify(want)})`}`);
  if (!ok) {
    throw new Error(`unexpected answer: ${what}`);
  }
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

// An HS256 JWT, enough for the example (use a JWT library in a real application).
function signJwt(claims) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = b64url(crypto.createHmac('sha256', SECRET).update(`${head}.${body}`).digest());
  return `${head}.${body}.${sig}`;
}

function verifyJwt(token) {
  const parts = String(token || '').split('.');
  if (parts.length !== 3) return null;
  const want = b64url(crypto.createHmac('sha256', SECRET).update(`${parts[0]}.${parts[1]}`).digest());
  if (want.length !== parts[2].length || !crypto.timingSafeEqual(Buffer.from(want), Buffer.from(parts[2]))) {
    return null;
  }
  const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
  if (typeof claims.exp !== 'number' || claims.exp <= Date.now() / 1000) return null;
  return claims;
}

// A jti as Joken makes them: 24 characters of lowercase base32hex.
function newJti() {
  const alphabet = '0123456789abcdefghijklmnopqrstuv';
  return Array.from(crypto.randomBytes(24), (b) => alphabet[b & 31]).join('');
}

function hashPassword(password) {
  const salt = crypto.randomBytes(16);
  return `scrypt$${salt.toString('hex')}$${crypto.scryptSync(password, salt, 32).toString('hex')}`;
}

function passwordMatches(password, stored) {
  const [, salt, hash] = stored.split('$');
  const got = crypto.scryptSync(password, Buffer.from(salt, 'hex'), 32);
  return crypto.timingSafeEqual(got, Buffer.from(hash, 'hex'));
}

// ------------------------------------------------- the DBA's part (superuser)

async function setUp(appPassword) {
  const admin = new Client({ database: process.env.PGDATABASE || 'postgres' });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
  await admin.query(`DROP ROLE IF EXISTS ${APP_ROLE}`);
  await admin.query(`CREATE ROLE ${APP_ROLE} LOGIN PASSWORD ${admin.escapeLiteral(appPassword)}`);
  await admin.query(`CREATE DATABASE ${DB}`);
  await admin.end();

  const db = new Client({ database: DB });
  await db.connect();
  await db.query(`
    SET client_min_messages = warning;
    CREATE EXTENSION logout_everywhere;

    CREATE TABLE users (
      id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      email           text NOT NULL UNIQUE,
      hashed_password text NOT NULL);

    -- The token table exactly as AshAuthentication + AshPostgres create it.
    CREATE TABLE tokens (
      jti        text NOT NULL PRIMARY KEY,
      subject    text NOT NULL,
      expires_at timestamp(0) NOT NULL,
      purpose    text NOT NULL,
      extra_data jsonb,
      created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'),
      updated_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'));

    -- Log out everywhere on every password change; creates the action
    -- public.log_out_everywhere("user" users) and an index on tokens(subject).
    SELECT logout_everywhere.enable('users', 'tokens', apply_on_password_change => true);

    -- What the application role needs, and nothing more.
    GRANT USAGE ON SCHEMA logout_everywhere TO ${APP_ROLE};
    GRANT EXECUTE ON FUNCTION
      logout_everywhere.token_valid(text, text, regclass),
      logout_everywhere.is_revoked(text, regclass),
      logout_everywhere.subject_for("any", regclass),
      logout_everywhere.log_out_everywhere("any", text[], text[], text, regclass),
      public.log_out_everywhere(users)
      TO ${APP_ROLE};
    GRANT SELECT, INSERT, UPDATE ON users TO ${APP_ROLE};
    GRANT SELECT, INSERT, UPDATE ON tokens TO ${APP_ROLE};

    -- Every revocation the application's sessions commit (log-outs and the
    -- password trigger) sends NOTIFY ${CHANNEL} with the user's subject.
    ALTER ROLE ${APP_ROLE} IN DATABASE ${DB} SET logout_everywhere.notify_channel = '${CHANNEL}';
  `);
  await db.end();
}

// ------------------------------------------------------ the application

// Token checks cached in the process: jti -> subject of every token found
// valid. A NOTIFY on the revocation channel carries the subject whose
// tokens were revoked (an empty payload: drop everything).
class TokenCheckCache {
  constructor() {
    this.valid = new Map();
    this.bySubject = new Map();
    this.waiters = [];
  }

  has(jti) {
    return this.valid.has(jti);
  }

  remember(jti, subject) {
    this.valid.set(jti, subject);
    if (!this.bySubject.has(subject)) this.bySubject.set(subject, new Set());
    this.bySubject.get(subject).add(jti);
  }

  forget(subject) {
    if (subject === '') {
      this.valid.clear();
      this.bySubject.clear();
    } else {
      for (const jti of this.bySubject.get(subject) || []) this.valid.delete(jti);
      this.bySubject.delete(subject);
    }
    this.waiters = this.waiters.filter((w) => !(w.subject === subject && (w.resolve(), true)));
  }

  // Listen on a dedicated connection (not a pooled one).
  async listen(client, channel) {
    client.on('notification', (msg) => this.forget(msg.payload || ''));
    await client.query(`LISTEN ${client.escapeIdentifier(channel)}`);
  }

  // For the test: resolves once a revocation of this subject was heard.
  heard(subject, ms = 5000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no NOTIFY for ${subject}`)), ms);
      this.waiters.push({ subject, resolve: () => { clearTimeout(timer); resolve(); } });
    });
  }
}

class App {
  constructor(pool, cache = null) {
    this.pool = pool;
    this.cache = cache;
  }

  async register(email, password) {
    const { rows } = await this.pool.query(
      'INSERT INTO users (email, hashed_password) VALUES ($1, $2) RETURNING id',
      [email, hashPassword(password)]);
    return rows[0].id;
  }

  // POST /sign_in: check the password, issue a JWT and store its jti.
  async signIn(email, password, device) {
    const { rows } = await this.pool.query(
      'SELECT id, hashed_password FROM users WHERE email = $1', [email]);
    if (rows.length === 0 || !passwordMatches(password, rows[0].hashed_password)) {
      return { status: 401 };
    }
    const jti = newJti();
    const exp = Math.floor(Date.now() / 1000) + TOKEN_LIFETIME_S;
    const { rows: [{ subject }] } = await this.pool.query(
      'SELECT logout_everywhere.subject_for($1::uuid) AS subject', [rows[0].id]);
    const purpose = 'user';
    // Stored as Ash stores every token: expires_at in UTC wall-clock time.
    await this.pool.query(
      `INSERT INTO tokens (jti, subject, expires_at, purpose, extra_data)
       VALUES ($1, $2, to_timestamp($3) AT TIME ZONE 'utc', $4, $5)
       ON CONFLICT (jti) DO UPDATE
         SET subject = excluded.subject, expires_at = excluded.expires_at,
             purpose = excluded.purpose, extra_data = excluded.extra_data,
             updated_at = now() AT TIME ZONE 'utc'`,
      [jti, subject, exp, purpose, { device }]);
    return { status: 200, token: signJwt({ sub: subject, jti, exp, purpose }) };
  }

  // The authentication plug: a valid signature is not enough, the token must
  // be stored and neither revoked nor expired.
  async authenticate(token) {
    const claims = verifyJwt(token);
    if (!claims) return null;
    if (this.cache && this.cache.has(claims.jti)) return claims;
    const { rows: [{ valid }] } = await this.pool.query(
      'SELECT logout_everywhere.token_valid($1, $2) AS valid', [claims.jti, claims.purpose]);
    if (valid && this.cache) this.cache.remember(claims.jti, claims.sub);
    return valid ? claims : null;
  }

  // GET /me
  async me(token) {
    const claims = await this.authenticate(token);
    if (!claims) return { status: 401 };
    const { rows } = await this.pool.query(
      "SELECT email FROM users WHERE logout_everywhere.subject_for(id) = $1", [claims.sub]);
    return { status: 200, email: rows[0].email };
  }

  // POST /password: the device that asks stays signed in, every other
  // session of the user is revoked by the password trigger, in the same
  // transaction as the UPDATE.
  async changePassword(token, current, next) {
    const claims = await this.authenticate(token);
    if (!claims) return { status: 401 };
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query(
        "SELECT id, hashed_password FROM users WHERE logout_everywhere.subject_for(id) = $1 FOR UPDATE",
        [claims.sub]);
      if (!passwordMatches(current, rows[0].hashed_password)) {
        await client.query('ROLLBACK');
        return { status: 403 };
      }
      // SET LOCAL logout_everywhere.current_jti = '<jti>', with a bind parameter.
      await client.query("SELECT set_config('logout_everywhere.current_jti', $1, true)", [claims.jti]);
      await client.query('UPDATE users SET hashed_password = $1 WHERE id = $2',
        [hashPassword(next), rows[0].id]);
      await client.query('COMMIT');
      return { status: 204 };
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    } finally {
      client.release();
    }
  }

  // POST /admin/users/:email/log_out_everywhere
  async adminLogOutEverywhere(email) {
    const { rows } = await this.pool.query(
      'SELECT log_out_everywhere(u) AS revoked FROM users u WHERE u.email = $1', [email]);
    return rows.length === 0 ? { status: 404 } : { status: 200, revoked: Number(rows[0].revoked) };
  }

  async isRevoked(token) {
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    const { rows: [{ revoked }] } = await this.pool.query(
      'SELECT logout_everywhere.is_revoked($1) AS revoked', [claims.jti]);
    return revoked;
  }
}

// ---------------------------------------------------------------- the flow

async function main() {
  const appPassword = crypto.randomBytes(18).toString('base64url');
  await setUp(appPassword);

  const pool = new Pool({ database: DB, user: APP_ROLE, password: appPassword, max: 4 });
  const app = new App(pool);
  try {
    await app.register('alice@example.com', 'correct horse');
    await app.register('bob@example.com', 'hunter2');

    console.log('# alice signs in on three devices, bob on one');
    const laptop = await app.signIn('alice@example.com', 'correct horse', 'laptop');
    const phone = await app.signIn('alice@example.com', 'correct horse', 'phone');
    const tablet = await app.signIn('alice@example.com', 'correct horse', 'tablet');
    const bob = await app.signIn('bob@example.com', 'hunter2', 'desktop');
    expect('sign in laptop', laptop.status, 200);
    expect('sign in phone', phone.status, 200);
    expect('sign in tablet', tablet.status, 200);
    expect('sign in bob', bob.status, 200);
    expect('sign in with a wrong password', (await app.signIn('alice@example.com', 'nope', 'x')).status, 401);

    console.log('# every device is authenticated');
    expect('GET /me laptop', await app.me(laptop.token), { status: 200, email: 'alice@example.com' });
    expect('GET /me phone', await app.me(phone.token), { status: 200, email: 'alice@example.com' });
    expect('GET /me tablet', await app.me(tablet.token), { status: 200, email: 'alice@example.com' });
    expect('GET /me bob', await app.me(bob.token), { status: 200, email: 'bob@example.com' });
    expect('GET /me without a token', await app.me(undefined), { status: 401 });
    const [head, , sig] = laptop.token.split('.');
    const forged = `${head}.${b64url(JSON.stringify({ sub: 'user?id=admin', jti: 'x', exp: 4102444800, purpose: 'user' }))}.${sig}`;
    expect('GET /me with a forged token', await app.me(forged), { status: 401 });
    // A correctly signed token that was never stored is refused too.
    const unstored = signJwt({ sub: 'user?id=x', jti: newJti(), exp: Math.floor(Date.now() / 1000) + 60, purpose: 'user' });
    expect('GET /me with a signed but unstored token', await app.me(unstored), { status: 401 });

    console.log('# alice changes her password on the laptop');
    expect('POST /password with a wrong current password',
      await app.changePassword(laptop.token, 'wrong', 'x'), { status: 403 });
    expect('GET /me phone (nothing revoked by the refused change)', (await app.me(phone.token)).status, 200);
    expect('POST /password', await app.changePassword(laptop.token, 'correct horse', 'battery staple'), { status: 204 });
    expect('GET /me laptop (the device that changed it stays signed in)', (await app.me(laptop.token)).status, 200);
    expect('GET /me phone', (await app.me(phone.token)).status, 401);
    expect('GET /me tablet', (await app.me(tablet.token)).status, 401);
    expect('phone token is revoked', await app.isRevoked(phone.token), true);
    expect('laptop token is revoked', await app.isRevoked(laptop.token), false);
    expect('GET /me bob (another user)', (await app.me(bob.token)).status, 200);
    expect('sign in with the old password', (await app.signIn('alice@example.com', 'correct horse', 'phone')).status, 401);
    const phone2 = await app.signIn('alice@example.com', 'battery staple', 'phone');
    expect('sign in with the new password', phone2.status, 200);
    expect('GET /me phone, signed in again', (await app.me(phone2.token)).status, 200);

    console.log('# an admin logs alice out everywhere');
    expect('POST /admin/users/alice/log_out_everywhere', await app.adminLogOutEverywhere('alice@example.com'),
      { status: 200, revoked: 2 });
    expect('GET /me laptop', (await app.me(laptop.token)).status, 401);
    expect('GET /me phone, signed in again', (await app.me(phone2.token)).status, 401);
    expect('GET /me phone (old token)', (await app.me(phone.token)).status, 401);
    expect('GET /me tablet', (await app.me(tablet.token)).status, 401);
    expect('GET /me bob (another user)', (await app.me(bob.token)).status, 200);
    expect('log out everywhere again revokes nothing', await app.adminLogOutEverywhere('alice@example.com'),
      { status: 200, revoked: 0 });
    expect('log out everywhere of an unknown user', await app.adminLogOutEverywhere('nobody@example.com'),
      { status: 404 });

    const laptop2 = await app.signIn('alice@example.com', 'battery staple', 'laptop');
    expect('GET /me laptop, signed in after the log-out', (await app.me(laptop2.token)).status, 200);

    console.log('# token checks cached in the process, told of revocations by LISTEN');
    const listener = new Client({ database: DB, user: APP_ROLE, password: appPassword });
    await listener.connect();
    const cache = new TokenCheckCache();
    await cache.listen(listener, CHANNEL);
    const stale = new TokenCheckCache(); // the negative control: it never listens
    const cached = new App(pool, cache);
    const unlistened = new App(pool, stale);
    try {
      const phone3 = await app.signIn('alice@example.com', 'battery staple', 'phone');
      for (const a of [cached, unlistened]) {
        expect('GET /me laptop (cached now)', (await a.me(laptop2.token)).status, 200);
        expect('GET /me phone (cached now)', (await a.me(phone3.token)).status, 200);
        expect('GET /me bob (cached now)', (await a.me(bob.token)).status, 200);
      }
      expect('three checks cached', cache.valid.size, 3);
      const alice = laptop2.token && verifyJwt(laptop2.token).sub;
      let heard = cache.heard(alice);
      expect('POST /password from the laptop', await app.changePassword(laptop2.token, 'battery staple', 'tr0ub4dor'),
        { status: 204 });
      await heard;
      expect('GET /me phone through the listening cache', (await cached.me(phone3.token)).status, 401);
      expect('GET /me laptop through the listening cache (spared)', (await cached.me(laptop2.token)).status, 200);
      expect('GET /me bob through the listening cache (still cached)', cache.has(verifyJwt(bob.token).jti), true);
      expect('GET /me phone through a cache that does not listen (stale)', (await unlistened.me(phone3.token)).status, 200);
      heard = cache.heard(alice);
      expect('POST /admin/users/alice/log_out_everywhere', await app.adminLogOutEverywhere('alice@example.com'),
        { status: 200, revoked: 1 });
      await heard;
      expect('GET /me laptop through the listening cache', (await cached.me(laptop2.token)).status, 401);
      expect('GET /me bob through the listening cache', (await cached.me(bob.token)).status, 200);
    } finally {
      await listener.end();
    }

    console.log(`ok: ${checks} checks, every request answered as expected`);
  } finally {
    await pool.end();
  }
}

main().catch((err) => {
  console.error(`example failed: ${err.message}`);
  process.exit(1);
});
