import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinByInvitation as join, startHarness } from './harness.test-util.js';

test('keynest roles: templates, create (rules or template), get, list, update, delete; members set-role and project-role', async (t) => {
  const h = await startHarness(t);
  await h.setupProject();
  await h.ok(['secrets', 'set', 'API_KEY=dev-value']);
  await h.ok(['secrets', 'set', 'DB_PASS=prod-value', '--env', 'production']);

  const templates = JSON.parse(await h.ok(['roles', 'templates', '--json'])).templates;
  assert.deepEqual(templates.map((x: { id: string }) => x.id).sort(), ['auditor', 'ci-deployer', 'contractor']);
  assert.match(await h.ok(['roles', 'templates']), /^TEMPLATE\s+DESCRIPTION\s+RULES\n(.|\n)*^contractor\s/m);

  const created = await h.ok(['roles', 'create', 'Dev reader', '--permission', 'project:read', '--permission', 'secret:read_keys,secret:read_values', '--env', 'development', '--description', 'values in development']);
  assert.match(created, /^Created role Dev reader \(rol_[^)]+\)\.\nDev reader: values in development\nPERMISSIONS\s+PROJECTS\s+ENVIRONMENTS\nproject:read,secret:read_keys,secret:read_values\s+\*\s+development\n$/);
  const contractor = JSON.parse(await h.ok(['roles', 'create', 'Contract', '--template', 'contractor', '--project', 'app', '--json'])).role;
  assert.equal(contractor.rules.length, 2);
  assert.deepEqual(contractor.rules[1], { permissions: ['project:read', 'secret:read_keys'], projects: [{ id: contractor.rules[1].projects[0].id, name: 'app' }], environments: ['production'] });
  const listed = JSON.parse(await h.ok(['roles', 'list', '--json'])).roles.map((r: { name: string }) => r.name);
  assert.deepEqual(listed, ['Contract', 'Dev reader']);
  assert.match(await h.ok(['roles', 'list']), /^ID\s+NAME\s+RULES\s+UPDATED\n/);
  assert.equal(JSON.parse(await h.ok(['roles', 'get', 'Dev reader', '--json'])).role.description, 'values in development');
  await h.fails(['roles', 'create', 'Bad', '--permission', 'member:manage', '--project', 'app'], 1, 'validation_failed');
  await h.fails(['roles', 'create', 'Bad', '--permission', 'secret:steal'], 1, 'validation_failed');
  await h.fails(['roles', 'get', 'nope'], 1, 'role_not_found');

  // A developer given the custom role reads development values, not production ones.
  const dev = await join(h, 'dev@example.org', 'developer');
  assert.equal(await h.ok(['members', 'set-role', 'dev@example.org', 'Dev reader']), 'dev@example.org is now Dev reader.\n');
  assert.match(await h.ok(['members', 'list']), /dev@example\.org\s+Dev reader\s/);
  assert.equal(await h.ok(['secrets', 'get', 'API_KEY', '--project', 'app', '--env', 'development'], dev), 'dev-value\n');
  await h.fails(['secrets', 'get', 'DB_PASS', '--project', 'app', '--env', 'production'], 1, /environment_not_found|forbidden/, dev);
  await h.fails(['members', 'set-role', 'dev@example.org', 'No such role'], 1, 'role_not_found');
  await h.fails(['roles', 'delete', 'Dev reader'], 1, 'role_in_use');

  // Per-project role: viewer inside app (no values there), then back.
  assert.equal(await h.ok(['members', 'project-role', 'set', 'dev@example.org', 'viewer', '--project', 'app']), 'dev@example.org is viewer in app.\n');
  await h.fails(['secrets', 'get', 'API_KEY', '--project', 'app', '--env', 'development'], 1, 'forbidden', dev);
  const overrides = JSON.parse(await h.ok(['members', 'project-role', 'list', '--project', 'app', '--json'])).memberRoles;
  assert.deepEqual(overrides.map((o: { email: string; role: string }) => [o.email, o.role]), [['dev@example.org', 'viewer']]);
  assert.match(await h.ok(['members', 'project-role', 'list', '--project', 'app']), /^USER\s+EMAIL\s+ROLE IN PROJECT\s+SET\n/);
  assert.equal(await h.ok(['members', 'project-role', 'clear', 'dev@example.org', '--project', 'app']), 'dev@example.org has their organization role in app again.\n');
  assert.equal(await h.ok(['secrets', 'get', 'API_KEY', '--project', 'app', '--env', 'development'], dev), 'dev-value\n');
  await h.fails(['members', 'project-role', 'set', 'owner@example.com', 'viewer', '--project', 'app'], 1, 'owner_not_overridable');

  // Update: the holder has the new access at once.
  await h.ok(['roles', 'update', 'Dev reader', '--permission', 'project:read,secret:read_keys']);
  await h.fails(['secrets', 'get', 'API_KEY', '--project', 'app', '--env', 'development'], 1, 'forbidden', dev);
  const renamed = JSON.parse(await h.ok(['roles', 'update', 'Dev reader', '--name', 'Keys reader', '--json'])).role;
  assert.equal(renamed.name, 'Keys reader');

  // Delete once nobody holds it.
  await h.ok(['members', 'set-role', 'dev@example.org', 'viewer']);
  assert.equal(await h.ok(['roles', 'delete', 'Keys reader']), 'Deleted role Keys reader.\n');
  await h.fails(['roles', 'get', renamed.id], 1, 'role_not_found');
});

test('keynest roles checks its arguments before calling the server; --help everywhere', async (t) => {
  const h = await startHarness(t);
  await h.setup();
  await h.fails(['roles'], 2, 'usage');
  await h.fails(['roles', 'nope'], 2, 'usage');
  await h.fails(['roles', 'create'], 2, 'usage');
  await h.fails(['roles', 'create', 'x'], 2, 'usage');
  await h.fails(['roles', 'create', 'x', '--template', 'auditor', '--permission', 'project:read'], 2, 'usage');
  await h.fails(['roles', 'create', 'x', '--rules', 'not json'], 2, 'usage');
  await h.fails(['roles', 'update', 'x'], 2, 'usage');
  await h.fails(['roles', 'delete'], 2, 'usage');
  await h.fails(['members', 'project-role', 'set', 'a@example.org', 'owner', '--project', 'app'], 2, 'usage');
  for (const sub of [[], ['list'], ['create'], ['templates']]) assert.match(await h.ok(['roles', ...sub, '--help']), /^Usage: keynest roles/);
  assert.match(await h.ok(['--help']), /^ {2}roles list\|get\|templates\|create\|update\|delete$/m);
});
