// logout_everywhere from node-postgres (pg), with bound parameters.
//
//   npm ci && node pg.js        (t/drivers.sh runs it; PG* variables, LE_UUID_DB, LE_BIGINT_DB)
//
// The functions between "readme:" markers are the README's Node.js snippet.
'use strict';
const crypto = require('node:crypto');
const assert = require('node:assert/strict');
const { Client } = require('pg');

// readme: node-pg
// Sign-in check, on every request (after the JWT's signature and exp).
async function tokenValid(db, jti) {
  const { rows } = await db.query('SELECT logout_everywhere.token_valid($1) AS valid', [jti]);
  return rows[0].valid; // true or false
}

// Password change on this device: the trigger logs the user out everywhere
// else; current_jti spares this session.
async function changePassword(db, userId, hash, currentJti) {
  await db.query('BEGIN');
  try {
    await db.query("SELECT set_config('logout_everywhere.current_jti', $1, true)", [currentJti]);
    await db.query('UPDATE users SET hashed_password = $1 WHERE id = $2', [hash, userId]);
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK');
    throw err;
  }
}

// "Log out everywhere" (but here); null: no such user.
async function logOutEverywhere(db, userId, exceptJti = null) {
  try {
    const { rows } = await db.query(
      'SELECT logout_everywhere.log_out_everywhere($1, except_jti => $2) AS revoked',
      [userId, exceptJti]);
    return Number(rows[0].revoked); // bigint arrives as a string: '2'
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
async function one(db, sql, params) {
  const { rows } = await db.query(sql, params);
  return Object.values(rows[0])[0];
}
// Sign-in: store the token, as AshAuthentication does.
async function signIn(db, subject) {
  const jti = newJti();
  await db.query(`INSERT INTO tokens (jti, subject, expires_at, purpose)
                  VALUES ($1, $2, now() AT TIME ZONE 'utc' + interval '7 days', 'user')`, [jti, subject]);
  return jti;
}

async function uuidUsers() {
  const db = new Client({ database: process.env.LE_UUID_DB });
  await db.connect();
  const userId = await one(db, 'SELECT id FROM users WHERE email = $1', ['node-pg@example.com']);
  check('uuid id type', typeof userId, 'string');
  const subject = await one(db, 'SELECT logout_everywhere.subject_for($1)', [userId]);
  check('subject_for($1)', subject, `user?id=${userId}`);

  const laptop = await signIn(db, subject);
  const phone = await signIn(db, subject);
  check('token_valid($1)', await tokenValid(db, laptop), true);
  check('is_revoked($1)', await one(db, 'SELECT logout_everywhere.is_revoked($1)', [phone]), false);

  await changePassword(db, userId, '$2b$12$new', laptop);
  check('password change: this device stays', await tokenValid(db, laptop), true);
  check('password change: the phone is out', await tokenValid(db, phone), false);
  check('is_revoked(phone)', await one(db, 'SELECT logout_everywhere.is_revoked($1)', [phone]), true);

  const tablet = await signIn(db, subject);
  check('log_out_everywhere($1, except_jti => $2)', await logOutEverywhere(db, userId, laptop), 1);
  check('  the tablet is out', await tokenValid(db, tablet), false);
  check('  this device stays', await tokenValid(db, laptop), true);
  check('log_out_everywhere($1) raw result', await one(db,
    'SELECT logout_everywhere.log_out_everywhere($1)', [userId]), '1');
  check('log_out_everywhere($1::uuid), nothing left', await one(db,
    'SELECT logout_everywhere.log_out_everywhere($1::uuid)', [userId]), '0');

  await signIn(db, subject);
  check('the action log_out_everywhere(u)', await one(db,
    'SELECT public.log_out_everywhere(u) FROM users u WHERE id = $1', [userId]), '1');

  check('no such user -> null (P0002)', await logOutEverywhere(db, crypto.randomUUID()), null);
  await sqlstate('log_out_everywhere(NULL)', '22004', logOutEverywhere(db, null));
  await sqlstate("log_out_everywhere('42')", '22P02', logOutEverywhere(db, '42'));
  await sqlstate('log_out_everywhere(unknown uuid)', 'P0002', db.query(
    'SELECT logout_everywhere.log_out_everywhere($1)', [crypto.randomUUID()]));
  await sqlstate('subject_for(NULL)', '22004', db.query('SELECT logout_everywhere.subject_for($1)', [null]));
  await db.end();
}

async function bigintUsers() {
  const db = new Client({ database: process.env.LE_BIGINT_DB });
  await db.connect();
  const userId = await one(db, 'SELECT id FROM users WHERE email = $1', ['node-pg@example.com']);
  check('bigint id type', typeof userId, 'string');
  const subject = await one(db,
    'SELECT logout_everywhere.subject_for($1, user_table => $2::regclass)', [userId, 'users']);
  check('subject_for($1, user_table => $2::regclass)', subject, `user?id=${userId}`);
  check('subject_for(number)', await one(db,
    'SELECT logout_everywhere.subject_for($1, user_table => $2::regclass)', [Number(userId), 'users']), subject);

  const laptop = await signIn(db, subject);
  const phone = await signIn(db, subject);
  check('token_valid($1)', await tokenValid(db, phone), true);
  await sqlstate('two tables, no user_table', '55000', logOutEverywhere(db, userId));

  await db.query('BEGIN');
  await db.query("SELECT set_config('logout_everywhere.current_jti', $1, true)", [laptop]);
  await db.query('UPDATE users SET hashed_password = $1 WHERE id = $2', ['$2b$12$new', Number(userId)]);
  await db.query('COMMIT');
  check('password change: this device stays', await tokenValid(db, laptop), true);
  check('password change: the phone is out', await tokenValid(db, phone), false);

  const tablet = await signIn(db, subject);
  check('log_out_everywhere($1, except_jti => $2, user_table => $3::regclass)', await one(db,
    'SELECT logout_everywhere.log_out_everywhere($1, except_jti => $2, user_table => $3::regclass)',
    [Number(userId), laptop, 'users']), '1');
  check('  the tablet is out', await tokenValid(db, tablet), false);
  check('the action log_out_everywhere(u)', await one(db,
    'SELECT public.log_out_everywhere(u) FROM users u WHERE id = $1', [userId]), '1');
  check('  this device is out too', await tokenValid(db, laptop), false);

  const byTable = 'SELECT logout_everywhere.log_out_everywhere($1, user_table => $2::regclass)';
  await sqlstate('log_out_everywhere(NULL)', '22004', db.query(byTable, [null, 'users']));
  await sqlstate("log_out_everywhere('abc')", '22P02', db.query(byTable, ['abc', 'users']));
  await sqlstate('log_out_everywhere(999999999)', 'P0002', db.query(byTable, [999999999, 'users']));
  await db.end();
}

(async () => {
  await uuidUsers();
  await bigintUsers();
  console.log(`node-pg: ${checks} checks passed`);
})().catch((err) => {
  console.error(`FAILED: ${err.message}${/^[0-9A-Z]{5}$/.test(err.code) ? ` (SQLSTATE ${err.code})` : ''}`);
  process.exit(1);
});
