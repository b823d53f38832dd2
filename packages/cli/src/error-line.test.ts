import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyNestApiError } from '@keynest/sdk';
import { errorLine } from './error-line.js';
import { UsageError } from './errors.js';

test('errors print as one line with their code', () => {
  assert.equal(errorLine(new UsageError('missing KEY')), 'error: missing KEY (usage)\n');
  assert.equal(
    errorLine(new KeyNestApiError({ status: 404, code: 'secret_not_found', message: 'Secret not found' })),
    'error: Secret not found (secret_not_found)\n',
  );
  assert.equal(errorLine(new Error('first\n  second\r\nthird')), 'error: first second third (internal)\n');
  assert.equal(errorLine('plain'), 'error: plain (internal)\n');
  assert.equal(errorLine(new Error('')), 'error: unexpected failure (internal)\n');
});

test('a credential the server no longer accepts gets a hint to log in', () => {
  const stale = new KeyNestApiError({ status: 401, code: 'token_revoked', message: 'Token revoked' });
  assert.equal(errorLine(stale), 'error: Token revoked; run keynest login, or check KEYNEST_TOKEN (token_revoked)\n');
  const wrongPassword = new KeyNestApiError({ status: 401, code: 'invalid_credentials', message: 'Invalid email or password' });
  assert.equal(errorLine(wrongPassword), 'error: Invalid email or password (invalid_credentials)\n');
});
