import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import { stepUpPolicyOf } from './access/policy.js';
import { tokenRoutes } from './access/routes.js';
import type { ApiTokenService } from './access/service.js';
import { alertRoutes } from './alerts/routes.js';
import type { AlertService } from './alerts/service.js';
import { auditRoutes } from './audit/routes.js';
import type { AuditService } from './audit/service.js';
import type { AuditIntegrity } from './audit/integrity.js';
import type { SensitiveStrings } from './audit/sensitive.js';
import { auditSinkRoutes, type AuditSinks } from './audit/sinks/index.js';
import type { Config } from './config.js';
import { readinessRoute, type Lifecycle, type Readiness } from './cluster/readiness.js';
import type { Clock } from './context.js';
import { registerAccessControl } from './http/access.js';
import { registerErrorHandling } from './http/errors.js';
import { registerSecurityHeaders } from './http/headers.js';
import { registerBodyLimits } from './http/body-limits.js';
import { applyServerTimeouts, clientErrorHandler } from './http/connections.js';
import { registerCors } from './http/cors.js';
import { registerCsrfProtection, type CsrfTokens } from './http/csrf.js';
import { registerHsts } from './http/hsts.js';
import { httpsServerOptions } from './tls/options.js';
import type { CertificatePair } from './tls/certificates.js';
import type { TlsSettings } from './tls/settings.js';
import { registerValidation } from './http/validation.js';
import { registerRateLimits, type LimitName, type RateLimitStore } from './http/rate-limit/index.js';
import type { OrgQuotas } from './orgs/quotas.js';
import { planRoutes } from './orgs/plan-routes.js';
import { identityRoutes } from './identity/routes.js';
import type { IdentityService } from './identity/service.js';
import { recoveryRoutes } from './identity/recovery-routes.js';
import type { AccountRecovery } from './identity/recovery.js';
import { sessionRoutes } from './identity/session-routes.js';
import { refreshCookieCredential, tokenRoutes as sessionTokenRoutes } from './identity/token-routes.js';
import type { SigningKeys } from './identity/signing-keys.js';
import type { SessionService } from './identity/sessions.js';
import { twoFactorRoutes } from './identity/two-factor-routes.js';
import type { TwoFactorService } from './identity/two-factor.js';
import { lazyChildLogger, type Logger } from './logger.js';
import type { OrgService } from './orgs/service.js';
import { orgRoutes } from './orgs/routes.js';
import { invitationRoutes } from './orgs/invitation-routes.js';
import { allowlistRoutes } from './orgs/allowlist-routes.js';
import type { IpAllowlist } from './orgs/allowlist.js';
import { emergencyAccessRoutes } from './identity/emergency-access-routes.js';
import type { EmergencyAccess } from './identity/emergency-access.js';
import type { InvitationService } from './orgs/invitations.js';
import { memberRoutes } from './orgs/member-routes.js';
import { projectRoleRoutes } from './orgs/project-role-routes.js';
import type { ProjectRoleService } from './orgs/project-roles.js';
import { roleRoutes } from './roles/routes.js';
import type { RoleService } from './roles/service.js';
import type { MemberService } from './orgs/members.js';
import type { InvitationAcceptance } from './identity/invitation-acceptance.js';
import { signupRoutes } from './identity/signup-routes.js';
import type { OpenSignup } from './identity/signup.js';
import { projectRoutes } from './projects/routes.js';
import type { ProjectService } from './projects/service.js';
import type { KeyRotationService } from './secrets/key-rotation.js';
import { keyRotationRoutes } from './secrets/key-rotation-routes.js';
import { secretRoutes } from './secrets/routes.js';
import type { SecretService } from './secrets/service.js';
import type { Tenancy } from './storage/tenancy.js';
import { securityRoutes } from './security/routes.js';
import { metricsRoute } from './metrics/exposure.js';
import type { Metrics } from './metrics/service.js';
import type { SecurityOverview } from './security/service.js';

export interface Services {
  identity: IdentityService;
  sessions: SessionService;
  signingKeys: SigningKeys;
  twoFactor: TwoFactorService;
  recovery: AccountRecovery;
  signup: OpenSignup;
  acceptance: InvitationAcceptance;
  orgs: OrgService;
  invitations: InvitationService;
  members: MemberService;
  roles: RoleService;
  projectRoles: ProjectRoleService;
  allowlist: IpAllowlist;
  emergency: EmergencyAccess;
  projects: ProjectService;
  secrets: SecretService;
  rotation: KeyRotationService;
  tokens: ApiTokenService;
  audit: AuditService;
  auditSinks: AuditSinks;
  auditIntegrity: AuditIntegrity;
  auditSensitive: SensitiveStrings;
  alerts: AlertService;
  security: SecurityOverview;
  csrf: CsrfTokens;
  quotas: OrgQuotas;
}

export const SERVER_VERSION = '0.1.0';

export type { Lifecycle } from './cluster/readiness.js';

/** Builds the HTTP app from already-built services. The order of the list below is the request path. */
export async function buildApp(
  services: Services,
  deps: {
    config: Config;
    log: Logger;
    clock: Clock;
    lifecycle: Lifecycle;
    readiness: Readiness;
    tenancy: Tenancy;
    metrics: Metrics | null;
    /** Where rate-limit counters live and who counts refusals (server.ts; docs/rate-limits.md). */
    rateLimits: { store: RateLimitStore; onRefusal: (limit: LimitName) => void };
    /** The certificate to serve when it is not config.tls's files (ACME, server.ts); defaults to config.tls. */
    https?: { pair: CertificatePair; clientCa: TlsSettings['clientCa'] } | null;
  },
): Promise<FastifyInstance> {
  const { config, log, clock, lifecycle, tenancy, metrics } = deps;
  const https = deps.https ?? (config.tls ? { pair: config.tls.initial, clientCa: config.tls.clientCa } : null);
  const app = Fastify({
    loggerInstance: log,
    bodyLimit: config.bodyLimitBytes,
    genReqId: () => randomUUID(),
    // A hop count is valid at run time (proxy-addr); this overload of Fastify's types omits it.
    trustProxy: config.trustProxy as boolean | string[],
    childLoggerFactory: (logger, bindings, opts) => lazyChildLogger(logger as Logger, bindings, opts),
    // Slow clients (docs/http-hardening.md#timeouts); the headers deadline is set in applyServerTimeouts.
    requestTimeout: config.httpTimeouts.requestMs,
    connectionTimeout: config.httpTimeouts.socketIdleMs,
    keepAliveTimeout: config.httpTimeouts.keepAliveMs,
    clientErrorHandler,
    // A request that reaches a closing server arrived on a connection that was already open (new
    // ones are refused): answering it (with `Connection: close`) fails nobody; a 503 would fail it.
    return503OnClosing: false,
    // Built-in HTTPS (docs/tls.md): the certificate is swapped later by tls/reloader.ts, or on an ACME renewal.
    ...(https ? { https: httpsServerOptions(https.pair, https) } : {}),
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 2048 },
    // Typed as the plain instance: our pino Logger is a FastifyBaseLogger, but the generic would
    // otherwise leak into every route module's signature.
  }) as unknown as FastifyInstance;
  applyServerTimeouts(app.server, config.httpTimeouts);
  // The API takes only JSON (415 otherwise). Fastify's built-in text/plain parser would accept
  // bodies that a browser may send cross-site without a preflight.
  app.removeContentTypeParser('text/plain');

  // First, so that every route registered below is counted (docs/metrics.md).
  metrics?.requests.instrument(app);
  registerValidation(app);
  registerErrorHandling(app);
  registerSecurityHeaders(app);
  registerCors(app, { allowedOrigins: config.corsOrigins });
  registerBodyLimits(app, { bodyLimitBytes: config.bodyLimitBytes });
  if (https) registerHsts(app);
  // Without this a keep-alive connection whose request was in flight at SIGTERM stays open until
  // its idle timeout, and the drain waits for it.
  app.addHook('onSend', (_req, reply, payload, done) => {
    if (lifecycle.draining) reply.header('connection', 'close');
    done(null, payload);
  });
  registerAccessControl(app, {
    sessions: services.sessions,
    tokens: services.tokens,
    projects: services.projects,
    allowlist: services.allowlist,
    audit: services.audit,
    clock,
    stepUp: stepUpPolicyOf(config),
    tenancy,
  });
  // After access control's tenant context, before any route's own hooks (authentication among them).
  registerCsrfProtection(app, { tokens: services.csrf, cookies: [refreshCookieCredential(services.sessions)], publicUrl: config.publicUrl });
  // --- rate limits (issue 6): after the access control, so the address check goes before its guard ---
  registerRateLimits(app, { rules: config.rateLimits, store: deps.rateLimits.store, clock, orgWindow: (orgId) => services.quotas.window(orgId), onRefusal: deps.rateLimits.onRefusal });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'KeyNest API', version: SERVER_VERSION, description: 'Secrets and environment variables for teams. See docs/api.md.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'The access token of a signed-in user (a JWT from login or refresh) or an API token (kn_api_…)' } } },
      security: [{ bearer: [] }],
    },
  });

  app.get('/healthz', {
    config: { access: { public: 'load balancers probe it' } },
    schema: { hide: true },
    handler: async () => ({ status: 'ok' }),
  });
  readinessRoute(app, { readiness: deps.readiness });
  app.get('/api/v1/openapi.json', {
    config: { access: { public: 'the API description holds no data' } },
    schema: { hide: true },
    handler: async () => app.swagger(),
  });

  identityRoutes(app, { identity: services.identity, orgs: services.orgs, clock });
  sessionRoutes(app, { sessions: services.sessions });
  sessionTokenRoutes(app, { sessions: services.sessions, signingKeys: services.signingKeys, audit: services.audit, clock });
  twoFactorRoutes(app, { twoFactor: services.twoFactor });
  recoveryRoutes(app, { recovery: services.recovery, clock });
  signupRoutes(app, { signup: services.signup, acceptance: services.acceptance, clock });
  orgRoutes(app, { orgs: services.orgs });
  invitationRoutes(app, { invitations: services.invitations });
  memberRoutes(app, { members: services.members });
  roleRoutes(app, { roles: services.roles });
  projectRoleRoutes(app, { projectRoles: services.projectRoles });
  allowlistRoutes(app, { allowlist: services.allowlist });
  emergencyAccessRoutes(app, { emergency: services.emergency, clock });
  projectRoutes(app, { projects: services.projects });
  secretRoutes(app, { secrets: services.secrets });
  keyRotationRoutes(app, { rotation: services.rotation });
  tokenRoutes(app, { tokens: services.tokens, projects: services.projects });
  auditRoutes(app, { audit: services.audit, integrity: services.auditIntegrity, sensitive: services.auditSensitive });
  alertRoutes(app, { alerts: services.alerts });
  securityRoutes(app, { security: services.security });
  // With a listener of its own (KEYNEST_METRICS_PORT) the main port has no /metrics at all.
  const exposure = config.metrics;
  if (metrics && exposure?.tokenDigest !== undefined && exposure.listener === undefined) metricsRoute(app, { metrics, tokenDigest: exposure.tokenDigest });
  auditSinkRoutes(app, { sinks: services.auditSinks });
  planRoutes(app, { quotas: services.quotas });

  await app.ready();
  return app;
}
