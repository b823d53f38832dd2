import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { withLock } from './session-refresh.js';

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `work` with the path of credentials in a fresh directory, removed afterwards. */
async function inFreshDir(work: (target: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'keynest-lock-'));
  try {
    await work(path.join(dir, 'credentials.json'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a lock file created but not yet written is someone taking the lock: waited for, not taken over', () =>
  inFreshDir(async (target) => {
    // What another process's O_EXCL create leaves for an instant, before it writes its pid.
    writeFileSync(`${target}.lock`, '', { mode: 0o600 });
    let ran = false;
    const waiting = withLock(target, async () => {
      ran = true;
    });
    await settle(300);
    assert.equal(ran, false, 'took over a lock being taken');
    assert.ok(existsSync(`${target}.lock`), 'removed a lock being taken');
    rmSync(`${target}.lock`);
    await waiting;
    assert.equal(ran, true);
    assert.equal(existsSync(`${target}.lock`), false, 'its own lock is removed afterwards');
  }));

test('an empty lock left long ago (a crash between create and write) is taken over', () =>
  inFreshDir(async (target) => {
    writeFileSync(`${target}.lock`, '', { mode: 0o600 });
    const old = new Date(Date.now() - 11 * 60_000);
    utimesSync(`${target}.lock`, old, old);
    let ran = false;
    await withLock(target, async () => {
      ran = true;
    });
    assert.equal(ran, true);
  }));

test('a lock whose holder process is gone is taken over at once', () =>
  inFreshDir(async (target) => {
    // A pid far above any this machine hands out.
    writeFileSync(`${target}.lock`, '2147483646\nsome-id\n', { mode: 0o600 });
    let ran = false;
    await withLock(target, async () => {
      ran = true;
    });
    assert.equal(ran, true);
  }));
