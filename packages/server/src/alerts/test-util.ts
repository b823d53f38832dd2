import type { TestServer } from '../testing.js';
import { ALERTS_CONSUMER } from './service.js';

/** Waits until the alert engine has seen every audit record committed so far (it reads the audit stream). */
export async function alertsCaughtUp(srv: TestServer): Promise<void> {
  const newest = await srv.db.selectFrom('audit_events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
  if (newest?.id) await srv.keynest.auditSinkDispatcher.whenDelivered(ALERTS_CONSUMER, Number(newest.id));
}
