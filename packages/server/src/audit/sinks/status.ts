import type { AuditSinkDelivery } from '@keynest/sdk';
import { chainOf } from '@keynest/sdk/audit-chain';
import { isoOrNull } from '../../context.js';
import type { Db } from '../../storage/database.js';
import * as store from './store.js';

/** `internal`: a consumer inside the server (the alert engine), delivered like a sink. */
export type SinkKind = 'webhook' | 'file' | 'syslog' | 'internal';

/** A sink as the status and the metrics name it. */
export interface SinkIdentity {
  id: string;
  kind: SinkKind;
  /** null: an instance sink (every chain); else the org whose chain it receives. */
  orgId: string | null;
  /** Where it delivers, for humans: no secret, no URL query. */
  destination: string;
}

/**
 * How a sink is doing, read from its cursor (so any instance answers the same): the SDK's shape,
 * plus who the sink is. An instance sink's `recordsBehind` stops at BACKLOG_COUNT_CAP.
 */
export interface SinkStatus extends SinkIdentity, AuditSinkDelivery {
  scope: 'instance' | 'org';
}

/** An instance sink far behind counts its backlog this far, not to the end, on every status call. */
export const BACKLOG_COUNT_CAP = 100_000;

export async function statusOf(db: Db, sink: SinkIdentity, now: number): Promise<SinkStatus> {
  const cursor = await store.cursorOf(db, sink.id);
  const lastId = Number(cursor?.last_id ?? 0);
  const backlog =
    sink.orgId === null ? await store.backlogAfterId(db, lastId, BACKLOG_COUNT_CAP) : await store.backlogAfterSeq(db, chainOf(sink.orgId), Number(cursor?.last_seq ?? 0));
  return {
    ...sink,
    scope: sink.orgId === null ? 'instance' : 'org',
    lastDeliveredId: lastId > 0 ? lastId : null,
    lastDeliveredAt: isoOrNull(cursor?.last_delivered_at ?? null),
    recordsBehind: backlog.records,
    secondsBehind: backlog.oldestAt === null ? 0 : Math.max(0, Math.floor((now - backlog.oldestAt) / 1000)),
    consecutiveFailures: Number(cursor?.failures ?? 0),
    lastError: cursor?.last_error ?? null,
    lastErrorAt: isoOrNull(cursor?.last_error_at ?? null),
  };
}
