import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { startServer } from '../../test-support/server.js';
import { marker, putSecret } from '../../test-support/fixtures.js';
import { auditedActivity, eventually, startSyslogReceiver, storedAuditIds } from '../../test-support/receivers.js';

function lines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('audit sink: the JSON-lines file', () => {
  it('one parseable line per record, in order, in a 0600 file whose directory it creates; a rotated file is reopened, a cut line never glued', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keynest-sink-'));
    const file = path.join(dir, 'nested', 'audit', 'keynest-audit.jsonl');
    const srv = await startServer({ env: { KEYNEST_AUDIT_SINK_FILE: file } });
    try {
      const { owner, value } = await auditedActivity(srv, 'FILEVALUE');
      await srv.keynest.auditSinkDispatcher.drain();
      assert.deepEqual(lines(file).map((r) => Number(r.id)), await storedAuditIds(srv));
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
      assert.ok(!readFileSync(file, 'utf8').includes(value), 'no secret value in the file');

      // logrotate's default: the file is renamed away; the next batch goes to a new file.
      renameSync(file, `${file}.1`);
      const before = lines(`${file}.1`).length;
      await putSecret(owner, 'app', 'development', 'AFTER_ROTATION', marker('ROTATED'));
      await srv.keynest.auditSinkDispatcher.drain();
      assert.equal(lines(`${file}.1`).length, before, 'the rotated file is left alone');
      const fresh = lines(file);
      assert.ok(fresh.length >= 1);
      assert.ok(fresh.some((r) => r.target_name === 'AFTER_ROTATION'));
      assert.equal(statSync(file).mode & 0o777, 0o600);

      // A crash cut the last line short: the next record still starts a line of its own.
      appendFileSync(file, '{"id": 99999, "cut sh');
      srv.keynest.auditSinkDispatcher.reopenFiles();
      await putSecret(owner, 'app', 'development', 'AFTER_CRASH', marker('CRASH'));
      await srv.keynest.auditSinkDispatcher.drain();
      const text = readFileSync(file, 'utf8').split('\n').filter(Boolean);
      assert.equal(text.filter((l) => l.startsWith('{"id": 99999')).length, 1);
      assert.ok(text.filter((l) => !l.startsWith('{"id": 99999')).every((l) => JSON.parse(l)));
      assert.ok(text.some((l) => l.includes('AFTER_CRASH')));
    } finally {
      await srv.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] BOM MSG */
const RFC5424 = /^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) ([\x21-\x7e]{1,255}) keynest (\d+) ([\x21-\x7e]{1,32}) \[keynest@32473 ([^\]]*)\] \uFEFF(\{.*\})$/s;

for (const protocol of ['udp', 'tcp'] as const) {
  describe(`audit sink: syslog over ${protocol.toUpperCase()}`, () => {
    it('each record is one RFC 5424 message with its id, chain, seq and hash as structured data and the record as JSON', async (t) => {
      const receiver = await startSyslogReceiver(protocol);
      t.after(() => receiver.close());
      const srv = await startServer({ env: { KEYNEST_AUDIT_SINK_SYSLOG: `${protocol}://127.0.0.1:${receiver.port}` } });
      try {
        const { value } = await auditedActivity(srv, 'SYSLOGVALUE');
        await srv.keynest.auditSinkDispatcher.drain();
        const ids = await storedAuditIds(srv);
        await eventually(() => receiver.messages.length >= ids.length, `${ids.length} syslog messages`);
        assert.equal(receiver.messages.length, ids.length);
        const parsed = receiver.messages.map((m) => {
          const match = RFC5424.exec(m);
          assert.ok(match, `not RFC 5424: ${m}`);
          return { pri: Number(match[1]), msgid: match[5]!, sd: match[6]!, record: JSON.parse(match[7]!) as Record<string, unknown> };
        });
        assert.deepEqual(parsed.map((p) => Number(p.record.id)), ids, 'in order, each once');
        for (const p of parsed) {
          assert.equal(p.msgid, p.record.action);
          assert.equal(p.pri, 10 * 8 + (p.record.outcome === 'failure' ? 5 : 6), 'authpriv, info or notice');
          assert.ok(p.sd.includes(`id="${p.record.id}"`) && p.sd.includes(`seq="${p.record.seq}"`) && p.sd.includes(`hash="${p.record.hash}"`), p.sd);
        }
        assert.ok(!receiver.messages.join('\n').includes(value), 'no secret value in a message');
      } finally {
        await srv.close();
      }
    });
  });
}
