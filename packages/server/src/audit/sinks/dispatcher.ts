import { hostname } from 'node:os';
import { chainOf } from '@keynest/sdk/audit-chain';
import type { Keyring } from '../../crypto/keyring.js';
import { newId } from '../../crypto/random.js';
import type { AuditSinkConfig } from './config.js';
import { displayUrl, type Resolver } from './destination.js';
import { JsonLinesFileTransport } from './file.js';
import { openSinkSecret } from './secret.js';
import { statusOf, type SinkStatus } from './status.js';
import * as store from './store.js';
import { SyslogTransport } from './syslog.js';
import type { SinkRecord } from './transport.js';
import { WebhookTransport } from './webhook.js';
import { SinkWorker, type SinkDefinition, type WorkerDeps } from './worker.js';

/** The operator's sinks are named by kind: their cursors survive restarts and a changed destination. */
export const INSTANCE_SINK_IDS = { file: 'instance-file', syslog: 'instance-syslog', webhook: 'instance-webhook' } as const;

/** Appends arriving this close together wake the sinks once (and a caller's transaction has committed by then). */
const WAKE_DELAY_MS = 20;
/** How often the org sinks are read again (another instance may have added or removed one). */
const ORG_SINK_REFRESH_MS = 5_000;

export interface DispatcherDeps extends Pick<WorkerDeps, 'db' | 'traits' | 'tenancy' | 'clock' | 'log'> {
  keyring: Keyring;
  config: AuditSinkConfig;
  /** Tests: stand-in DNS for org webhooks' destination checks, and a fixed retry jitter. */
  resolve?: Resolver;
  random?: () => number;
}

/**
 * Streams committed audit records to sinks, in the background (docs/audit.md, "Streaming to
 * sinks"). Invariants:
 * - a request never waits for a sink: appends only `notifyAppended` (a flag and, at most every
 *   WAKE_DELAY_MS, one timer), and sinks read what committed, after their own cursors;
 * - one worker per sink (worker.ts): the operator's, from the configuration, receive every chain;
 *   an org's webhooks only their org's;
 * - `stop` abandons in-flight deliveries without moving their cursors; the next start resumes.
 */
export class AuditSinkDispatcher {
  readonly #workers = new Map<string, SinkWorker>();
  readonly #workerDeps: WorkerDeps;
  /** The operator's sinks, built once from the configuration. */
  readonly #instance: SinkDefinition[];
  #started = false;
  #stopped = false;
  #wakeScheduled = false;
  /** The workers the scheduled wake-up will wake. */
  readonly #toWake = new Set<SinkWorker>();
  #refreshTimer: NodeJS.Timeout | null = null;
  #refreshing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: DispatcherDeps) {
    this.#workerDeps = {
      db: deps.db,
      traits: deps.traits,
      tenancy: deps.tenancy,
      clock: deps.clock,
      log: deps.log,
      policy: deps.config.delivery,
      owner: newId('dsp'),
      random: deps.random ?? Math.random,
    };
    this.#instance = this.#instanceSinks();
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    for (const sink of this.#instance) this.#startWorker(sink);
    await this.refresh();
    this.#refreshTimer = setInterval(() => void this.refresh(), ORG_SINK_REFRESH_MS);
    this.#refreshTimer.unref();
  }

  /**
   * A consumer inside the server (the alert engine), delivered like the operator's sinks — in
   * order, at least once, behind a cursor of its own — from the records appended after its first
   * start. Added before `start`. `interest`: the actions it wants (the others are passed over unread).
   */
  addConsumer(id: string, consume: (records: readonly SinkRecord[]) => Promise<void>, interest?: (action: string) => boolean): void {
    if (this.#started) throw new Error('audit stream consumers are added before the dispatcher starts');
    this.#instance.push({ id, kind: 'internal', orgId: null, destination: id, fromHead: true, ...(interest ? { interest } : {}), transport: { deliver: (records) => consume(records), close: async () => {} } });
  }

  /**
   * Called by the audit service for every record appended: cheap, and never waits. Wakes, once
   * per WAKE_DELAY_MS, the workers that want the action. One that wants only some actions (the
   * alert engine) is not woken by the others: under a load of reads it would otherwise run a round
   * (a read and a cursor write) every WAKE_DELAY_MS for nothing; its poll passes over them.
   */
  notifyAppended(action: string): void {
    if (this.#toWake.size === this.#workers.size) return;
    for (const w of this.#workers.values()) if (!this.#toWake.has(w) && w.wants(action)) this.#toWake.add(w);
    if (this.#wakeScheduled || this.#toWake.size === 0) return;
    this.#wakeScheduled = true;
    setTimeout(() => {
      this.#wakeScheduled = false;
      const woken = [...this.#toWake];
      this.#toWake.clear();
      for (const w of woken) w.wake();
    }, WAKE_DELAY_MS).unref();
  }

  /** Brings the org sinks' workers in line with the database (a sink added or removed). */
  refresh(): Promise<void> {
    this.#refreshing = this.#refreshing.then(() => this.#refresh()).catch((err: unknown) => this.deps.log.error({ err }, 'audit sinks not refreshed'));
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    if (this.#stopped || !this.#started) return;
    const { db, tenancy, keyring } = this.deps;
    // Every org's sinks: the dispatcher serves them all, each worker then acting as its own org.
    const rows = await tenancy.runAsSystem(() => store.allOrgSinks(db));
    const current = new Set(rows.map((r) => r.id));
    for (const [id, worker] of this.#workers) {
      if (worker.sink.orgId !== null && !current.has(id)) {
        this.#workers.delete(id);
        this.#toWake.delete(worker);
        await worker.stop();
      }
    }
    for (const row of rows) {
      if (this.#workers.has(row.id) || this.#stopped) continue;
      try {
        const secret = await tenancy.runAsOrg(row.org_id, () => openSinkSecret(keyring, db, row));
        this.#startWorker({ ...this.orgWebhookIdentity(row), transport: this.orgWebhook(row, secret) });
      } catch (err) {
        // One sink whose secret does not open (a wrong root key) must not hold back the others.
        this.deps.log.error({ err, sink: row.id }, 'audit sink not started');
      }
    }
  }

  /** How long a delivery may take (a test delivery too). */
  get timeoutMs(): number {
    return this.deps.config.delivery.timeoutMs;
  }

  /** A transport for an org's webhook: destination rules at every connection (destination.ts). */
  orgWebhook(row: store.SinkRow, secret: string): WebhookTransport {
    const { config, clock, resolve } = this.deps;
    const guard = { ...config.webhookPolicy, ...(resolve ? { resolve } : {}) };
    return new WebhookTransport({ sinkId: row.id, url: new URL(row.url), secret, timeoutMs: config.delivery.timeoutMs, clock, guard });
  }

  orgWebhookIdentity(row: store.SinkRow) {
    return { id: row.id, kind: 'webhook' as const, orgId: row.org_id, destination: displayUrl(new URL(row.url)) };
  }

  #instanceSinks(): SinkDefinition[] {
    const { config, clock } = this.deps;
    const { delivery } = config;
    const out: SinkDefinition[] = [];
    if (config.file) out.push({ id: INSTANCE_SINK_IDS.file, kind: 'file', orgId: null, destination: config.file, transport: new JsonLinesFileTransport(config.file) });
    if (config.syslog) {
      const { protocol, host, port } = config.syslog;
      const origin = { hostname: hostname(), procId: String(process.pid) };
      out.push({ id: INSTANCE_SINK_IDS.syslog, kind: 'syslog', orgId: null, destination: `${protocol}://${host}:${port}`, transport: new SyslogTransport(config.syslog, origin, delivery.timeoutMs) });
    }
    if (config.webhook) {
      const { url, secret } = config.webhook;
      const transport = new WebhookTransport({ sinkId: INSTANCE_SINK_IDS.webhook, url, secret, timeoutMs: delivery.timeoutMs, clock, guard: null });
      out.push({ id: INSTANCE_SINK_IDS.webhook, kind: 'webhook', orgId: null, destination: displayUrl(url), transport });
    }
    return out;
  }

  #startWorker(sink: SinkDefinition): void {
    const worker = new SinkWorker(sink, this.#workerDeps);
    this.#workers.set(sink.id, worker);
    // Outside whatever request asked for the refresh: the worker's queries name their own context.
    this.deps.tenancy.runAsSystem(() => worker.start());
  }

  /** Log rotation (SIGHUP): file sinks reopen their file before the next batch. */
  reopenFiles(): void {
    for (const w of this.#workers.values()) w.sink.transport.reopen?.();
  }

  /** Every sink's status, the operator's and every org's: for the metrics. */
  async statuses(): Promise<SinkStatus[]> {
    const { db, tenancy, clock } = this.deps;
    return tenancy.runAsSystem(async () => {
      const identities = [...this.#instance.map(({ transport: _t, ...identity }) => identity), ...(await store.allOrgSinks(db)).map((r) => this.orgWebhookIdentity(r))];
      const now = clock();
      const out: SinkStatus[] = [];
      for (const sink of identities) out.push(await statusOf(db, sink, now));
      return out;
    });
  }

  /** Resolves once the sink has delivered the record `id` (tests); rejects after `timeoutMs`. */
  async whenDelivered(sinkId: string, id: number, timeoutMs = 10_000): Promise<void> {
    const worker = this.#workers.get(sinkId);
    if (!worker) throw new Error(`no running audit sink ${sinkId}`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`audit sink ${sinkId} did not deliver record ${id} within ${timeoutMs} ms (at ${worker.deliveredUpTo})`)), timeoutMs);
    });
    try {
      await Promise.race([worker.whenDelivered(id), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves once every running sink has delivered every record committed so far (tests). */
  async drain(timeoutMs = 10_000): Promise<void> {
    await this.#refreshing;
    const { db, tenancy } = this.deps;
    for (const worker of [...this.#workers.values()]) {
      const orgId = worker.sink.orgId;
      const upTo = await tenancy.runAsSystem(() => store.newestId(db, orgId === null ? null : chainOf(orgId)));
      if (upTo > 0) await this.whenDelivered(worker.sink.id, upTo, timeoutMs);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#refreshTimer) clearInterval(this.#refreshTimer);
    await this.#refreshing;
    const workers = [...this.#workers.values()];
    this.#workers.clear();
    this.#toWake.clear();
    await Promise.all(workers.map((w) => w.stop()));
  }
}
