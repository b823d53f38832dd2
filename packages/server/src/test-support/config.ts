import assert from 'node:assert/strict';
import { loadConfig } from '../config.js';
import { ConfigError } from '../errors.js';

/**
 * Expects loadConfig to refuse `env` naming `variable`, in one line that starts with it (what
 * `keynest serve` prints before it exits); returns the message for further checks.
 */
export function refusedConfig(env: Record<string, string>, variable: string, dataDir?: string): string {
  try {
    loadConfig(env, dataDir ? { dataDir } : {});
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.variable, variable, err.message);
    assert.ok(err.message.startsWith(`${variable}: `), err.message);
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.message;
  }
  assert.fail(`expected ${variable} to be refused`);
}
