import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from './config.js';
import { cityRecord, writeMmdb, writeMmdbFile } from './test-support/mmdb.js';
import { refusedConfig } from './test-support/config.js';

const GOOD_KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i + 1)).toString('base64');

const failure = refusedConfig;

describe('loadConfig', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'keynest-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('has safe defaults', () => {
    const c = loadConfig({});
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.port, 8200);
    assert.equal(c.dataDir, path.resolve('./data'));
    assert.equal(c.databaseUrl, undefined);
    assert.equal(c.databaseSchema, undefined);
    assert.equal(c.databaseMigrationUrl, undefined);
    assert.equal(c.databaseAppRole, 'keynest_app');
    assert.equal(c.rootKey, undefined);
    assert.equal(c.logLevel, 'info');
    assert.equal(c.sessionTtlS, 12 * 3600);
    assert.equal(c.shutdownTimeoutMs, 10_000);
    assert.equal(c.bodyLimitBytes, 8 * 1024 * 1024);
    assert.equal(c.geoIp, undefined, 'no GeoIP database unless one is named');
    assert.equal(c.emergencyAccessS, 3600, 'emergency access past the IP allowlist lasts an hour');
  });

  it('reads every KEYNEST_* variable; empty ones count as unset; overrides win', () => {
    const c = loadConfig({
      KEYNEST_HOST: '0.0.0.0',
      KEYNEST_PORT: '9000',
      KEYNEST_DATA_DIR: dir,
      KEYNEST_DATABASE_URL: 'postgresql://u:p@db:5432/keynest',
      KEYNEST_DATABASE_SCHEMA: 'tenant_1',
      KEYNEST_ROOT_KEY: GOOD_KEY,
      KEYNEST_LOG_LEVEL: 'warn',
      KEYNEST_SESSION_TTL_S: '60',
      KEYNEST_SHUTDOWN_TIMEOUT_MS: '0',
      KEYNEST_BODY_LIMIT_BYTES: '1024',
      KEYNEST_VALUE_CACHE_TTL_MS: '0',
      KEYNEST_VALUE_CACHE_MAX_MB: '2',
      KEYNEST_PORT_UNUSED: '',
    });
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.port, 9000);
    assert.equal(c.dataDir, dir);
    assert.equal(c.databaseUrl, 'postgresql://u:p@db:5432/keynest');
    assert.equal(c.databaseSchema, 'tenant_1');
    assert.ok(c.rootKey?.equals(Buffer.from(GOOD_KEY, 'base64')));
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.sessionTtlS, 60);
    assert.equal(c.shutdownTimeoutMs, 0);
    assert.equal(c.bodyLimitBytes, 1024);
    assert.equal(c.valueCacheTtlMs, 0);
    assert.equal(c.valueCacheMaxBytes, 2 * 1024 * 1024);
    assert.equal(loadConfig({}).trustProxy, false, 'X-Forwarded-For is ignored unless configured');
    assert.deepEqual(loadConfig({ KEYNEST_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,::1' }).trustProxy, ['10.0.0.0/8', '127.0.0.1', '::1']);
    assert.equal(loadConfig({ KEYNEST_TRUST_PROXY: '2' }).trustProxy, 2);
    assert.equal(loadConfig({ KEYNEST_TRUST_PROXY: 'true' }).trustProxy, true);
    assert.deepEqual(loadConfig({ KEYNEST_LOGIN_RATE_IP: '5/30' }).loginRatePerIp, { points: 5, durationS: 30 });
    assert.equal(loadConfig({ KEYNEST_PORT: '' }).port, 8200);
    const o = loadConfig({ KEYNEST_PORT: '9000', KEYNEST_HOST: '0.0.0.0', KEYNEST_DATA_DIR: '/elsewhere' }, { port: 0, host: '::1', dataDir: dir });
    assert.deepEqual([o.port, o.host, o.dataDir], [0, '::1', dir]);
  });

  it('refuses bad numbers, naming the variable', () => {
    for (const port of ['abc', '-1', '1.5', '65536', '0x50', ' 80', '8e3']) assert.match(failure({ KEYNEST_PORT: port }, 'KEYNEST_PORT'), /KEYNEST_PORT/);
    failure({ KEYNEST_SESSION_TTL_S: '59' }, 'KEYNEST_SESSION_TTL_S');
    failure({ KEYNEST_SESSION_TTL_S: String(30 * 24 * 3600 + 1) }, 'KEYNEST_SESSION_TTL_S');
    failure({ KEYNEST_BODY_LIMIT_BYTES: '1023' }, 'KEYNEST_BODY_LIMIT_BYTES');
    failure({ KEYNEST_SHUTDOWN_TIMEOUT_MS: '600001' }, 'KEYNEST_SHUTDOWN_TIMEOUT_MS');
    failure({ KEYNEST_VALUE_CACHE_TTL_MS: '60001' }, 'KEYNEST_VALUE_CACHE_TTL_MS');
    failure({ KEYNEST_SESSION_REMEMBER_TTL_S: String(30 * 24 * 3600 + 1) }, 'KEYNEST_SESSION_REMEMBER_TTL_S');
    failure({ KEYNEST_LOCKOUT_THRESHOLD: '0' }, 'KEYNEST_LOCKOUT_THRESHOLD');
    for (const bad of ['30', '30/0', '0/60', 'x/60', '30/60s']) failure({ KEYNEST_LOGIN_RATE_IP: bad }, 'KEYNEST_LOGIN_RATE_IP');
    failure({ KEYNEST_PASSWORD_MIN_LENGTH: '7' }, 'KEYNEST_PASSWORD_MIN_LENGTH');
    failure({ KEYNEST_PASSWORD_MIN_LENGTH: 'twelve' }, 'KEYNEST_PASSWORD_MIN_LENGTH');
    failure({ KEYNEST_PASSWORD_MIN_SCORE: '5' }, 'KEYNEST_PASSWORD_MIN_SCORE');
    failure({ KEYNEST_PASSWORD_REQUIRE_CLASSES: '5' }, 'KEYNEST_PASSWORD_REQUIRE_CLASSES');
    for (const bad of ['yes', '10.0.0.0/33', '10.0.0.1/8/1', 'proxy.internal', '::1/129']) failure({ KEYNEST_TRUST_PROXY: bad }, 'KEYNEST_TRUST_PROXY');
    failure({ KEYNEST_VALUE_CACHE_MAX_MB: '0' }, 'KEYNEST_VALUE_CACHE_MAX_MB');
    for (const bad of ['59', String(24 * 3600 + 1), '1h']) failure({ KEYNEST_EMERGENCY_ACCESS_S: bad }, 'KEYNEST_EMERGENCY_ACCESS_S');
    assert.equal(loadConfig({ KEYNEST_EMERGENCY_ACCESS_S: '900' }).emergencyAccessS, 900);
    failure({ KEYNEST_LOG_LEVEL: 'verbose' }, 'KEYNEST_LOG_LEVEL');
    failure({ KEYNEST_DATABASE_SCHEMA: 'Bad-Schema' }, 'KEYNEST_DATABASE_SCHEMA');
    failure({ KEYNEST_DATABASE_SCHEMA: 'x; drop table users' }, 'KEYNEST_DATABASE_SCHEMA');
  });

  it('refuses a non-PostgreSQL database URL without echoing it (it may hold a password)', () => {
    for (const url of ['mysql://admin:hunter2-secret@db/keynest', 'sqlite:///tmp/x.db', 'hunter2-secret', 'http://u:hunter2-secret@h/']) {
      for (const name of ['KEYNEST_DATABASE_URL', 'KEYNEST_DATABASE_MIGRATION_URL']) {
        const msg = failure({ [name]: url }, name);
        assert.ok(!msg.includes('hunter2-secret'), msg);
        assert.ok(!msg.includes(url), msg);
      }
    }
    assert.equal(loadConfig({ KEYNEST_DATABASE_MIGRATION_URL: 'postgres://owner@db/k' }).databaseMigrationUrl, 'postgres://owner@db/k');
  });

  it('takes the PostgreSQL app role as a plain lower-case identifier only', () => {
    assert.equal(loadConfig({ KEYNEST_DATABASE_APP_ROLE: 'acme_keynest' }).databaseAppRole, 'acme_keynest');
    for (const bad of ['Keynest', 'a-b', 'x"; drop role postgres; --', '1role']) failure({ KEYNEST_DATABASE_APP_ROLE: bad }, 'KEYNEST_DATABASE_APP_ROLE');
  });

  it('refuses a bad root key without echoing it: wrong length, not base64, trivial', () => {
    const cases = [
      Buffer.alloc(16, 7).toString('base64'),
      Buffer.alloc(33, 7).toString('base64'),
      `${GOOD_KEY.slice(0, -4)}!!!!`,
      'not base64 at all but long enough to be 32 bytes maybe',
      Buffer.alloc(32, 0).toString('base64'),
      Buffer.alloc(32, 0xab).toString('base64'),
    ];
    for (const key of cases) {
      const msg = failure({ KEYNEST_ROOT_KEY: key }, 'KEYNEST_ROOT_KEY');
      assert.ok(!msg.includes(key), msg);
    }
    assert.ok(loadConfig({ KEYNEST_ROOT_KEY: GOOD_KEY.replace(/=+$/, '') }).rootKey?.equals(Buffer.from(GOOD_KEY, 'base64')));
  });

  it('metrics: off by default; a token (32+ characters, kept only as a digest) or a port of their own', () => {
    assert.equal(loadConfig({}).metrics, null, 'no /metrics unless asked for');
    const token = 'm'.repeat(31) + 'X';
    const onMain = loadConfig({ KEYNEST_METRICS_TOKEN: token }).metrics;
    assert.deepEqual(onMain, { tokenDigest: createHash('sha256').update(token).digest('hex'), listener: undefined });
    assert.ok(!JSON.stringify(onMain).includes(token), 'the token itself is not kept');
    assert.deepEqual(loadConfig({ KEYNEST_METRICS_PORT: '9464' }).metrics, { tokenDigest: undefined, listener: { host: '127.0.0.1', port: 9464 } });
    assert.deepEqual(loadConfig({ KEYNEST_METRICS_PORT: '0', KEYNEST_METRICS_HOST: '::1', KEYNEST_METRICS_TOKEN: token }).metrics?.listener, { host: '::1', port: 0 });
    for (const bad of ['short-token', `${'x'.repeat(40)} y`, `${'é'.repeat(40)}`]) {
      const msg = failure({ KEYNEST_METRICS_TOKEN: bad }, 'KEYNEST_METRICS_TOKEN');
      assert.ok(!msg.includes(bad), 'the token is never echoed');
    }
    for (const bad of ['x', '65536', '-1']) failure({ KEYNEST_METRICS_PORT: bad }, 'KEYNEST_METRICS_PORT');
    failure({ KEYNEST_METRICS_PORT: '8200' }, 'KEYNEST_METRICS_PORT');
    failure({ KEYNEST_METRICS_PORT: '9000', KEYNEST_PORT: '9000' }, 'KEYNEST_METRICS_PORT');
    failure({ KEYNEST_METRICS_HOST: '127.0.0.1' }, 'KEYNEST_METRICS_HOST');
    failure({ KEYNEST_METRICS_PORT: '9464', KEYNEST_METRICS_HOST: 'metrics host' }, 'KEYNEST_METRICS_HOST');
  });

  it('opens the GeoIP database named by KEYNEST_GEOIP_DB (relative to the working directory)', () => {
    const file = writeMmdbFile(dir, 'city.mmdb', [{ network: '203.0.113.0/24', record: cityRecord({ countryCode: 'DE', country: 'Germany', city: 'Berlin' }) }]);
    const c = loadConfig({ KEYNEST_GEOIP_DB: file });
    assert.deepEqual(c.geoIp?.locate('203.0.113.5'), { countryCode: 'DE', country: 'Germany', city: 'Berlin' });
    assert.ok(loadConfig({ KEYNEST_GEOIP_DB: path.relative(process.cwd(), file) }).geoIp);
    assert.equal(loadConfig({ KEYNEST_GEOIP_DB: '' }).geoIp, undefined, 'empty counts as unset');
  });

  it('refuses a GeoIP database that is missing, unreadable or not a City/Country .mmdb, naming the file', () => {
    const write = (name: string, bytes: Buffer | string) => {
      const f = path.join(dir, name);
      writeFileSync(f, bytes);
      return f;
    };
    const missing = path.join(dir, 'GeoLite2-City.mmdb');
    assert.match(failure({ KEYNEST_GEOIP_DB: missing }, 'KEYNEST_GEOIP_DB'), new RegExp(`cannot read ${missing} \\(ENOENT\\)`));
    assert.match(failure({ KEYNEST_GEOIP_DB: dir }, 'KEYNEST_GEOIP_DB'), /EISDIR/);
    assert.match(failure({ KEYNEST_GEOIP_DB: write('GeoLite2-City.csv', 'network,geoname_id\n1.0.0.0/24,2077456\n') }, 'KEYNEST_GEOIP_DB'), /not a MaxMind DB/);
    const asn = write('GeoLite2-ASN.mmdb', writeMmdb([{ network: '192.0.2.0/24', record: { autonomous_system_number: 64500 } }], { databaseType: 'GeoLite2-ASN' }));
    assert.match(failure({ KEYNEST_GEOIP_DB: asn }, 'KEYNEST_GEOIP_DB'), /holds no locations/);
    if (process.getuid?.() !== 0) {
      const locked = write('locked.mmdb', writeMmdb([]));
      chmodSync(locked, 0o000);
      assert.match(failure({ KEYNEST_GEOIP_DB: locked }, 'KEYNEST_GEOIP_DB'), /EACCES/);
    }
  });

  it('reads the audit sinks: none by default; a file, syslog over UDP or TCP, a webhook with its secret; delivery settings', () => {
    const none = loadConfig({}).auditSinks;
    assert.deepEqual([none.file, none.syslog, none.webhook], [undefined, undefined, undefined]);
    assert.deepEqual(none.webhookPolicy, { allowHttp: false, allowPrivate: false });
    assert.deepEqual(none.delivery, { batchSize: 100, pollMs: 1000, timeoutMs: 10_000, retryMinMs: 1000, retryMaxMs: 300_000 });
    const secret = 's'.repeat(31) + 'X';
    const c = loadConfig({
      KEYNEST_AUDIT_SINK_FILE: 'audit/keynest.jsonl',
      KEYNEST_AUDIT_SINK_SYSLOG: 'tcp://[2001:db8::5]',
      KEYNEST_AUDIT_SINK_WEBHOOK_URL: 'https://siem.example/in?token=t#frag',
      KEYNEST_AUDIT_SINK_WEBHOOK_SECRET: secret,
      KEYNEST_AUDIT_SINK_BATCH: '500',
      KEYNEST_AUDIT_SINK_RETRY_MIN_MS: '20',
      KEYNEST_AUDIT_SINK_RETRY_MAX_MS: '20',
      KEYNEST_WEBHOOK_ALLOW_PRIVATE: 'true',
    }).auditSinks;
    assert.equal(c.file, path.resolve('audit/keynest.jsonl'));
    assert.deepEqual(c.syslog, { protocol: 'tcp', host: '2001:db8::5', port: 601 });
    assert.equal(c.webhook?.url.href, 'https://siem.example/in?token=t');
    assert.equal(c.webhook?.secret, secret);
    assert.deepEqual([c.delivery.batchSize, c.delivery.retryMinMs, c.delivery.retryMaxMs], [500, 20, 20]);
    assert.deepEqual(c.webhookPolicy, { allowHttp: false, allowPrivate: true });
    assert.deepEqual(loadConfig({ KEYNEST_AUDIT_SINK_SYSLOG: 'udp://logs.internal' }).auditSinks.syslog, { protocol: 'udp', host: 'logs.internal', port: 514 });
    assert.deepEqual(loadConfig({ KEYNEST_AUDIT_SINK_SYSLOG: 'udp://10.0.0.9:5514' }).auditSinks.syslog, { protocol: 'udp', host: '10.0.0.9', port: 5514 });
  });

  it('refuses bad audit sink settings in one line naming the variable, never echoing a webhook URL or secret', () => {
    for (const bad of ['syslog.example:514', 'tls://logs:6514', 'udp://', 'udp://logs:0', 'udp://logs:70000', 'tcp://[not-v6]:601', 'udp://a b']) {
      failure({ KEYNEST_AUDIT_SINK_SYSLOG: bad }, 'KEYNEST_AUDIT_SINK_SYSLOG');
    }
    const secret = 'hunter2-webhook-secret-value-long-enough';
    for (const url of ['http://siem.example/in?token=hunter2-url', 'ftp://siem.example/hunter2-url', 'https://u:hunter2-url@siem.example/', 'hunter2-url']) {
      const msg = failure({ KEYNEST_AUDIT_SINK_WEBHOOK_URL: url, KEYNEST_AUDIT_SINK_WEBHOOK_SECRET: secret }, 'KEYNEST_AUDIT_SINK_WEBHOOK_URL');
      assert.ok(!msg.includes('hunter2'), msg);
      assert.ok(!msg.includes('\n'));
    }
    assert.equal(loadConfig({ KEYNEST_AUDIT_SINK_WEBHOOK_URL: 'http://siem.internal/in', KEYNEST_AUDIT_SINK_WEBHOOK_SECRET: secret, KEYNEST_WEBHOOK_ALLOW_HTTP: 'true' }).auditSinks.webhook?.url.protocol, 'http:');
    for (const short of ['hunter2', 'hunter2-'.repeat(3)]) {
      const msg = failure({ KEYNEST_AUDIT_SINK_WEBHOOK_URL: 'https://siem.example/in', KEYNEST_AUDIT_SINK_WEBHOOK_SECRET: short }, 'KEYNEST_AUDIT_SINK_WEBHOOK_SECRET');
      assert.ok(!msg.includes('hunter2'), msg);
    }
    failure({ KEYNEST_AUDIT_SINK_WEBHOOK_URL: 'https://siem.example/in' }, 'KEYNEST_AUDIT_SINK_WEBHOOK_SECRET');
    assert.ok(!failure({ KEYNEST_AUDIT_SINK_WEBHOOK_SECRET: secret }, 'KEYNEST_AUDIT_SINK_WEBHOOK_SECRET').includes('hunter2'));
    for (const name of ['KEYNEST_WEBHOOK_ALLOW_HTTP', 'KEYNEST_WEBHOOK_ALLOW_PRIVATE']) failure({ [name]: 'yes' }, name);
    failure({ KEYNEST_AUDIT_SINK_BATCH: '0' }, 'KEYNEST_AUDIT_SINK_BATCH');
    failure({ KEYNEST_AUDIT_SINK_POLL_MS: '5' }, 'KEYNEST_AUDIT_SINK_POLL_MS');
    failure({ KEYNEST_AUDIT_SINK_TIMEOUT_MS: '200000' }, 'KEYNEST_AUDIT_SINK_TIMEOUT_MS');
    failure({ KEYNEST_AUDIT_SINK_RETRY_MIN_MS: '5000', KEYNEST_AUDIT_SINK_RETRY_MAX_MS: '1000' }, 'KEYNEST_AUDIT_SINK_RETRY_MAX_MS');
  });

  it('reads a JSON config file; the environment wins over it', () => {
    const file = path.join(dir, 'keynest.json');
    writeFileSync(file, JSON.stringify({ KEYNEST_PORT: 9100, KEYNEST_LOG_LEVEL: 'debug', KEYNEST_HOST: '0.0.0.0' }));
    const c = loadConfig({ KEYNEST_CONFIG_FILE: file, KEYNEST_LOG_LEVEL: 'error' });
    assert.equal(c.port, 9100);
    assert.equal(c.host, '0.0.0.0');
    assert.equal(c.logLevel, 'error');
  });

  it('refuses a bad config file, naming the file setting (or the bad setting inside it)', () => {
    const write = (name: string, text: string) => {
      const f = path.join(dir, name);
      writeFileSync(f, text);
      return f;
    };
    failure({ KEYNEST_CONFIG_FILE: path.join(dir, 'missing.json') }, 'KEYNEST_CONFIG_FILE');
    failure({ KEYNEST_CONFIG_FILE: write('bad.json', '{"KEYNEST_PORT": ') }, 'KEYNEST_CONFIG_FILE');
    failure({ KEYNEST_CONFIG_FILE: write('array.json', '[]') }, 'KEYNEST_CONFIG_FILE');
    failure({ KEYNEST_CONFIG_FILE: write('null.json', 'null') }, 'KEYNEST_CONFIG_FILE');
    assert.match(failure({ KEYNEST_CONFIG_FILE: write('unknown.json', '{"PORT": 1}') }, 'KEYNEST_CONFIG_FILE'), /PORT/);
    failure({ KEYNEST_CONFIG_FILE: write('nested.json', '{"KEYNEST_PORT": {"x": 1}}') }, 'KEYNEST_PORT');
    failure({ KEYNEST_CONFIG_FILE: write('badport.json', '{"KEYNEST_PORT": "eighty"}') }, 'KEYNEST_PORT');
    // A bad value in the file is refused without echoing a secret-bearing setting.
    const msg = failure({ KEYNEST_CONFIG_FILE: write('dburl.json', '{"KEYNEST_DATABASE_URL": "mysql://u:file-secret@h/db"}') }, 'KEYNEST_DATABASE_URL');
    assert.ok(!msg.includes('file-secret'));
  });
});
