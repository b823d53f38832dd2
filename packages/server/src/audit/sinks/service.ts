import { chainOf } from '@keynest/sdk/audit-chain';
import { actorOf } from '../../access/principal.js';
import { auditContextOf, iso, type RequestContext } from '../../context.js';
import type { Keyring } from '../../crypto/keyring.js';
import { newId, newToken } from '../../crypto/random.js';
import { AppError } from '../../errors.js';
import type { Db } from '../../storage/database.js';
import type { AuditService } from '../service.js';
import { checkOrgWebhookUrl, displayUrl, type Resolver, type WebhookPolicy } from './destination.js';
import type { AuditSinkDispatcher } from './dispatcher.js';
import { openSinkSecret, sealSinkSecret } from './secret.js';
import { statusOf, type SinkStatus } from './status.js';
import * as store from './store.js';
import { deliveryReason } from './transport.js';

/** An org's sinks are a handful of receivers, not a fan-out service. */
export const MAX_ORG_SINKS = 10;

export interface OrgSinkView {
  id: string;
  kind: 'webhook';
  /** As created (with its query: only those who may manage sinks see it). */
  url: string;
  label: string | null;
  createdAt: string;
  status: Omit<SinkStatus, 'id' | 'kind' | 'orgId' | 'destination' | 'scope'>;
}

export interface SinkTestResult {
  delivered: boolean;
  /** The receiver's HTTP status; null when there was no answer. */
  status: number | null;
  /** The safe reason when not delivered. */
  error: string | null;
  durationMs: number;
}

/**
 * An org's own audit webhooks (`/api/v1/audit/sinks`, `keynest audit sinks`). Invariants:
 * - an org sink receives only its org's chain (the dispatcher's worker reads it as that org);
 * - its URL passes the destination rules (destination.ts) when created and at every connection;
 * - its HMAC secret is made here from the CSPRNG, answered once (at creation), and stored only
 *   sealed with the org's data key (secret.ts); audit records and logs never hold it;
 * - creating and removing a sink commit with their audit record (the URL without its query), and
 *   a new sink starts with its own creation record; a test delivery is recorded with its outcome.
 */
export class AuditSinks {
  constructor(
    private readonly deps: {
      db: Db;
      keyring: Keyring;
      audit: AuditService;
      dispatcher: AuditSinkDispatcher;
      policy: WebhookPolicy;
      /** Tests: stand-in DNS. */
      resolve?: Resolver;
    },
  ) {}

  async list(ctx: RequestContext): Promise<OrgSinkView[]> {
    const { db, dispatcher } = this.deps;
    const rows = await store.orgSinks(db, ctx.principal.orgId);
    const out: OrgSinkView[] = [];
    for (const row of rows) out.push(this.#view(row, await statusOf(db, dispatcher.orgWebhookIdentity(row), ctx.now)));
    return out;
  }

  /** Creates a webhook sink; the answer is the only time its signing secret is shown. */
  async create(ctx: RequestContext, input: { url: string; label?: string | null }): Promise<{ sink: OrgSinkView; secret: string }> {
    const { db, keyring, audit, dispatcher } = this.deps;
    const orgId = ctx.principal.orgId;
    const url = await checkOrgWebhookUrl(input.url, this.deps.policy, this.deps.resolve);
    const id = newId('snk');
    const secret = newToken('whs');
    const label = input.label?.trim() || null;
    const row = await db.transaction().execute(async (trx) => {
      if ((await store.countOrgSinks(trx, orgId)) >= MAX_ORG_SINKS) {
        throw new AppError('validation_failed', `An organization has at most ${MAX_ORG_SINKS} audit sinks`, [{ path: '/url', rule: 'maxItems' }]);
      }
      const created: store.SinkRow = {
        id,
        org_id: orgId,
        kind: 'webhook',
        url: url.href,
        label,
        ...(await sealSinkSecret(keyring, trx, orgId, id, secret)),
        created_at: ctx.now,
        created_by: actorOf(ctx.principal).id,
      };
      await store.insertSink(trx, created);
      await audit.record(trx, auditContextOf(ctx), { action: 'audit.sink.create', target: { type: 'audit_sink', id, name: displayUrl(url) }, details: { kind: 'webhook', url: displayUrl(url), label } });
      // The sink starts at its own creation record (the chain's head now: this transaction holds the chain).
      const head = await store.chainHeadWithId(trx, chainOf(orgId));
      await store.ensureCursor(trx, { sinkId: id, orgId, lastId: 0, lastSeq: Number(head?.seq ?? 1) - 1, now: ctx.now });
      return created;
    });
    await dispatcher.refresh();
    return { sink: this.#view(row, await statusOf(db, dispatcher.orgWebhookIdentity(row), ctx.now)), secret };
  }

  async remove(ctx: RequestContext, sinkId: string): Promise<void> {
    const { db, audit, dispatcher } = this.deps;
    const orgId = ctx.principal.orgId;
    await db.transaction().execute(async (trx) => {
      const row = await store.orgSink(trx, orgId, sinkId);
      if (!row || !(await store.deleteSink(trx, orgId, sinkId))) throw notFound();
      const shown = displayUrl(new URL(row.url));
      await audit.record(trx, auditContextOf(ctx), { action: 'audit.sink.delete', target: { type: 'audit_sink', id: sinkId, name: shown }, details: { kind: row.kind, url: shown } });
    });
    await dispatcher.refresh();
  }

  /**
   * Sends one signed test delivery (`{"sink", "test": true, "records": []}`) and says how the
   * receiver answered. It moves no cursor; it is recorded with its outcome.
   */
  async test(ctx: RequestContext, sinkId: string): Promise<SinkTestResult> {
    const { db, keyring, audit, dispatcher } = this.deps;
    const row = await store.orgSink(db, ctx.principal.orgId, sinkId);
    if (!row) throw notFound();
    const transport = dispatcher.orgWebhook(row, await openSinkSecret(keyring, db, row));
    let result: SinkTestResult;
    try {
      const answer = await transport.post(JSON.stringify({ sink: row.id, test: true, records: [] }), new AbortController().signal);
      const delivered = answer.status >= 200 && answer.status <= 299;
      result = { delivered, status: answer.status, error: delivered ? null : `HTTP ${answer.status}`, durationMs: answer.durationMs };
    } catch (err) {
      result = { delivered: false, status: null, error: deliveryReason(err, this.deps.dispatcher.timeoutMs), durationMs: 0 };
    } finally {
      await transport.close();
    }
    const shown = displayUrl(new URL(row.url));
    await db.transaction().execute((trx) =>
      audit.record(trx, auditContextOf(ctx), {
        action: 'audit.sink.test',
        outcome: result.delivered ? 'success' : 'failure',
        target: { type: 'audit_sink', id: row.id, name: shown },
        details: { status: result.status, error: result.error },
      }),
    );
    return result;
  }

  /** Every sink's status (the operator's and every org's), for the metrics. */
  statuses(): Promise<SinkStatus[]> {
    return this.deps.dispatcher.statuses();
  }

  /** How far behind each sink is (metrics/AuditSinkLag). */
  async sinkLag(): Promise<Array<{ sink: string; records: number; seconds: number }>> {
    return (await this.statuses()).map((st) => ({ sink: st.id, records: st.recordsBehind, seconds: st.secondsBehind }));
  }

  /**
   * A security alert that fired (alerts/): each of the org's webhooks gets one signed POST,
   * `{"sink", "alert"}` (no `records`), once — an alert is not replayed; it is in the alert list
   * and the audit log (`alert.fire`) whatever a receiver answered.
   */
  async alertFired(orgId: string, alert: unknown): Promise<void> {
    const { db, keyring, dispatcher } = this.deps;
    const failures: string[] = [];
    for (const row of await store.orgSinks(db, orgId)) {
      const transport = dispatcher.orgWebhook(row, await openSinkSecret(keyring, db, row));
      try {
        const answer = await transport.post(JSON.stringify({ sink: row.id, alert }), new AbortController().signal);
        if (answer.status < 200 || answer.status > 299) failures.push(`${row.id}: HTTP ${answer.status}`);
      } catch (err) {
        failures.push(`${row.id}: ${deliveryReason(err, dispatcher.timeoutMs)}`);
      } finally {
        await transport.close();
      }
    }
    if (failures.length > 0) throw new Error(`alert not accepted by ${failures.join(', ')}`);
  }

  #view(row: store.SinkRow, status: SinkStatus): OrgSinkView {
    const { id: _id, kind: _kind, orgId: _org, destination: _dest, scope: _scope, ...rest } = status;
    return { id: row.id, kind: row.kind, url: row.url, label: row.label, createdAt: iso(Number(row.created_at)), status: rest };
  }
}

const notFound = () => new AppError('sink_not_found', 'No such audit sink in your organization');
