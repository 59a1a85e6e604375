// logout_everywhere from postgres.js (the "postgres" package), with bound parameters.
//
//   npm ci && node postgres.js   (t/drivers.sh runs it; PG* variables, LE_UUID_DB, LE_BIGINT_DB)
//
// The functions between "readme:" markers are the README's postgres.js snippet.
'use strict';
const crypto = require('node:crypto');
const assert = require('node:assert/strict');
const postgres = require('postgres');

// readme: postgres-js
// Sign-in check, on every request (after the JWT's signature and exp).
async function tokenValid(sql, jti) {
  const [{ valid }] = await sql`SELECT logout_everywhere.token_valid(${jti}) AS valid`;
  return valid; // true or false
}

// Password change on this device: the trigger logs the user out everywhere
// else; current_jti spares this session.
async function changePassword(sql, userId, hash, currentJti) {
  await sql.begin(async (sql) => {
    await sql`SELECT set_config('logout_everywhere.current_jti', ${currentJti}, true)`;
    await sql`UPDATE users SET hashed_password = ${hash} WHERE id = ${userId}`;
  });
}

// "Log out everywhere" (but here); null: no such user.
async function logOutEverywhere(sql, userId, exceptJti = null) {
  try {
    const [{ revoked }] = await sql`
      SELECT logout_everywhere.log_out_everywhere(${userId}, except_jti => ${exceptJti}) AS revoked`;
    return Number(revoked); // bigint arrives as a string: '2'
  } catch (err) {
    if (err.code === 'P0002') return null; // no such user: 404
    throw err; // 22P02 not a valid id, 22004 null id
  }
}
// readme: end

// ------------------------------------------------------------------ checks
let checks = 0;
function check(what, got, want) {
  assert.deepStrictEqual(got, want, what);
  checks += 1;
  console.log(`ok ${what}: ${JSON.stringify(got)} (${typeof got})`);
}
async function sqlstate(what, want, promise) {
  try {
    await promise;
  } catch (err) {
    check(`${what} -> SQLSTATE`, err.code, want);
    return;
  }
  assert.fail(`${what}: succeeded, expected SQLSTATE ${want}`);
}
const newJti = () => crypto.randomBytes(12).toString('hex');
const first = (rows) => Object.values(rows[0])[0];
// Sign-in: store the token, as AshAuthentication does.
async function signIn(sql, subject) {
  const jti = newJti();
  await sql`INSERT INTO tokens (jti, subject, expires_at, purpose)
            VALUES (${jti}, ${subject}, now() AT TIME ZONE 'utc' + interval '7 days', 'user')`;
  return jti;
}

async function uuidUsers() {
  const sql = postgres({ database: process.env.LE_UUID_DB, onnotice: () => {} });
  const userId = first(await sql`SELECT id FROM users WHERE email = ${'postgres-js@example.com'}`);
  check('uuid id type', typeof userId, 'string');
  const subject = first(await sql`SELECT logout_everywhere.subject_for(${userId})`);
  check('subject_for($1)', subject, `user?id=${userId}`);

  const laptop = await signIn(sql, subject);
  const phone = await signIn(sql, subject);
  check('token_valid($1)', await tokenValid(sql, laptop), true);
  check('is_revoked($1)', first(await sql`SELECT logout_everywhere.is_revoked(${phone})`), false);

  await changePassword(sql, userId, '$2b$12$new', laptop);
  check('password change: this device stays', await tokenValid(sql, laptop), true);
  check('password change: the phone is out', await tokenValid(sql, phone), false);
  check('is_revoked(phone)', first(await sql`SELECT logout_everywhere.is_revoked(${phone})`), true);

  const tablet = await signIn(sql, subject);
  check('log_out_everywhere($1, except_jti => $2)', await logOutEverywhere(sql, userId, laptop), 1);
  check('  the tablet is out', await tokenValid(sql, tablet), false);
  check('  this device stays', await tokenValid(sql, laptop), true);
  check('log_out_everywhere($1) raw result',
    first(await sql`SELECT logout_everywhere.log_out_everywhere(${userId})`), '1');
  check('log_out_everywhere($1::uuid), nothing left',
    first(await sql`SELECT logout_everywhere.log_out_everywhere(${userId}::uuid)`), '0');

  await signIn(sql, subject);
  check('the action log_out_everywhere(u)',
    first(await sql`SELECT public.log_out_everywhere(u) FROM users u WHERE id = ${userId}`), '1');

  check('no such user -> null (P0002)', await logOutEverywhere(sql, crypto.randomUUID()), null);
  await sqlstate('log_out_everywhere(NULL)', '22004', logOutEverywhere(sql, null));
  await sqlstate("log_out_everywhere('42')", '22P02', logOutEverywhere(sql, '42'));
  await sqlstate('log_out_everywhere(unknown uuid)', 'P0002',
    sql`SELECT logout_everywhere.log_out_everywhere(${crypto.randomUUID()})`);
  await sqlstate('subject_for(NULL)', '22004', sql`SELECT logout_everywhere.subject_for(${null})`);
  await sql.end();
}

async function bigintUsers() {
  const sql = postgres({ database: process.env.LE_BIGINT_DB, onnotice: () => {} });
  const userId = first(await sql`SELECT id FROM users WHERE email = ${'postgres-js@example.com'}`);
  check('bigint id type', typeof userId, 'string');
  const subject = first(await sql`
    SELECT logout_everywhere.subject_for(${userId}, user_table => ${'users'}::regclass)`);
  check('subject_for($1, user_table => $2::regclass)', subject, `user?id=${userId}`);
  check('subject_for(number)', first(await sql`
    SELECT logout_everywhere.subject_for(${Number(userId)}, user_table => ${'users'}::regclass)`), subject);

  const laptop = await signIn(sql, subject);
  const phone = await signIn(sql, subject);
  check('token_valid($1)', await tokenValid(sql, phone), true);
  await sqlstate('two tables, no user_table', '55000', logOutEverywhere(sql, userId));

  await sql.begin(async (sql) => {
    await sql`SELECT set_config('logout_everywhere.current_jti', ${laptop}, true)`;
    await sql`UPDATE users SET hashed_password = ${'$2b$12$new'} WHERE id = ${Number(userId)}`;
  });
  check('password change: this device stays', await tokenValid(sql, laptop), true);
  check('password change: the phone is out', await tokenValid(sql, phone), false);

  const tablet = await signIn(sql, subject);
  check('log_out_everywhere($1, except_jti => $2, user_table => $3::regclass)', first(await sql`
    SELECT logout_everywhere.log_out_everywhere(${Number(userId)}, except_jti => ${laptop},
                                                user_table => ${'users'}::regclass)`), '1');
  check('  the tablet is out', await tokenValid(sql, tablet), false);
  check('the action log_out_everywhere(u)',
    first(await sql`SELECT public.log_out_everywhere(u) FROM users u WHERE id = ${userId}`), '1');
  check('  this device is out too', await tokenValid(sql, laptop), false);

  const byTable = (id) => sql`
    SELECT logout_everywhere.log_out_everywhere(${id}, user_table => ${'users'}::regclass)`;
  await sqlstate('log_out_everywhere(NULL)', '22004', byTable(null));
  await sqlstate("log_out_everywhere('abc')", '22P02', byTable('abc'));
  await sqlstate('log_out_everywhere(999999999)', 'P0002', byTable(999999999));
  await sql.end();
}

(async () => {
  await uuidUsers();
  await bigintUsers();
  console.log(`postgres-js: ${checks} checks passed`);
})().catch((err) => {
  console.error(`FAILED: ${err.message}${/^[0-9A-Z]{5}$/.test(err.code) ? ` (SQLSTATE ${err.code})` : ''}`);
  process.exit(1);
});
