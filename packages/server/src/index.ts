export { runServer } from './main.js';
export { createKeyNest, type KeyNest } from './server.js';
export { loadConfig, type Config } from './config.js';
export { startTestServer, type TestServer, type TestServerOptions } from './testing.js';
export { ERROR_CODES, AppError, type ErrorCode } from './errors.js';
/** For tests in other packages: a real MaxMind DB file to point KEYNEST_GEOIP_DB at. */
export { writeMmdbFile, cityRecord, type MmdbEntry } from './test-support/mmdb.js';
/** For tests in other packages: a clock they move by hand (expiry without sleeping). */
export { manualClock, type ManualClock } from './test-support/clock.js';
export { withoutAuditTriggers } from './test-support/db.js';
/** For tests in other packages: a webhook receiver on a free loopback port (audit sinks). */
export { startWebhookReceiver, type WebhookReceiver } from './test-support/receivers.js';
