// Experiment for `npm run bench -- --server-import bench/experiments/group-read-audit.mjs`:
// group commit of the audit records of secret reads.
//
// Today every read of a value writes its audit record in a transaction of its own
// (AuditService.recordAlone) before the value is returned. Here the records that arrive during one
// turn of the event loop are written together, in one transaction, on the next turn; each caller
// still waits until its own record has committed, and all of them get the error if that
// transaction fails, so "no value leaves before its read is recorded" (fail-closed) still holds.
//
// It patches the built class (packages/server/dist), so it may need updating when the server changes.
// It is a measurement aid, not the implementation: in the server this would live in audit/service.ts.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { AuditService } = await import(pathToFileURL(path.join(root, 'packages/server/dist/audit/service.js')).href);

const pending = [];
let flushScheduled = false;

AuditService.prototype.recordAlone = function recordAloneGrouped(ctx, entry) {
  return new Promise((resolve, reject) => {
    pending.push({ service: this, ctx, entry, resolve, reject });
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  });
};

async function flush() {
  flushScheduled = false;
  const batch = pending.splice(0);
  // One AuditService per server; `db` is its constructor's parameter property.
  const { db } = batch[0].service;
  try {
    await db.transaction().execute(async (trx) => {
      for (const b of batch) await b.service.record(trx, b.ctx, b.entry);
    });
    for (const b of batch) b.resolve();
  } catch (err) {
    for (const b of batch) b.reject(err);
  }
}
