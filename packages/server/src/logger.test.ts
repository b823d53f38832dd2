import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger, lazyChildLogger } from './logger.js';

function capture(level: string) {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { log: createLogger(level, sink), lines };
}

describe('per-request (lazy) child logger', () => {
  it('writes enabled levels with the request id, redacted like the parent', () => {
    const { log, lines } = capture('warn');
    const child = lazyChildLogger(log, { reqId: 'req-123' }, {});
    child.info({ note: 'below the level' }, 'quiet');
    child.debug('quieter');
    assert.equal(lines.length, 0);
    child.error({ body: { password: 'hunter2-password', value: 'secret-value-xyz' } }, 'request failed');
    assert.equal(lines.length, 1);
    const entry = JSON.parse(lines[0]!);
    assert.equal(entry.reqId, 'req-123');
    assert.equal(entry.msg, 'request failed');
    assert.ok(!lines[0]!.includes('hunter2-password') && !lines[0]!.includes('secret-value-xyz'), lines[0]);
  });

  it('follows the parent level, and its own children keep the binding', () => {
    const { log, lines } = capture('info');
    const child = lazyChildLogger(log, { reqId: 'req-9' }, {});
    assert.equal(child.level, 'info');
    assert.equal(child.isLevelEnabled('debug'), false);
    child.child({ part: 'x' }).info('nested');
    const entry = JSON.parse(lines[0]!);
    assert.deepEqual([entry.reqId, entry.part, entry.msg], ['req-9', 'x', 'nested']);
  });
});
