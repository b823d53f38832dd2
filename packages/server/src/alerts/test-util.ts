import type { TestServer } from '../testing.js';

const cursors = new WeakMap<TestServer, number>();

/** Waits until the alert engine has seen every audit record committed so far. */
export async function alertsCaughtUp(srv: TestServer): Promise<void> {
  const after = cursors.get(srv) ?? 0;
  const rows = await srv.db.selectFrom('audit_events').selectAll().where('id', '>', after).orderBy('id').execute();
  if (rows.length === 0) return;
  cursors.set(srv, Number(rows[rows.length - 1]!.id));
  await srv.keynest.services.alerts.consume(rows);
}
