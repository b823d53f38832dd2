import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cityRecord, writeMmdbFile } from '@keynest/server';
import { EMAIL, PASSWORD, startHarness } from './harness.test-util.js';

test('keynest sessions: list (this one marked), end the others, end one, end all', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  // A second machine: its own config directory, its own session.
  const laptop = h.dir('laptop');
  const other = { env: { XDG_CONFIG_HOME: laptop, HOME: laptop, KEYNEST_SERVER: h.server.url } };
  await h.ok(['login', '--email', EMAIL, '--password-stdin'], { ...other, stdin: `${PASSWORD}\n` });

  const listed = JSON.parse(await h.ok(['sessions', 'list', '--json'], other)).sessions;
  assert.equal(listed.length, 2);
  const mine = listed.find((s: { current: boolean }) => s.current);
  assert.equal(mine.device.browser, 'KeyNest CLI');
  assert.equal(mine.device.type, 'cli');
  assert.equal(mine.rememberMe, true, 'the CLI signs in with a long session');
  const table = await h.ok(['sessions', 'list'], other);
  assert.match(table, new RegExp(`^\\*\\s+${mine.id}\\s+KeyNest CLI`, 'm'));
  assert.doesNotMatch(table, /LOCATION/, 'no location column when the server has no GeoIP database');

  await h.fails(['sessions', 'revoke'], 2, 'usage', other);
  await h.fails(['sessions', 'revoke', 'ses_x', '--all'], 2, 'usage', other);
  await h.fails(['sessions', 'revoke', 'ses_unknown'], 1, 'session_not_found', other);

  assert.equal(await h.ok(['sessions', 'revoke', '--others'], other), 'Ended 1 session.\n');
  await h.fails(['whoami'], 1, 'not_logged_in');
  assert.match(await h.ok(['whoami'], other), new RegExp(EMAIL));

  // Sign the first machine in again, and end its session from the laptop by id.
  await h.ok(['login', '--email', EMAIL, '--password-stdin'], { stdin: `${PASSWORD}\n` });
  const first = JSON.parse(await h.ok(['sessions', 'list', '--json'])).sessions.find((s: { current: boolean }) => s.current);
  assert.equal(await h.ok(['sessions', 'revoke', first.id], other), `Ended session ${first.id}.\n`);
  await h.fails(['whoami'], 1, 'not_logged_in');

  assert.match(await h.ok(['sessions', 'revoke', '--all'], other), /^Ended 1 session, this one included/);
  await h.fails(['whoami'], 1, 'not_logged_in', other);
});

test('keynest sessions list: a location column when the server places sessions; --json passes it through', async (t) => {
  // The CLI connects over loopback, so the database places loopback: as an operator's own database
  // may place internal networks (public databases leave them out).
  const dir = mkdtempSync(join(tmpdir(), 'keynest-cli-geo-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const location = { countryCode: 'DE', country: 'Germany', city: 'Berlin' };
  const db = writeMmdbFile(dir, 'city.mmdb', [{ network: '127.0.0.0/8', record: cityRecord(location) }]);
  const h = await startHarness(t, { env: { KEYNEST_GEOIP_DB: db } });
  await h.setup();
  const [session] = JSON.parse(await h.ok(['sessions', 'list', '--json'])).sessions;
  assert.deepEqual(session.location, location);
  const lines = (await h.ok(['sessions', 'list'])).split('\n');
  assert.match(lines[0]!, /^\s+ID\s+DEVICE\s+IP\s+LOCATION\s+2FA\s+SIGNED IN/);
  assert.match(lines[1]!, new RegExp(`^\\*\\s+${session.id}\\s+KeyNest CLI.*\\s127\\.0\\.0\\.1\\s+Berlin, DE\\s+-\\s+\\d{4}-`));
});
