// Puts a fresh KeyNest in the state the benchmark reads and writes, through the public HTTP API
// only (setup, project, secrets, tokens), and checks that the routes answer what they should
// before any load is sent.
import { randomBytes } from 'node:crypto';

export const SECRET_COUNT = 50;
export const PROJECT = 'bench';
/** Reads (b, c) go to one environment, writes (d) to another, so (c) always lists exactly 50. */
export const READ_ENV = 'production';
export const WRITE_ENV = 'staging';
const VALUE_BYTES = 32;

const secretKey = (prefix, i) => `${prefix}_${String(i).padStart(2, '0')}`;

async function call(baseUrl, method, path, { token, body, expect }) {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (res.status !== expect) {
    // The error body holds a code and a safe message, never a value.
    throw new Error(`setup: ${method} ${path} answered ${res.status} (expected ${expect}): ${text.slice(0, 300)}`);
  }
  return text ? JSON.parse(text) : null;
}

/**
 * Returns what the load needs: paths and the two API tokens (read-only on READ_ENV, write on WRITE_ENV).
 * Values are random (44 base64 characters, like a typical API key) and hold no `${...}` references.
 */
export async function prepareKeynest({ url, setupToken }) {
  const setup = await call(url, 'POST', '/api/v1/setup', {
    body: { setupToken, email: 'bench@example.com', password: randomBytes(18).toString('base64url'), orgName: 'bench' },
    expect: 201,
  });
  const session = setup.accessToken;
  await call(url, 'POST', '/api/v1/projects', { token: session, body: { name: PROJECT, environments: [READ_ENV, WRITE_ENV] }, expect: 201 });

  const readValues = new Map();
  for (const [env, prefix] of [
    [READ_ENV, 'SECRET'],
    [WRITE_ENV, 'WRITE'],
  ]) {
    const secrets = Array.from({ length: SECRET_COUNT }, (_, i) => ({ key: secretKey(prefix, i), value: randomBytes(VALUE_BYTES).toString('base64') }));
    if (env === READ_ENV) for (const s of secrets) readValues.set(s.key, s.value);
    const res = await call(url, 'PATCH', `/api/v1/projects/${PROJECT}/environments/${env}/secrets`, { token: session, body: { secrets }, expect: 200 });
    if (res.results.length !== SECRET_COUNT || res.results.some((r) => r.status !== 'added')) throw new Error('setup: the batch write did not add every secret');
  }

  const token = async (name, environment, access) =>
    (await call(url, 'POST', '/api/v1/tokens', { token: session, body: { name, project: PROJECT, environment, access }, expect: 201 })).token;
  const readToken = await token('bench-read', READ_ENV, 'read');
  const writeToken = await token('bench-write', WRITE_ENV, 'write');

  const readBase = `/api/v1/projects/${PROJECT}/environments/${READ_ENV}/secrets`;
  const writeBase = `/api/v1/projects/${PROJECT}/environments/${WRITE_ENV}/secrets`;
  const oneKey = secretKey('SECRET', 0);

  // Sanity: the routes under load answer correctly with the benchmark's own tokens.
  const one = await call(url, 'GET', `${readBase}/${oneKey}`, { token: readToken, expect: 200 });
  if (one.value !== readValues.get(oneKey)) throw new Error('setup: GET one secret returned a different value than was written');
  const all = await call(url, 'GET', readBase, { token: readToken, expect: 200 });
  if (all.secrets.length !== SECRET_COUNT || all.secrets.some((s) => s.value !== readValues.get(s.key))) {
    throw new Error(`setup: GET all secrets returned ${all.secrets.length} secrets or wrong values`);
  }
  const put = await call(url, 'PUT', `${writeBase}/${secretKey('WRITE', 0)}`, { token: writeToken, body: { value: 'sanity' }, expect: 200 });
  if (put.status !== 'changed' || put.version !== 2) throw new Error(`setup: PUT answered ${JSON.stringify(put)}`);

  // A signed-in user reads the same value with the access token of the setup sign-in (b').
  const asUser = await call(url, 'GET', `${readBase}/${oneKey}`, { token: session, expect: 200 });
  if (asUser.value !== readValues.get(oneKey)) throw new Error('setup: GET one secret as the user returned a different value');

  return {
    accessToken: session,
    readToken,
    writeToken,
    paths: {
      getOne: `${readBase}/${oneKey}`,
      listAll: readBase,
      putKey: (i) => `${writeBase}/${secretKey('WRITE', i % SECRET_COUNT)}`,
    },
    cliEnv: { KEYNEST_SERVER: url, KEYNEST_TOKEN: readToken, KEYNEST_PROJECT: PROJECT, KEYNEST_ENV: READ_ENV },
  };
}
