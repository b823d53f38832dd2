import type { Db } from '../storage/database.js';
import { insertAuditEvent, listAuditEvents } from './store.js';

/**
 * The audit trail. Invariants:
 * - a state change, or a read of a secret value, and its audit record commit in one transaction:
 *   `record` takes the caller's transaction, so if the record cannot be written the change rolls
 *   back and the value is not returned (fail-closed);
 * - records never hold a secret value, password or token: `details` takes only scalar metadata
 *   (versions, counts, names), and callers pass key names, never values;
 * - rows are only appended (issue 5 adds the hash chain).
 */
export interface AuditContext {
  orgId: string | null;
  actor: { type: 'user' | 'token' | 'anonymous' | 'system'; id: string | null };
  ip: string | null;
  requestId: string | null;
  now: number;
}

export type AuditDetail = string | number | boolean | null | string[];

export interface AuditEntry {
  action: string;
  outcome?: 'success' | 'failure';
  target?: { type: string; id?: string | null; name?: string | null };
  details?: Record<string, AuditDetail>;
}

export interface AuditEvent {
  id: number;
  at: string;
  action: string;
  outcome: 'success' | 'failure';
  actor: { type: string; id: string | null };
  target: { type: string | null; id: string | null; name: string | null };
  ip: string | null;
  requestId: string | null;
  details: Record<string, AuditDetail>;
}

export class AuditService {
  constructor(private readonly db: Db) {}

  /** Appends one record inside `trx` (the same transaction as the change it describes). */
  record(trx: Db, ctx: AuditContext, entry: AuditEntry): Promise<unknown> {
    return insertAuditEvent(trx, {
      org_id: ctx.orgId,
      at: ctx.now,
      action: entry.action,
      outcome: entry.outcome ?? 'success',
      actor_type: ctx.actor.type,
      actor_id: ctx.actor.id,
      target_type: entry.target?.type ?? null,
      target_id: entry.target?.id ?? null,
      target_name: entry.target?.name ?? null,
      ip: ctx.ip,
      request_id: ctx.requestId,
      details: JSON.stringify(entry.details ?? {}),
    });
  }

  /** For events that change nothing (a failed sign-in): written on their own. */
  recordAlone(ctx: AuditContext, entry: AuditEntry): Promise<unknown> {
    return this.record(this.db, ctx, entry);
  }

  async list(orgId: string, opts: { limit: number; before?: number }): Promise<AuditEvent[]> {
    const rows = await listAuditEvents(this.db, orgId, opts.limit, opts.before);
    return rows.map((r) => ({
      id: Number(r.id),
      at: new Date(r.at).toISOString(),
      action: r.action,
      outcome: r.outcome,
      actor: { type: r.actor_type, id: r.actor_id },
      target: { type: r.target_type, id: r.target_id, name: r.target_name },
      ip: r.ip,
      requestId: r.request_id,
      details: JSON.parse(r.details) as Record<string, AuditDetail>,
    }));
  }
}
