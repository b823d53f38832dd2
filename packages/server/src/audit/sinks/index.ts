/**
 * Audit streaming (docs/audit.md, "Streaming to sinks"): committed records go, in the background
 * and in order, to the operator's sinks (a JSON-lines file, syslog, a webhook) and to each org's
 * own webhooks. The database stays the source of truth: a sink's backlog is what lies past its
 * cursor, so a sink that fails loses nothing and a request never waits for one.
 */
export { AuditSinkDispatcher, INSTANCE_SINK_IDS } from './dispatcher.js';
export { AuditSinks, type OrgSinkView, type SinkTestResult } from './service.js';
export { auditSinkRoutes } from './routes.js';
export type { SinkStatus } from './status.js';
export { webhookSignature, SIGNATURE_HEADER } from './webhook.js';
