import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { associatedData, open } from '../crypto/aead.js';
import { ROOT_KEY_FILE } from '../crypto/root-key.js';
import type { TestServer } from '../testing.js';
import { api, assertError, OWNER, request, setupOwner, signIn, SignedInSession, type ApiAnswer } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { startServer } from '../test-support/server.js';
import type { Db } from '../storage/database.js';
import { SigningKeys } from './signing-keys.js';

/** The database, counting the reads of signing_keys that go through it. */
function countingDb(db: Db, onRead: () => void): Db {
  return new Proxy(db, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'selectFrom') {
        return (table: string) => {
          if (table === 'signing_keys') onRead();
          return (v as (t: string) => unknown).call(target, table);
        };
      }
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

const MIN = 60_000;
const PUBLIC_URL = 'https://keynest.example.test';

interface Decoded {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signingInput: Buffer;
  signature: Buffer;
}

function decode(token: string): Decoded {
  const [h, p, s] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')),
    signingInput: Buffer.from(`${h}.${p}`),
    signature: Buffer.from(s!, 'base64url'),
  };
}

/** Verifies a token against the published JWKS with node:crypto alone (not the library the server uses). */
async function verifiesAgainstJwks(srv: TestServer, token: string): Promise<boolean> {
  const { header, signingInput, signature } = decode(token);
  const jwks = (await api(srv)('GET', '/.well-known/jwks.json')).body as { keys: (JsonWebKey & { kid: string; alg: string })[] };
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk || jwk.alg !== header.alg) return false;
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  if (header.alg === 'EdDSA') return verify(null, signingInput, key, signature);
  if (header.alg === 'ES256') return verify('sha256', signingInput, { key, dsaEncoding: 'ieee-p1363' }, signature);
  return verify('sha256', signingInput, key, signature);
}

const me = (srv: TestServer, token: string) => request(srv, token, 'GET', '/api/v1/me');

describe('access tokens: signed JWTs with every claim checked', () => {
  const clock = manualClock();
  let srv: TestServer;
  let owner: SignedInSession;
  before(async () => {
    srv = await startServer({ clock, env: { KEYNEST_PUBLIC_URL: PUBLIC_URL } });
    owner = await setupOwner(srv);
  });
  after(() => srv.close());

  it('carries iss, aud, sub, org, sid, jti, iat and exp (15 min), typ at+jwt, an EdDSA signature the JWKS verifies', async () => {
    const { header, payload } = decode(owner.accessToken);
    assert.deepEqual(Object.keys(header).sort(), ['alg', 'kid', 'typ']);
    assert.equal(header.alg, 'EdDSA');
    assert.equal(header.typ, 'at+jwt');
    assert.deepEqual(Object.keys(payload).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'org', 'sid', 'sub']);
    assert.equal(payload.iss, PUBLIC_URL);
    assert.equal(payload.aud, 'keynest:api');
    assert.equal(payload.iat, Math.floor(clock() / 1000));
    assert.equal(payload.exp, Math.floor(clock() / 1000) + 15 * 60);
    const who = (await api(srv, owner)('GET', '/api/v1/me')).body.principal;
    assert.equal(payload.sub, who.user.id);
    assert.equal(payload.org, who.org.id);
    const sessions = (await api(srv, owner)('GET', '/api/v1/me/sessions')).body.sessions;
    assert.equal(payload.sid, sessions.find((s: { current: boolean }) => s.current).id);
    assert.ok(await verifiesAgainstJwks(srv, owner.accessToken));
    const other = await signIn(srv, { email: OWNER.email, password: OWNER.password });
    assert.notEqual(decode(other.accessToken).payload.jti, payload.jti, 'each token has its own jti');
  });

  it('a token is verified by signature once; later requests recognise it from memory (no asymmetric check per request)', async () => {
    const s = await signIn(srv, { email: OWNER.email, password: OWNER.password });
    const keys = srv.keynest.services.signingKeys;
    const find = keys.find.bind(keys);
    let signatureChecks = 0;
    // Every signature check starts by finding the key its kid names.
    keys.find = (kid, now) => {
      signatureChecks++;
      return find(kid, now);
    };
    try {
      for (let i = 0; i < 20; i++) assert.equal((await me(srv, s.accessToken)).status, 200);
      assert.equal(signatureChecks, 1);
      // A forged token is checked (and refused) every time: only tokens that verified are remembered.
      const forged = `${s.accessToken.slice(0, -4)}AAAA`;
      for (let i = 0; i < 3; i++) assertError(await me(srv, forged), 401, 'unauthenticated');
      assert.equal(signatureChecks, 4);
    } finally {
      keys.find = find;
    }
  });

  it('expires after 15 minutes while the session lives on: a refresh gets a new one', async () => {
    const s = await signIn(srv, { email: OWNER.email, password: OWNER.password });
    const first = s.accessToken;
    clock.advance(15 * MIN - 1000);
    assert.equal((await me(srv, first)).status, 200);
    clock.advance(1000 + 30_000);
    assertError(await me(srv, first), 401, 'unauthenticated');
    assert.ok(await s.renew());
    assert.notEqual(s.accessToken, first);
    assert.equal((await me(srv, s.accessToken)).status, 200);
    assertError(await me(srv, first), 401, 'unauthenticated');
  });

  it('refuses tokens signed with the real key but with a wrong claim (forged with the decrypted private key)', async () => {
    const s = await signIn(srv, { email: OWNER.email, password: OWNER.password });
    const { header, payload } = decode(s.accessToken);
    const rootKey = Buffer.from(readFileSync(path.join(srv.dataDir, ROOT_KEY_FILE), 'utf8').trim(), 'base64');
    const row = await srv.db.selectFrom('signing_keys').selectAll().where('kid', '=', String(header.kid)).executeTakeFirstOrThrow();
    const der = open(rootKey, { nonce: Buffer.from(row.nonce), ciphertext: Buffer.from(row.private_key) }, associatedData('jwt-signing-key', row.kid, row.alg));
    const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    const now = Math.floor(clock() / 1000);
    const forge = (claims: Record<string, unknown>, hdr: Record<string, unknown> = {}) => {
      const body = Object.fromEntries(Object.entries({ ...payload, ...claims }).filter(([, v]) => v !== undefined));
      return new SignJWT(body).setProtectedHeader({ alg: 'EdDSA', kid: String(header.kid), typ: 'at+jwt', ...hdr }).sign(privateKey);
    };
    // The control: the same key and claims pass, so each refusal below is the claim's doing.
    assert.equal((await me(srv, await forge({}))).status, 200);
    const refused: [string, string][] = [
      ['another issuer', await forge({ iss: 'https://evil.example' })],
      ['another audience', await forge({ aud: 'another-api' })],
      ['expired', await forge({ iat: now - 20 * 60, exp: now - 60 })],
      ['issued in the future', await forge({ iat: now + 3600, exp: now + 3600 + 900 })],
      ['living longer than 15 minutes', await forge({ iat: now - 16 * 60, exp: now + 3600 })],
      ['no jti', await forge({ jti: undefined })],
      ['no sid', await forge({ sid: undefined })],
      ['no exp', await forge({ exp: undefined })],
      ['a session of someone else (sub mismatch)', await forge({ sub: 'usr_someone_else' })],
      ['another org', await forge({ org: 'org_other' })],
      ['an unknown session', await forge({ sid: 'ses_unknown' })],
      ['typ JWT (not an access token)', await forge({}, { typ: 'JWT' })],
    ];
    for (const [label, token] of refused) {
      const res = await me(srv, token);
      assert.equal(res.status, 401, `${label}: ${res.text}`);
      assert.equal(res.body.error.code, 'unauthenticated', label);
    }
  });

  it('sign-out, and revoking a session, make its unexpired access tokens fail at once (even when verified from memory)', async () => {
    const a = await signIn(srv, { email: OWNER.email, password: OWNER.password });
    const b = await signIn(srv, { email: OWNER.email, password: OWNER.password });
    for (let i = 0; i < 3; i++) assert.equal((await me(srv, a.accessToken)).status, 200);
    assert.equal((await request(srv, a.accessToken, 'POST', '/api/v1/auth/logout')).status, 204);
    assertError(await me(srv, a.accessToken), 401, 'unauthenticated');
    assertError(await request(srv, null, 'POST', '/api/v1/auth/refresh', { refreshToken: a.refreshToken }), 401, 'invalid_refresh_token');

    assert.equal((await me(srv, b.accessToken)).status, 200);
    const bId = decode(b.accessToken).payload.sid as string;
    assert.equal((await api(srv, owner)('DELETE', `/api/v1/me/sessions/${bId}`)).status, 204);
    assertError(await me(srv, b.accessToken), 401, 'unauthenticated');
    assertError(await request(srv, null, 'POST', '/api/v1/auth/refresh', { refreshToken: b.refreshToken }), 401, 'invalid_refresh_token');
  });
});

describe('refresh tokens: single use, rotated, reuse ends the session (with a 10 s grace for racing refreshes)', () => {
  const clock = manualClock();
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ clock, env: { KEYNEST_REFRESH_REUSE_GRACE_S: '10' } });
    await setupOwner(srv);
  });
  after(() => srv.close());

  const refresh = (body: unknown, headers: Record<string, string> = {}) => request(srv, null, 'POST', '/api/v1/auth/refresh', body, { headers });

  it('each refresh returns a new refresh token; the session keeps its id and its absolute end', async () => {
    const login = await request(srv, null, 'POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password });
    let token: string = login.body.refreshToken;
    for (let i = 0; i < 3; i++) {
      clock.advance(5 * MIN);
      const res = await refresh({ refreshToken: token });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(Object.keys(res.body).sort(), ['accessToken', 'accessTokenExpiresAt', 'refreshToken', 'session', 'tokenType']);
      assert.notEqual(res.body.refreshToken, token);
      assert.deepEqual(res.body.session, login.body.session);
      assert.equal(res.body.accessTokenExpiresAt, new Date(Math.floor(clock() / 1000) * 1000 + 15 * MIN).toISOString());
      token = res.body.refreshToken;
    }
    // Stored only as a digest: neither token is in the table.
    const rows = JSON.stringify(await srv.db.selectFrom('sessions').selectAll().execute()) + JSON.stringify(await srv.db.selectFrom('used_refresh_tokens').selectAll().execute());
    assert.ok(!rows.includes(token.slice(7)) && !rows.includes(login.body.refreshToken.slice(7)));
  });

  it('presenting a used refresh token revokes the whole session: the thief and the owner are both out', async () => {
    const victim = await signIn(srv, { email: OWNER.email, password: OWNER.password });
    const stolen = victim.refreshToken;
    assert.ok(await victim.renew(), 'the owner refreshes first');
    clock.advance(10_001);
    const thief = await refresh({ refreshToken: stolen });
    assertError(thief, 401, 'invalid_refresh_token');
    // The owner's current tokens die with the session.
    assertError(await me(srv, victim.accessToken), 401, 'unauthenticated');
    assertError(await refresh({ refreshToken: victim.refreshToken }), 401, 'invalid_refresh_token');
    const sid = decode(victim.accessToken).payload.sid as string;
    const audit = await srv.db.selectFrom('audit_events').select(['action', 'outcome', 'details']).where('target_id', '=', sid).orderBy('id').execute();
    const text = JSON.stringify(audit);
    assert.ok(audit.some((a) => a.action === 'session.refresh' && a.outcome === 'failure' && String(a.details).includes('refresh_token_reuse')), text);
    assert.ok(audit.some((a) => a.action === 'session.revoke' && String(a.details).includes('refresh_token_reuse')), text);
    assert.ok(!text.includes(stolen) && !text.includes(victim.refreshToken), 'no token in the audit log');
  });

  it('a token exchanged less than 10 s ago is only superseded (two tabs racing): the session lives on', async () => {
    const s = await signIn(srv, { email: OWNER.email, password: OWNER.password });
    const answers = await Promise.all([refresh({ refreshToken: s.refreshToken }), refresh({ refreshToken: s.refreshToken })]);
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 401]);
    const winner = answers.find((a) => a.status === 200)!;
    assertError(answers.find((a) => a.status === 401)!, 401, 'refresh_token_superseded');
    assert.equal((await me(srv, winner.body.accessToken)).status, 200, 'exactly one won, and the session is alive');
    clock.advance(10_000);
    assertError(await refresh({ refreshToken: s.refreshToken }), 401, 'refresh_token_superseded');
    assert.equal((await me(srv, winner.body.accessToken)).status, 200);
    // Past the grace period the same token is a replay.
    clock.advance(1);
    assertError(await refresh({ refreshToken: s.refreshToken }), 401, 'invalid_refresh_token');
    assertError(await me(srv, winner.body.accessToken), 401, 'unauthenticated');
    assertError(await refresh({ refreshToken: winner.body.refreshToken }), 401, 'invalid_refresh_token');
    // The next sign-in forgets the exchanged tokens of ended sessions; they stay refused.
    const sid = decode(winner.body.accessToken).payload.sid as string;
    const remembered = () => srv.db.selectFrom('used_refresh_tokens').select('token_digest').where('session_id', '=', sid).execute();
    assert.ok((await remembered()).length > 0);
    await signIn(srv, { email: OWNER.email, password: OWNER.password });
    assert.deepEqual(await remembered(), []);
    assertError(await refresh({ refreshToken: s.refreshToken }), 401, 'invalid_refresh_token');
  });

  it('by default (no grace) any second use, even a simultaneous one, ends the session', async () => {
    const strict = await startServer();
    try {
      await setupOwner(strict);
      const s = await signIn(strict, { email: OWNER.email, password: OWNER.password });
      const first = await request(strict, null, 'POST', '/api/v1/auth/refresh', { refreshToken: s.refreshToken });
      assert.equal(first.status, 200);
      assertError(await request(strict, null, 'POST', '/api/v1/auth/refresh', { refreshToken: s.refreshToken }), 401, 'invalid_refresh_token');
      assertError(await me(strict, first.body.accessToken), 401, 'unauthenticated');
    } finally {
      await strict.close();
    }
  });

  it('refuses unknown, malformed and missing refresh tokens alike, and an idle or expired session', async () => {
    for (const body of [{ refreshToken: `kn_ref_${'A'.repeat(43)}` }, { refreshToken: 'garbage' }, { refreshToken: `kn_api_${'A'.repeat(43)}` }, {}, null]) {
      assertError(await refresh(body), 401, 'invalid_refresh_token');
    }
    const idle = await signIn(srv, { email: OWNER.email, password: OWNER.password });
    clock.advance(31 * MIN);
    assertError(await refresh({ refreshToken: idle.refreshToken }), 401, 'invalid_refresh_token');
    const remembered = await signIn(srv, { email: OWNER.email, password: OWNER.password, rememberMe: true });
    for (let day = 0; day < 29; day++) {
      clock.advance(24 * 60 * MIN);
      assert.ok(await remembered.renew(), `day ${day + 1}`);
    }
    clock.advance(24 * 60 * MIN);
    assert.equal(await remembered.renew(), false, 'refreshing never extends the absolute lifetime (30 days)');
  });

  it('browsers get the refresh token only in a __Host- HttpOnly Secure SameSite=Strict cookie, beside the CSRF cookie', async () => {
    const cookieOf = (res: ApiAnswer) => res.headers.getSetCookie()[0] ?? '';
    const login = await request(srv, null, 'POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password, refreshTokenDelivery: 'cookie' });
    assert.equal(login.status, 200, login.text);
    assert.equal(login.body.refreshToken, undefined, 'not readable by page scripts');
    const set = cookieOf(login);
    assert.match(set, /^__Host-keynest_refresh=kn_ref_[A-Za-z0-9_-]{43}; Path=\/; Max-Age=43200; HttpOnly; Secure; SameSite=Strict$/);
    // The CSRF cookie is the one the page may read (not HttpOnly), with the same lifetime.
    const csrfSet = login.headers.getSetCookie()[1] ?? '';
    assert.match(csrfSet, /^__Host-keynest_csrf=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=43200; Secure; SameSite=Strict$/);
    const first = /=([^;]+)/.exec(set)![1]!;
    const csrf = /=([^;]+)/.exec(csrfSet)![1]!;
    const page = (refreshCookie: string, extra: Record<string, string> = {}) => ({
      cookie: `theme=dark; __Host-keynest_refresh=${refreshCookie}; __Host-keynest_csrf=${csrf}`,
      origin: srv.url,
      'x-csrf-token': csrf,
      ...extra,
    });
    // A cookie refresh must be a same-origin JSON request: another site cannot make the browser spend it.
    assertError(await refresh(undefined, page(first)), 403, 'forbidden');
    assertError(await refresh({}, page(first, { 'sec-fetch-site': 'same-site' })), 403, 'csrf_failed');
    assertError(await refresh({}, page(first, { 'sec-fetch-site': 'cross-site' })), 403, 'csrf_failed');
    const viaCookie = await refresh({}, page(first, { 'sec-fetch-site': 'same-origin' }));
    assert.equal(viaCookie.status, 200, viaCookie.text);
    assert.equal(viaCookie.body.refreshToken, undefined);
    const second = /=([^;]+)/.exec(cookieOf(viaCookie))![1]!;
    assert.notEqual(second, first);
    assert.equal(viaCookie.headers.getSetCookie()[1], csrfSet, 'the same session keeps its CSRF token');
    // Another tab sending the old cookie at once: superseded, and its cookie left alone (the jar has the new one).
    const otherTab = await refresh({}, page(first));
    assertError(otherTab, 401, 'refresh_token_superseded');
    assert.equal(otherTab.headers.get('set-cookie'), null);
    // The old cookie replayed later: refused, the cookie cleared, and the session over.
    clock.advance(10_001);
    const replay = await refresh({}, page(first));
    assertError(replay, 401, 'invalid_refresh_token');
    assert.match(cookieOf(replay), /^__Host-keynest_refresh=; Path=\/; Max-Age=0;/);
    assert.match(replay.headers.getSetCookie()[1] ?? '', /^__Host-keynest_csrf=; Path=\/; Max-Age=0;/);
    assertError(await refresh({}, page(second)), 401, 'invalid_refresh_token');
    // Sign-out clears the cookie too.
    const again = await request(srv, null, 'POST', '/api/v1/auth/login', { email: OWNER.email, password: OWNER.password, refreshTokenDelivery: 'cookie' });
    const out = await request(srv, again.body.accessToken, 'POST', '/api/v1/auth/logout');
    assert.equal(out.status, 204);
    assert.match(cookieOf(out), /Max-Age=0/);
  });
});

describe('signing keys: rotation, JWKS, algorithms, restart', () => {
  it('rotates on demand and on schedule; old keys verify (and stay published) until their tokens expire', async () => {
    const clock = manualClock();
    const srv = await startServer({ clock, env: { KEYNEST_JWT_KEY_ROTATION_S: '3600' } });
    try {
      const owner = await setupOwner(srv);
      const jwks = async () => ((await api(srv)('GET', '/.well-known/jwks.json')).body.keys as { kid: string }[]).map((k) => k.kid);
      const firstKid = decode(owner.accessToken).header.kid as string;
      assert.deepEqual(await jwks(), [firstKid]);

      // On demand: a step-up action (settings:manage), audited.
      const rotated = await api(srv, owner)('POST', '/api/v1/admin/rotate-signing-key');
      assert.equal(rotated.status, 200, rotated.text);
      const secondKid = rotated.body.kid as string;
      assert.deepEqual((await jwks()).sort(), [firstKid, secondKid].sort());
      assert.equal((await me(srv, owner.accessToken)).status, 200, 'a token of the old key still works');
      const fresh = await signIn(srv, { email: OWNER.email, password: OWNER.password, rememberMe: true });
      assert.equal(decode(fresh.accessToken).header.kid, secondKid);
      assert.ok(await verifiesAgainstJwks(srv, fresh.accessToken));
      const audit = await srv.db.selectFrom('audit_events').select(['action', 'target_id']).where('action', '=', 'signing_key.rotate').execute();
      assert.deepEqual(audit, [{ action: 'signing_key.rotate', target_id: secondKid }]);
      // A viewer-level caller or an API token cannot rotate: settings:manage, session only (route-access covers 401).

      // The old key leaves the JWKS once every token it signed has expired (15 min + 30 s skew).
      clock.advance(15 * MIN + 31_000);
      assert.deepEqual(await jwks(), [secondKid]);

      // On schedule: after an hour, the next sign-in starts a rotation; the new key signs from then on.
      clock.advance(60 * MIN);
      assert.ok(await fresh.renew());
      let kid = secondKid;
      for (let i = 0; i < 100 && kid === secondKid; i++) {
        await new Promise((r) => setTimeout(r, 10));
        assert.ok(await fresh.renew());
        kid = decode(fresh.accessToken).header.kid as string;
      }
      assert.notEqual(kid, secondKid, 'a scheduled rotation happened');
      assert.ok((await jwks()).includes(secondKid) && (await jwks()).includes(kid));
    } finally {
      await srv.close();
    }
  });

  it('a rotation made by another instance takes over this one within a minute; unknown kids reload at once (once)', async () => {
    const clock = manualClock();
    const srv = await startServer({ clock });
    try {
      const owner = await setupOwner(srv);
      const rootKey = Buffer.from(readFileSync(path.join(srv.dataDir, ROOT_KEY_FILE), 'utf8').trim(), 'base64');
      const logged: unknown[] = [];
      // A second instance on the same database: its own memory of the keys.
      const other = new SigningKeys({ db: srv.db, rootKey, log: { error: (...a: unknown[]) => void logged.push(a) }, policy: { algorithm: 'EdDSA', rotationMs: 7 * 24 * 60 * MIN, tokenTtlMs: 15 * MIN, skewMs: 30_000 } });
      await other.init(clock());
      const before = other.current(clock()).kid;
      const rotated = (await api(srv, owner)('POST', '/api/v1/admin/rotate-signing-key')).body.kid as string;
      assert.notEqual(rotated, before);
      assert.ok(await other.find(rotated, clock() + 2000), 'a token of the new key verifies on the other instance at once');
      clock.advance(61_000);
      other.current(clock());
      await other.close();
      assert.equal(other.current(clock()).kid, rotated, 'and it signs with the new key within a minute');
      // Junk kids cost one reload at a time, not one each.
      let loads = 0;
      const counting = new SigningKeys({ db: countingDb(srv.db, () => loads++), rootKey, log: { error: () => {} }, policy: { algorithm: 'EdDSA', rotationMs: 7 * 24 * 60 * MIN, tokenTtlMs: 15 * MIN, skewMs: 30_000 } });
      await counting.init(clock());
      loads = 0;
      clock.advance(2000);
      const found = await Promise.all(Array.from({ length: 50 }, (_, i) => counting.find(`key_junk_${i}`, clock())));
      assert.ok(found.every((k) => k === null));
      assert.equal(loads, 1);
      assert.deepEqual(logged, []);
    } finally {
      await srv.close();
    }
  });

  it('private keys are stored sealed, and tokens survive a restart (the keys live in the database)', async () => {
    const first = await startServer({ keepData: true, env: { KEYNEST_PUBLIC_URL: PUBLIC_URL } });
    const again = (env: Record<string, string>, last = false) => startServer({ dataDir: first.dataDir, ...(first.schema ? { schema: first.schema } : {}), keepData: !last, env });
    let token: string;
    let second: TestServer | undefined;
    try {
      token = (await setupOwner(first)).accessToken;
      const rows = await first.db.selectFrom('signing_keys').selectAll().execute();
      assert.equal(rows.length, 1);
      // PKCS#8 of an Ed25519 key starts with these bytes; sealed, they appear nowhere.
      const pkcs8Prefix = Buffer.from('302e020100300506032b657004220420', 'hex');
      assert.equal(Buffer.from(rows[0]!.private_key).indexOf(pkcs8Prefix), -1);
      assert.equal(JSON.parse(rows[0]!.public_jwk).d, undefined, 'no private part in the public JWK');
      await first.close();
      second = await again({ KEYNEST_PUBLIC_URL: PUBLIC_URL });
      assert.equal((await me(second, token)).status, 200, 'verified after a restart');
      await second.close();
      // The same database served under another address is another issuer: its tokens are not ours.
      second = await again({ KEYNEST_PUBLIC_URL: 'https://other.example.test' }, true);
      assertError(await me(second, token), 401, 'unauthenticated');
    } finally {
      await first.close().catch(() => {});
      await second?.close();
    }
  });

  for (const alg of ['ES256', 'RS256'] as const) {
    it(`KEYNEST_JWT_ALGORITHM=${alg} signs with ${alg}; switching algorithms keeps old tokens valid until they expire`, async () => {
      const first = await startServer({ keepData: true });
      let second: TestServer | undefined;
      try {
        const edToken = (await setupOwner(first)).accessToken;
        assert.equal(decode(edToken).header.alg, 'EdDSA');
        await first.close();
        second = await startServer({ dataDir: first.dataDir, ...(first.schema ? { schema: first.schema } : {}), keepData: false, env: { KEYNEST_JWT_ALGORITHM: alg } });
        const s = await signIn(second, { email: OWNER.email, password: OWNER.password });
        assert.equal(decode(s.accessToken).header.alg, alg);
        assert.ok(await verifiesAgainstJwks(second, s.accessToken));
        assert.equal((await me(second, s.accessToken)).status, 200);
        assert.equal((await me(second, edToken)).status, 200, 'the EdDSA token of before the switch still verifies');
        // Algorithm confusion: the new key's token relabelled with another alg is refused.
        const [h, p, sig] = s.accessToken.split('.');
        const relabelled = `${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(h!, 'base64url').toString()), alg: alg === 'ES256' ? 'RS256' : 'ES256' })).toString('base64url')}.${p}.${sig}`;
        assertError(await me(second, relabelled), 401, 'unauthenticated');
      } finally {
        await first.close().catch(() => {});
        await second?.close();
      }
    });
  }

  it('a wrong algorithm setting stops the start with a message naming the variable', async () => {
    await assert.rejects(startServer({ env: { KEYNEST_JWT_ALGORITHM: 'HS256' } }), /KEYNEST_JWT_ALGORITHM/);
  });
});
