import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { createLogger } from '../../logger.js';
import { Http01Challenges, createChallengeServer } from './challenges.js';

const TOKEN = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA';
const KEY_AUTHORIZATION = `${TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`;

describe('ACME HTTP-01 responder', () => {
  it('answers the exact token of an order in flight, and nothing else', () => {
    const c = new Http01Challenges();
    assert.equal(c.respond(`/.well-known/acme-challenge/${TOKEN}`), null, 'nothing before the order');
    c.set(TOKEN, KEY_AUTHORIZATION);
    assert.equal(c.respond(`/.well-known/acme-challenge/${TOKEN}`), KEY_AUTHORIZATION);
    assert.equal(c.respond(`/.well-known/acme-challenge/${TOKEN}?x=1`), KEY_AUTHORIZATION, 'a query string is ignored');
    for (const p of [`/.well-known/acme-challenge/${TOKEN}x`, `/.well-known/acme-challenge/${TOKEN}/`, `/.well-known/acme-challenge/../acme-challenge/${TOKEN}`,
      `/.well-known/acme-challenge/`, `/${TOKEN}`, `/.well-known/acme-challenge/${TOKEN.slice(0, 10)}`]) {
      assert.equal(c.respond(p), null, p);
    }
    assert.ok(Http01Challenges.isChallengePath('/.well-known/acme-challenge/anything'));
    assert.ok(!Http01Challenges.isChallengePath('/api/v1/secrets'));
    c.delete(TOKEN);
    assert.equal(c.respond(`/.well-known/acme-challenge/${TOKEN}`), null, 'nothing after the order');
  });

  it('the standalone listener serves the answer to GET and HEAD, and 404 to everything else', async () => {
    const c = new Http01Challenges();
    c.set(TOKEN, KEY_AUTHORIZATION);
    const server = createChallengeServer(c, createLogger('silent'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const ok = await fetch(`${base}/.well-known/acme-challenge/${TOKEN}`);
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), KEY_AUTHORIZATION);
      assert.equal(ok.headers.get('cache-control'), 'no-store');
      const head = await fetch(`${base}/.well-known/acme-challenge/${TOKEN}`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal((await fetch(`${base}/.well-known/acme-challenge/${TOKEN}`, { method: 'POST' })).status, 404);
      assert.equal((await fetch(`${base}/.well-known/acme-challenge/unknown-token-0123456789`)).status, 404);
      assert.equal((await fetch(`${base}/api/v1/secrets`)).status, 404);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
