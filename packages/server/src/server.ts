import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { MemberAccessLoader } from './roles/access-loader.js';
import { RoleService } from './roles/service.js';
import { ProjectRoleService } from './orgs/project-roles.js';
import { ApiTokenService } from './access/service.js';
import { buildApp, type Services } from './app.js';
import { AuditService } from './audit/service.js';
import { ALERTS_CONSUMER, AlertService } from './alerts/service.js';
import { mayFire } from './alerts/rules.js';
import { AuditSinkDispatcher, AuditSinks } from './audit/sinks/index.js';
import type { Config } from './config.js';
import type { Clock } from './context.js';
import { stepUpPolicyOf } from './access/policy.js';
import { BackgroundWork, PeriodicWork } from './background.js';
import { AuditIntegrity } from './audit/integrity.js';
import { AuditKeys } from './audit/keys.js';
import { SensitiveStrings } from './audit/sensitive.js';
import { Invalidation } from './cache.js';
import { Cluster, Readiness } from './cluster/index.js';
import { Keyring } from './crypto/keyring.js';
import { CsrfTokens } from './http/csrf.js';
import { loadRootKey } from './crypto/root-key.js';
import { AccessTokens } from './identity/access-tokens.js';
import { SigningKeys } from './identity/signing-keys.js';
import { IdentityService } from './identity/service.js';
import { SessionService } from './identity/sessions.js';
import { TwoFactorService } from './identity/two-factor.js';
import { SecurityNotices } from './identity/notices.js';
import { AccountRecovery } from './identity/recovery.js';
import { InvitationAcceptance } from './identity/invitation-acceptance.js';
import { OpenSignup } from './identity/signup.js';
import { InvitationService } from './orgs/invitations.js';
import { MemberService } from './orgs/members.js';
import { IpAllowlist } from './orgs/allowlist.js';
import { EmergencyAccess } from './identity/emergency-access.js';
import { createMailer } from './email/mailer.js';
import { LoginThrottle } from './identity/throttle.js';
import type { Logger } from './logger.js';
import { OrgService } from './orgs/service.js';
import { ProjectService } from './projects/service.js';
import { KeyRotationService } from './secrets/key-rotation.js';
import { SecretService } from './secrets/service.js';
import { SecurityOverview } from './security/service.js';
import { MetricsListener } from './metrics/exposure.js';
import { AuditWriteTimes, Metrics } from './metrics/service.js';
import { openStorage, type Storage } from './storage/database.js';
import { GroupCommit } from './storage/group-commit.js';
import { CertificateReloader, type ReloadOutcome, type SecureContextTarget } from './tls/reloader.js';
import { RedirectListener } from './tls/redirect.js';
import { Http01Challenges } from './tls/acme/challenges.js';
import { startAcme, type RunningAcme } from './tls/acme/service.js';
import { certificatePair, type CertificatePair } from './tls/certificates.js';
import { secureContextOptions } from './tls/options.js';
import { ConfigError } from './errors.js';
import { flexibleStore, MemoryWindowStore, type LimitName } from './http/rate-limit/index.js';
import { OrgQuotas } from './orgs/quotas.js';

export const SETUP_TOKEN_FILE = 'setup-token';
/** Without KEYNEST_SMTP_URL, mails are appended here (JSON lines, mode 0600). */
export const OUTBOX_FILE = 'outbox.jsonl';

export interface KeyNest {
  app: FastifyInstance;
  storage: Storage;
  services: Services;
  keyring: Keyring;
  /** The one-time setup token when the instance is not set up yet; null afterwards. */
  setupToken: string | null;
  /** Where the metrics listener of its own (KEYNEST_METRICS_PORT) serves; null without one. */
  metricsUrl: string | null;
  /**
   * Stops accepting, lets in-flight requests finish, then waits for work they left behind (mails,
   * the lookups behind a reset request). The database stays open.
   */
  quiesce(): Promise<void>;
  /** Waits for the work answered requests left behind (a reset's or sign-up's lookup and mail). */
  settled(): Promise<void>;
  /** `quiesce`, then closes the database. */
  close(): Promise<void>;
  /** Built-in TLS (docs/tls.md): re-reads the certificate files (SIGHUP); null when serving plain HTTP. */
  tls: { reload(trigger: string): ReloadOutcome; readonly fingerprint: string } | null;
  /** Certificates over ACME (docs/acme.md): the running manager and the served certificate's SHA-256; null without ACME. */
  acme: { running: RunningAcme; readonly fingerprint: string } | null;
  /** Starts the plain-HTTP redirect listener (KEYNEST_HTTP_REDIRECT_PORT) once the HTTPS port is known; its URL, or null without one. */
  startRedirect(httpsPort: number): Promise<string | null>;
  /**
   * The first step of a drain (SIGTERM): /readyz answers 503 and every answer carries
   * `Connection: close`, while requests are still accepted (docs/cluster.md).
   */
  beginDrain(): void;
  /** Redis and the rate-limit store (docs/cluster.md); `link` is null without KEYNEST_REDIS_URL. */
  cluster: Cluster;
  /** Streams audit records to sinks; `drain` and `whenDelivered` let tests wait for deliveries. */
  auditSinkDispatcher: AuditSinkDispatcher;
}

const DAY_MS = 24 * 3600 * 1000;
/** The retention purge looks for records past their time this often. */
const AUDIT_PURGE_INTERVAL_MS = 6 * 3600 * 1000;

/** Clocks of instances (and of a client deciding when to refresh) may differ by this much. */
const CLOCK_SKEW_MS = 30_000;

/** The composition root: config -> storage -> migrations -> keyring -> services -> app. */
export async function createKeyNest(config: Config, log: Logger, clock: Clock): Promise<KeyNest> {
  const storage = await openStorage(config);
  let cluster: Cluster | undefined;
  // Listeners started before the app (ACME's responder, the shared redirect port): closed if the start fails.
  let redirect: RedirectListener | null = null;
  let acme: RunningAcme | null = null;
  try {
    await storage.migrate();
    const rootKey = loadRootKey(config.rootKey, config.dataDir, log);
    // ACME (docs/acme.md): the certificate is had before the HTTPS listener exists, or nothing starts.
    const acmeConfig = config.acme;
    const redirectPort = config.tls?.redirectPort ?? acmeConfig?.redirectPort ?? null;
    const redirectPublicUrl = config.publicUrl.startsWith('https://') ? config.publicUrl : undefined;
    // Set once the app exists: a certificate delivered before (the stored one at start) is only kept.
    const served: { target: SecureContextTarget | null; pair: CertificatePair | null } = { target: null, pair: null };
    if (acmeConfig) {
      // KEYNEST_HTTP_REDIRECT_PORT = KEYNEST_ACME_HTTP_PORT: one plain-HTTP listener answers the
      // challenges and redirects the rest; it must be up before the first order.
      const shared = redirectPort !== null && redirectPort === acmeConfig.httpPort;
      const challenges = new Http01Challenges();
      if (shared) redirect = await RedirectListener.start({ host: config.host, port: redirectPort, httpsPort: null, publicUrl: redirectPublicUrl, log, challenges });
      acme = await startAcme(acmeConfig, {
        host: config.host,
        dataDir: config.dataDir,
        sealKey: rootKey,
        clock,
        log,
        challenges,
        standaloneResponder: !shared,
        onCertificate: (cert) => {
          const pair = certificatePair(cert.certPem, cert.keyPem, { certFile: 'the ACME certificate', keyFile: 'the ACME certificate key' });
          // A context the server refuses throws before `served` moves on: the fingerprint stays the one in use.
          served.target?.setSecureContext(secureContextOptions(pair, { clientCa: null }));
          served.pair = pair;
          if (served.target) log.info({ certificate: pair.fingerprint, notAfter: cert.notAfter.toISOString() }, 'acme: now serving the renewed certificate');
        },
      });
      if (!acme.certificate || !served.pair) {
        throw new ConfigError('KEYNEST_ACME_DIRECTORY_URL', `no certificate could be obtained from ${acmeConfig.directoryUrl} (${acme.manager.status().lastError ?? 'unknown error'}); refusing to start without HTTPS`);
      }
    }
    const { db } = storage;
    const keyring = new Keyring(rootKey);
    // Metrics only when something reads them (docs/metrics.md): otherwise nothing is timed or counted for them.
    const auditWrites = config.metrics ? new AuditWriteTimes() : null;
    // Built before the audit service, which wakes it on every append; started once the app is built.
    const sinkDispatcher = new AuditSinkDispatcher({ db, traits: storage.traits, tenancy: storage.tenancy, keyring, clock, log, config: config.auditSinks });
    const audit = new AuditService(db, storage.traits, storage.tenancy, auditWrites, (action) => sinkDispatcher.notifyAppended(action));
    const auditSinks = new AuditSinks({ db, keyring, audit, dispatcher: sinkDispatcher, policy: config.auditSinks.webhookPolicy });
    const auditKeys = new AuditKeys({ db, rootKey });
    const sensitive = new SensitiveStrings(rootKey);
    await auditKeys.init(clock());
    const invalidation = new Invalidation();
    cluster = await Cluster.start(config.cluster, { invalidation, log, clock });
    const orgs = new OrgService({ db, keyring, audit, invalidation, defaults: { sessionLimit: config.sessionsPerUser, passwordPolicy: config.passwordPolicy, auditRetentionDays: config.auditRetentionDays } });
    // Plans and quotas (issue 6): every create that a plan counts asks it inside its own transaction.
    const quotas = new OrgQuotas({ db, tenancy: storage.tenancy, audit, invalidation, clock, defaultPlan: config.defaultPlan });
    const projects = new ProjectService({ db, audit, invalidation, clock, quotas });
    const tokenTimes = { tokenTtlMs: config.accessTokenTtlS * 1000, skewMs: CLOCK_SKEW_MS };
    const signingKeys = new SigningKeys({ db, rootKey, log, policy: { algorithm: config.jwtAlgorithm, rotationMs: config.jwtKeyRotationS * 1000, ...tokenTimes } });
    const accessTokens = new AccessTokens({ keys: signingKeys, policy: { issuer: config.publicUrl, ttlMs: tokenTimes.tokenTtlMs, skewMs: CLOCK_SKEW_MS } });
    await signingKeys.init(clock());
    const memberAccess = new MemberAccessLoader({ db, invalidation });
    const sessions = new SessionService({
      db,
      audit,
      invalidation,
      orgs,
      members: memberAccess,
      accessTokens,
      policy: {
        ttlS: config.sessionTtlS,
        idleS: config.sessionIdleS,
        rememberTtlS: config.sessionRememberTtlS,
        rememberIdleS: config.sessionRememberIdleS,
        refreshReuseGraceS: config.refreshReuseGraceS,
      },
      geoIp: config.geoIp,
    });
    const mailer = createMailer({ smtpUrl: config.smtpUrl, from: config.mailFrom, outboxFile: path.join(config.dataDir, OUTBOX_FILE), log, clock });
    const notices = new SecurityNotices(mailer);
    const alerts = new AlertService({ db, tenancy: storage.tenancy, audit, mailer, log, clock, dedupeMs: config.alertDedupeS * 1000, listeners: [auditSinks] });
    // Alerts are evaluated on the audit stream, behind a cursor of their own like a sink's.
    sinkDispatcher.addConsumer(ALERTS_CONSUMER, (records) => alerts.consume(records), mayFire);
    const throttle = new LoginThrottle({
      db,
      policy: { lockoutThreshold: config.lockoutThreshold, lockoutS: config.lockoutS, perIp: config.loginRatePerIp, perAccountIp: config.loginRatePerAccountIp },
      limiters: cluster.limiters,
    });
    // Bound late: IdentityService needs twoFactor, and twoFactor reports failures through it.
    let identity: IdentityService | undefined;
    const twoFactor = new TwoFactorService({
      db,
      keyring,
      audit,
      invalidation,
      notices,
      throttle,
      admitAttempt: (...args) => identity!.admitAttempt(...args),
      failedAttempt: (...args) => identity!.failedAttempt(...args),
    });
    identity = new IdentityService({ db, orgs, audit, sensitive, log, sessions, throttle, passwordPolicy: config.passwordPolicy, twoFactor, notices, setupTokenFile: path.join(config.dataDir, SETUP_TOKEN_FILE) });
    // Work left behind by answered requests (reset and sign-up lookups, their mails); drained at quiesce.
    const background = new BackgroundWork(log);
    const recovery = new AccountRecovery({
      db,
      audit,
      identity,
      sessions,
      throttle,
      mailer,
      notices,
      background,
      publicUrl: config.publicUrl,
    });
    const invitations = new InvitationService({ db, audit, mailer, orgs, quotas, publicUrl: config.publicUrl });
    const tokens = new ApiTokenService({ db, audit, invalidation, members: memberAccess, quotas, maxTtlS: config.tokenMaxTtlS, tenancy: storage.tenancy });
    const allowlist = new IpAllowlist({ db, audit, invalidation, log });
    const emergency = new EmergencyAccess({ db, audit, throttle, mailer, background, allowlist, allowanceMs: config.emergencyAccessS * 1000 });
    const services: Services = {
      identity,
      recovery,
      signup: new OpenSignup({ db, audit, orgs, identity, sessions, throttle, mailer, background, quotas, publicUrl: config.publicUrl }),
      acceptance: new InvitationAcceptance({ db, audit, invitations, identity, sessions, twoFactor, throttle }),
      invitations,
      members: new MemberService({ db, audit, invalidation, sessions, tokens }),
      roles: new RoleService({ db, audit, invalidation }),
      projectRoles: new ProjectRoleService({ db, audit, invalidation }),
      allowlist,
      emergency,
      sessions,
      signingKeys,
      twoFactor,
      orgs,
      projects,
      secrets: new SecretService({ db, commits: new GroupCommit(db, storage.traits), keyring, audit, projects, invalidation, quotas, stepUp: stepUpPolicyOf(config), valueCache: { ttlMs: config.valueCacheTtlMs, maxBytes: config.valueCacheMaxBytes } }),
      rotation: new KeyRotationService({ db, keyring, audit }),
      tokens,
      audit,
      auditSensitive: sensitive,
      alerts,
      auditSinks,
      auditIntegrity: new AuditIntegrity({
        db,
        traits: storage.traits,
        keys: auditKeys,
        audit,
        retention: { retentionMs: async (orgId) => (orgId === null ? config.auditRetentionDays : await orgs.auditRetentionDays(orgId)) * DAY_MS },
      }),
      csrf: new CsrfTokens(rootKey),
      security: new SecurityOverview({ db, tenancy: storage.tenancy, audit, orgs, throttle, startedAt: clock() }),
      quotas,
    };
    const setupToken = await services.identity.prepareSetup(clock());
    const periodic = new PeriodicWork(log);
    periodic.every(config.auditCheckpointS * 1000, 'audit checkpoint', async () => {
      await services.auditIntegrity.checkpointAll(clock());
    });
    periodic.every(AUDIT_PURGE_INTERVAL_MS, 'audit retention purge', async () => {
      await services.auditIntegrity.purge(clock());
    });
    const lifecycle = { started: false, draining: false };
    // The keyring is usable once built from the root key (a sealed state would answer false here).
    const readiness = new Readiness({ db, lifecycle, redis: cluster.link, keyringReady: () => true });
    const metrics = auditWrites ? new Metrics({ throttle, security: services.security, auditWrites, sinks: auditSinks, clock }) : null;
    // THE rate-limit store seam (docs/rate-limits.md): with Redis (a cluster) the counters are shared
    // by every instance (cluster/limiter-store.ts: RateLimiterRedis, with this instance's memory as
    // insurance while Redis is away); alone, this instance's memory (synchronous, no promise).
    const limiters = cluster.limiters;
    const rateLimitStore = cluster.link ? flexibleStore((w) => limiters(`http-rl:${w.points}/${w.durationS}`, w.points, w.durationS)) : new MemoryWindowStore();
    const rateLimits = { store: rateLimitStore, onRefusal: (limit: LimitName) => throttle.countRefusal(limit) };
    const app = await buildApp(services, { config, log, clock, lifecycle, readiness, tenancy: storage.tenancy, metrics, rateLimits, https: served.pair ? { pair: served.pair, clientCa: null } : null });
    if (acme) served.target = app.server as unknown as SecureContextTarget;
    let metricsListener: MetricsListener | null = null;
    await sinkDispatcher.start();
    // TLS: begin (docs/tls.md)
    const tls = config.tls;
    const reloader = tls ? new CertificateReloader({ server: app.server as unknown as SecureContextTarget, settings: tls, log, production: config.deployment === 'production', clock }) : null;
    reloader?.start();
    const startRedirect = async (httpsPort: number) => {
      if (!(tls || acme) || redirectPort === null) return null;
      if (redirect) redirect.setHttpsPort(httpsPort);
      redirect ??= await RedirectListener.start({ host: config.host, port: redirectPort, httpsPort, publicUrl: redirectPublicUrl, log });
      return redirect.url;
    };
    // TLS: end
    let quiescing: Promise<void> | null = null;
    const quiesce = () =>
      (quiescing ??= (async () => {
        lifecycle.draining = true;
        reloader?.stop();
        await acme?.close();
        await redirect?.close();
        await app.close();
        await metricsListener?.close();
        await periodic.stop();
        await background.settled();
        // After the requests and background work that append: what they wrote waits in the
        // database for the next start; an in-flight delivery is abandoned, its cursor unmoved.
        await sinkDispatcher.stop();
        await signingKeys.close();
        await mailer.close();
        await cluster?.close();
      })());
    if (metrics && config.metrics?.listener) {
      try {
        metricsListener = await MetricsListener.start(metrics, { ...config.metrics.listener, tokenDigest: config.metrics.tokenDigest, log });
      } catch (err) {
        // A metrics port that cannot be had stops the start, as the main port would.
        await quiesce();
        throw err;
      }
      log.info({ url: metricsListener.url }, 'metrics are served on a listener of their own');
      const { host } = config.metrics.listener;
      if (config.metrics.tokenDigest === undefined && !(host === 'localhost' || host === '::1' || host.startsWith('127.'))) {
        log.warn({ host }, 'the metrics listener is reachable beyond this machine and asks for no token: set KEYNEST_METRICS_TOKEN, or bind it where only the scraper reaches');
      }
    }
    let closing: Promise<void> | null = null;
    lifecycle.started = true;
    const started = cluster;
    return {
      app,
      storage,
      services,
      keyring,
      setupToken,
      metricsUrl: metricsListener?.url ?? null,
      tls: reloader,
      acme: acme
        ? {
            running: acme,
            get fingerprint() {
              return served.pair?.fingerprint ?? '';
            },
          }
        : null,
      startRedirect,
      quiesce,
      settled: () => background.settled(),
      auditSinkDispatcher: sinkDispatcher,
      cluster: started,
      beginDrain: () => {
        lifecycle.draining = true;
      },
      close: () =>
        (closing ??= (async () => {
          await quiesce();
          await storage.close();
        })()),
    };
  } catch (err) {
    await cluster?.close();
    await acme?.close();
    await redirect?.close();
    await storage.close();
    throw err;
  }
}
