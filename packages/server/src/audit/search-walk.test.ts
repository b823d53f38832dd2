import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { api, OWNER, setupOwner, signIn } from '../test-support/api.js';
import { manualClock } from '../test-support/clock.js';
import { startServer } from '../test-support/server.js';
import type { AuditContext, AuditEvent } from './service.js';

const MINUTE = 60_000;

/**
 * Filters without an index of their own (key, project, action, outcome) walk the org's chain
 * newest first, in stretches of growing length (audit/store.ts): a sparse match far back, across
 * stretch boundaries and pages, must still come out, once, in order, inside its window.
 */
describe('audit search: a rare match far back in the trail', () => {
  it('finds every match of a key, newest first, page by page and inside a time window', async (t) => {
    const clock = manualClock();
    const srv = await startServer({ clock });
    t.after(() => srv.close());
    const owner = api(srv, await setupOwner(srv));
    const orgId: string = (await owner('GET', '/api/v1/me')).body.principal.org.id;
    const { audit } = srv.keynest.services;
    const ctx = (): AuditContext => ({ orgId, actor: { type: 'system', id: null }, ip: null, requestId: null, now: clock() });

    // 3,000 reads a minute apart; RARE_KEY is read every 311th, alone or among other keys (a list read).
    const rare: number[] = [];
    for (let i = 0; i < 3000; i++) {
      clock.advance(MINUTE);
      const hit = i % 311 === 7;
      if (hit) rare.push(i);
      const listRead = i % 2 === 0;
      await audit.recordAlone(ctx(), {
        action: 'secret.read',
        target: listRead ? { type: 'environment', id: 'env_x', name: 'production' } : { type: 'secret', name: hit ? 'RARE_KEY' : `KEY_${i % 7}` },
        project: 'app',
        environment: 'production',
        details: { keys: listRead ? ['A_KEY', hit ? 'RARE_KEY' : 'OTHER_KEY', 'Z_KEY'] : [hit ? 'RARE_KEY' : `KEY_${i % 7}`] },
      });
    }
    assert.equal(rare.length, 10);
    // Two days later on this clock: the setup session has expired.
    const auditor = api(srv, await signIn(srv, { email: OWNER.email, password: OWNER.password }));
    const search = async (query: string): Promise<{ events: AuditEvent[]; next: number | null }> => {
      const res = await auditor('GET', `/api/v1/audit?${query}`);
      assert.equal(res.status, 200, res.text);
      return res.body;
    };
    const atOf = (i: number) => clock() - (2999 - i) * MINUTE;

    // Every match, in pages of 3 (so the pages end inside stretches and between them).
    const seen: AuditEvent[] = [];
    let next: number | null = null;
    do {
      const page: { events: AuditEvent[]; next: number | null } = await search(`key=RARE_KEY&limit=3${next ? `&before=${next}` : ''}`);
      seen.push(...page.events);
      next = page.next;
    } while (next !== null);
    assert.deepEqual(
      seen.map((e) => Date.parse(e.at)),
      rare.map(atOf).reverse(),
    );
    assert.ok(seen.every((e, i) => i === 0 || e.id < seen[i - 1]!.id));

    // A window holding only the 3rd to the 6th match.
    const from = new Date(atOf(rare[2]!)).toISOString();
    const to = new Date(atOf(rare[6]!)).toISOString();
    const inWindow = await search(`key=RARE_KEY&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
    assert.deepEqual(
      inWindow.events.map((e) => Date.parse(e.at)),
      rare.slice(2, 6).map(atOf).reverse(),
    );
    // A key nobody read: the whole trail walked, nothing found.
    assert.deepEqual((await search('key=NEVER_READ')).events, []);
  });
});
