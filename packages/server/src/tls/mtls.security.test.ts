import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../testing.js';
import { assertError } from '../test-support/api.js';
import { addMember, createProject, putSecret, secretsPath } from '../test-support/fixtures.js';
import { startServer } from '../test-support/server.js';
import { makeCa, makeLeaf, type TestCert } from './test-certs.test-util.js';
import { setupOwnerOverTls, tlsApi, tlsRequest, type TlsClient } from './test-https.test-util.js';

/**
 * Mutual TLS: client certificates signed by KEYNEST_TLS_CLIENT_CA, bound to API tokens by their
 * SHA-256 fingerprint. The attacks: no certificate where one is required, a certificate from
 * another CA, a stolen bearer token without its certificate, a valid certificate of someone else,
 * a certificate of a revoked or unbound token, claiming a certificate already bound elsewhere.
 */
describe('mutual TLS', () => {
  let dir: string;
  let serverCa: TestCert;
  let clientCa: TestCert;
  let server: TestCert;
  let service: TestCert;
  let otherService: TestCert;
  let rogue: TestCert;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'keynest-mtls-'));
    serverCa = makeCa(dir, 'server-ca', 'Server CA');
    clientCa = makeCa(dir, 'client-ca', 'Client CA');
    server = makeLeaf(dir, 'server', { ca: serverCa });
    service = makeLeaf(dir, 'service', { ca: clientCa, usage: 'client', cn: 'deployer' });
    otherService = makeLeaf(dir, 'other-service', { ca: clientCa, usage: 'client', cn: 'reporter' });
    // Same subject as the real one, signed by a CA the server does not trust.
    const rogueCa = makeCa(dir, 'rogue-ca', 'Client CA');
    rogue = makeLeaf(dir, 'rogue', { ca: rogueCa, usage: 'client', cn: 'deployer' });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const tlsEnv = (mode: 'optional' | 'required') => ({
    KEYNEST_TLS_CERT: server.certFile,
    KEYNEST_TLS_KEY: server.keyFile,
    KEYNEST_TLS_CLIENT_CA: clientCa.certFile,
    KEYNEST_TLS_CLIENT_AUTH: mode,
  });
  const as = (cert?: TestCert): TlsClient => (cert ? { ca: serverCa.cert, cert: cert.cert, key: cert.key } : { ca: serverCa.cert });

  describe('KEYNEST_TLS_CLIENT_AUTH=required', () => {
    let srv: TestServer;
    before(async () => {
      srv = await startServer({ env: tlsEnv('required') });
    });
    after(() => srv?.close());

    it('a handshake without a certificate, or with one from another CA, fails: not even /healthz answers', async () => {
      await assert.rejects(tlsRequest(srv.url, as(), 'GET', '/healthz'));
      await assert.rejects(tlsRequest(srv.url, as(rogue), 'GET', '/healthz'));
    });

    it('a certificate from the client CA gets through the handshake, and alone (unbound) opens nothing', async () => {
      assert.equal((await tlsRequest(srv.url, as(service), 'GET', '/healthz')).status, 200);
      assertError(await tlsRequest(srv.url, as(service), 'GET', '/api/v1/projects'), 401, 'unauthenticated');
    });
  });

  describe('KEYNEST_TLS_CLIENT_AUTH=optional, a token bound to a certificate', () => {
    let srv: TestServer;
    let ownerToken: string;
    let token: { token: string; info: { id: string } };
    let predecessor = '';
    const valuePath = secretsPath('app', 'production', 'DB_PASSWORD');

    before(async () => {
      srv = await startServer({ env: { ...tlsEnv('optional'), KEYNEST_STEP_UP_ENVIRONMENTS: 'none' } });
      ownerToken = await setupOwnerOverTls(srv, as());
      const owner = tlsApi(srv.url, as(), ownerToken);
      await createProject(owner, 'app');
      await putSecret(owner, 'app', 'production', 'DB_PASSWORD', 'mtls-secret-value');
      const res = await owner('POST', '/api/v1/tokens', { name: 'deployer', type: 'read-only', scope: [{ project: 'app', environment: 'production' }], expiresInSeconds: 86_400, owner: 'org' });
      assert.equal(res.status, 201, res.text);
      token = res.body;
    });
    after(() => srv?.close());

    it('before binding, a certificate alone is nobody, and the bearer token works without one', async () => {
      assertError(await tlsRequest(srv.url, as(service), 'GET', valuePath), 401, 'unauthenticated');
      assert.equal((await tlsRequest(srv.url, as(), 'GET', valuePath, { token: token.token })).body.value, 'mtls-secret-value');
    });

    it('binding is audited; then the certificate alone authenticates as the token, with its permissions only', async () => {
      const owner = tlsApi(srv.url, as(), ownerToken);
      // openssl's colon-separated upper-case form is accepted and stored normalized.
      const colons = service.fingerprint.toUpperCase().match(/../g)!.join(':');
      const bound = await owner('PUT', `/api/v1/tokens/${token.info.id}/client-cert`, { sha256: colons });
      assert.equal(bound.status, 200, bound.text);
      assert.equal(bound.body.info.clientCertSha256, service.fingerprint);
      const listed = (await owner('GET', '/api/v1/tokens')).body.tokens.find((t: { id: string }) => t.id === token.info.id);
      assert.equal(listed.clientCertSha256, service.fingerprint);
      const audit = await srv.db.selectFrom('audit_events').selectAll().where('action', '=', 'token.client_cert.bind').where('target_id', '=', token.info.id).execute();
      assert.equal(audit.length, 1);
      assert.deepEqual(JSON.parse(audit[0]!.details), { clientCertSha256: service.fingerprint, previous: null });

      const read = await tlsRequest(srv.url, as(service), 'GET', valuePath);
      assert.equal(read.status, 200, read.text);
      assert.equal(read.body.value, 'mtls-secret-value');
      // The token's powers, no more: read-only, this environment only.
      assertError(await tlsRequest(srv.url, as(service), 'PUT', valuePath, { body: { value: 'x' } }), 403, 'forbidden');
      const other = await tlsRequest(srv.url, as(service), 'GET', secretsPath('app', 'development', 'DB_PASSWORD'));
      assert.ok([403, 404].includes(other.status), other.text);
      // The read is recorded as the token's.
      const reads = await srv.db.selectFrom('audit_events').selectAll().where('actor_id', '=', token.info.id).execute();
      assert.ok(reads.length >= 1, 'the certificate caller acts as the token in the audit trail');
    });

    it('the bound bearer token is useless without its certificate (proof of possession)', async () => {
      assertError(await tlsRequest(srv.url, as(), 'GET', valuePath, { token: token.token }), 401, 'client_certificate_required');
      // Another valid client certificate does not stand in for it.
      assertError(await tlsRequest(srv.url, as(otherService), 'GET', valuePath, { token: token.token }), 401, 'client_certificate_required');
      // With its certificate, the bearer works too.
      assert.equal((await tlsRequest(srv.url, as(service), 'GET', valuePath, { token: token.token })).status, 200);
    });

    it('a certificate from an untrusted CA counts for nothing, even with the same subject', async () => {
      assertError(await tlsRequest(srv.url, as(rogue), 'GET', valuePath), 401, 'unauthenticated');
      assertError(await tlsRequest(srv.url, as(rogue), 'GET', valuePath, { token: token.token }), 401, 'client_certificate_required');
    });

    it('the bound certificate cannot be claimed by a second token (409), nor bound by a caller lacking the token\'s powers', async () => {
      const owner = tlsApi(srv.url, as(), ownerToken);
      const second = await owner('POST', '/api/v1/tokens', { name: 'thief', type: 'admin', scope: [{ project: 'app' }], expiresInSeconds: 86_400, clientCertSha256: service.fingerprint });
      assertError(second, 409, 'client_cert_in_use');
      const plain = await owner('POST', '/api/v1/tokens', { name: 'plain', type: 'admin', scope: [{ project: 'app' }], expiresInSeconds: 86_400 });
      assertError(await owner('PUT', `/api/v1/tokens/${plain.body.info.id}/client-cert`, { sha256: service.fingerprint }), 409, 'client_cert_in_use');
      assertError(await owner('PUT', `/api/v1/tokens/${plain.body.info.id}/client-cert`, { sha256: 'not-a-fingerprint' }), 400, 'validation_failed');
      // An API token cannot manage bindings at all (session only), even the bound one over its certificate.
      assertError(await tlsRequest(srv.url, as(service), 'DELETE', `/api/v1/tokens/${token.info.id}/client-cert`), 403, 'forbidden');
    });

    it("another org's admin cannot claim the certificate to steer the service's calls into their org", async () => {
      const globex = await srv.db.transaction().execute((trx) => srv.keynest.services.orgs.createOrg(trx, 'Globex', Date.now()));
      await addMember(srv.db, { orgId: globex.id, role: 'owner', email: 'owner@globex.test', password: 'Globex-Granite-Falcon-8812', now: Date.now() });
      const login = await tlsRequest(srv.url, as(), 'POST', '/api/v1/auth/login', { body: { email: 'owner@globex.test', password: 'Globex-Granite-Falcon-8812' } });
      assert.equal(login.status, 200, login.text);
      const stranger = tlsApi(srv.url, as(), login.body.accessToken);
      await createProject(stranger, 'trap');
      const claim = await stranger('POST', '/api/v1/tokens', { name: 'trap', type: 'admin', scope: [{ project: 'trap' }], expiresInSeconds: 86_400, clientCertSha256: service.fingerprint });
      assertError(claim, 409, 'client_cert_in_use');
      assert.ok(!claim.text.includes(token.info.id), 'the answer does not say which token holds it');
      const trap = await stranger('POST', '/api/v1/tokens', { name: 'trap2', type: 'admin', scope: [{ project: 'trap' }], expiresInSeconds: 86_400 });
      assertError(await stranger('PUT', `/api/v1/tokens/${trap.body.info.id}/client-cert`, { sha256: service.fingerprint }), 409, 'client_cert_in_use');
      // The certificate still acts for its own org's token.
      assert.equal((await tlsRequest(srv.url, as(service), 'GET', valuePath)).body.value, 'mtls-secret-value');
    });

    it('a rotation hands the binding to the new token; the certificate then acts as the new one', async () => {
      const owner = tlsApi(srv.url, as(), ownerToken);
      const rotated = await owner('POST', `/api/v1/tokens/${token.info.id}/rotate`, { graceSeconds: 3600 });
      assert.equal(rotated.status, 201, rotated.text);
      assert.equal(rotated.body.info.clientCertSha256, service.fingerprint);
      assert.equal((await tlsRequest(srv.url, as(service), 'GET', valuePath)).status, 200);
      const since = await srv.db.selectFrom('audit_events').select('actor_id').where('action', '=', 'secret.read').orderBy('seq', 'desc').executeTakeFirst();
      assert.equal(since?.actor_id, rotated.body.info.id);
      assertError(await tlsRequest(srv.url, as(), 'GET', valuePath, { token: rotated.body.token }), 401, 'client_certificate_required');
      predecessor = token.info.id;
      token = rotated.body;
    });

    it('unbinding (audited) ends certificate-only access; the bearer alone works again', async () => {
      const owner = tlsApi(srv.url, as(), ownerToken);
      assert.equal((await owner('DELETE', `/api/v1/tokens/${token.info.id}/client-cert`)).status, 204);
      const audit = await srv.db.selectFrom('audit_events').selectAll().where('action', '=', 'token.client_cert.unbind').where('target_id', '=', token.info.id).execute();
      // The predecessor still in its rotation grace loses the binding too.
      assert.deepEqual(JSON.parse(audit[0]!.details), { clientCertSha256: null, previous: service.fingerprint, alsoUnbound: [predecessor] });
      assertError(await tlsRequest(srv.url, as(service), 'GET', valuePath), 401, 'unauthenticated');
      assert.equal((await tlsRequest(srv.url, as(), 'GET', valuePath, { token: token.token })).status, 200);
    });

    it('a revoked token\'s certificate opens nothing', async () => {
      const owner = tlsApi(srv.url, as(), ownerToken);
      const created = await owner('POST', '/api/v1/tokens', { name: 'reporter', type: 'read-only', scope: [{ project: 'app' }], expiresInSeconds: 86_400, clientCertSha256: otherService.fingerprint });
      assert.equal(created.status, 201, created.text);
      assert.equal((await tlsRequest(srv.url, as(otherService), 'GET', valuePath)).status, 200);
      assert.equal((await owner('DELETE', `/api/v1/tokens/${created.body.info.id}`)).status, 204);
      assertError(await tlsRequest(srv.url, as(otherService), 'GET', valuePath), 401, 'unauthenticated');
      // Once revoked, the certificate is free for another token.
      const again = await owner('POST', '/api/v1/tokens', { name: 'reporter-2', type: 'read-only', scope: [{ project: 'app' }], expiresInSeconds: 86_400, clientCertSha256: otherService.fingerprint });
      assert.equal(again.status, 201, again.text);
    });
  });
});
