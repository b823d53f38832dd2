import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EMAIL, startHarness } from './harness.test-util.js';

test('keynest org allowlist and emergency-access: list, add, the lockout warning, lock out, get back in', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  const initial = JSON.parse(await h.ok(['org', 'allowlist', 'list', '--json'])).allowlist;
  assert.deepEqual(initial, { enabled: false, entries: [], yourIp: '127.0.0.1', yourIpAllowed: false });

  await h.fails(['org', 'allowlist', 'add'], 2, 'usage');
  await h.fails(['org', 'allowlist', 'frob'], 2, 'usage');
  await h.fails(['org', 'allowlist', 'add', '10.1.2.3/8'], 1, 'invalid_ip_range');
  await h.fails(['org', 'allowlist', 'enable'], 1, 'allowlist_empty');
  assert.match(await h.ok(['org', 'allowlist', 'add', '192.0.2.0/24', '--label', 'vpn']), /^Added 192\.0\.2\.0\/24\. The IP allowlist is off; your address 127\.0\.0\.1 is not on it\./);
  await h.fails(['org', 'allowlist', 'enable'], 1, 'allowlist_locks_you_out');
  await h.ok(['org', 'allowlist', 'add', '127.0.0.1']);
  const on = await h.ok(['org', 'allowlist', 'enable']);
  assert.match(on, /The IP allowlist is ON; your address 127\.0\.0\.1 is on it\./);
  assert.match(on, /^127\.0\.0\.1\/32\s+\S+/m);
  assert.match(on, /^192\.0\.2\.0\/24\s+vpn\s+/m);

  await h.fails(['org', 'allowlist', 'remove', '127.0.0.1'], 1, 'allowlist_locks_you_out');
  await h.ok(['org', 'allowlist', 'remove', '127.0.0.1/32', '--confirm-lockout']);
  await h.fails(['whoami'], 1, 'ip_not_allowed');
  await h.fails(['org', 'allowlist', 'list'], 1, 'ip_not_allowed');

  await h.fails(['emergency-access', 'confirm', '--email', EMAIL], 2, 'usage');
  assert.match(await h.ok(['emergency-access', 'request', '--email', EMAIL]), /a code is on its way/);
  assert.deepEqual(JSON.parse(await h.ok(['emergency-access', 'request', '--email', 'nobody@example.com', '--json'])), { status: 'sent_if_exists' });
  await h.server.keynest.settled();
  const outbox = join(h.server.dataDir, 'outbox.jsonl');
  const codes = existsSync(outbox) ? [...readFileSync(outbox, 'utf8').matchAll(/kn_eac_[A-Za-z0-9_-]{43}/g)].map((m) => m[0]) : [];
  assert.equal(codes.length, 1, 'one code, for the owner only');
  await h.fails(['emergency-access', 'confirm', '--email', EMAIL, '--code', `kn_eac_${'B'.repeat(43)}`], 1, 'invalid_emergency_code');
  const granted = JSON.parse(await h.ok(['emergency-access', 'confirm', '--email', EMAIL, '--code', codes[0]!, '--json'])).grant;
  assert.equal(granted.ip, '127.0.0.1');
  assert.match(await h.ok(['whoami']), new RegExp(EMAIL));
  assert.match(await h.ok(['org', 'allowlist', 'disable']), /The IP allowlist is off/);
});
