import type { FastifyInstance, FastifyRequest, RouteOptions } from 'fastify';
import type { Permission } from '../access/permissions.js';
import { can, stepUpRequired, type Scope, type StepUp, type StepUpPolicy } from '../access/policy.js';
import type { Principal } from '../access/principal.js';
import type { ApiTokenService } from '../access/service.js';
import type { AuditService } from '../audit/service.js';
import { auditContextOf, type AnonymousContext, type Clock, type RequestContext } from '../context.js';
import { tokenKind } from '../crypto/random.js';
import { AppError, reauthRequired } from '../errors.js';
import { looksLikeJwt } from '../identity/access-tokens.js';
import type { SessionService } from '../identity/sessions.js';
import type { IpAllowlist } from '../orgs/allowlist.js';
import type { ProjectService, Target } from '../projects/service.js';
import { narrow, type Tenancy, type TenantContext } from '../storage/tenancy.js';
import { PRINTABLE, REF_MAX } from './schemas.js';
import { verifiedClientCertSha256 } from '../tls/client-cert.js';

/**
 * Every route states who may call it, in its own options, where a reviewer sees it:
 * - `{ public: 'why' }` for the few routes open to anyone (health, OpenAPI, setup, login);
 * - `{ authenticated: 'why' }` for routes about the caller itself (whoami, logout);
 * - `{ permission }` (or a function of the request) for everything else; `sessionOnly` when an
 *   API token must not use it;
 * - `{ credential: 'why', verify }` for the rare route that answers to a credential of its own
 *   (the metrics scraper's token): `verify` decides before anything else, 401 when it says no, and
 *   no session or API token opens it.
 * A route without a rule cannot be registered (deny by default, enforced at start-up).
 */
export type RouteAccess =
  | { public: string }
  | { credential: string; verify: (req: FastifyRequest) => boolean }
  | { authenticated: string; sessionOnly?: boolean; duringEnrolment?: boolean; stepUp?: 'always' }
  | { permission: Permission | ((req: FastifyRequest) => Permission); sessionOnly?: boolean; stepUp?: StepUp | ((req: FastifyRequest) => StepUp | null) };

/**
 * `stepUp`: sensitive actions need a recent proof of identity from a signed-in user (sign-in or
 * `POST /auth/reauth` within `StepUpPolicy.maxAgeMs`), else 401 reauth_required (`stepUpRequired`):
 * - `always`: the action itself is sensitive (create a token, delete a project, rotate keys, enrol 2FA);
 * - `protected-environment`: only in environments named in `StepUpPolicy.environments` (reading
 *   production values, also through references: see SecretService).
 */

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
  interface FastifyRequest {
    /** Set for every authenticated request; null on public routes. */
    caller: RequestContext | null;
    /** The project (and environment) named in the path, resolved and visible to the caller. */
    target: Target | null;
    /** The request's tenant context (PostgreSQL only): `system`, then the caller's org once authenticated. */
    tenant?: TenantContext | null;
  }
}

export interface AccessDeps {
  sessions: Pick<SessionService, 'authenticate'>;
  tokens: Pick<ApiTokenService, 'authenticate' | 'authenticateClientCert'>;
  projects: Pick<ProjectService, 'resolve'>;
  allowlist: Pick<IpAllowlist, 'enforce' | 'admitsAtOnce'>;
  audit: Pick<AuditService, 'recordAlone'>;
  clock: Clock;
  stepUp: StepUpPolicy;
  tenancy: Pick<Tenancy, 'enforced' | 'runWith'>;
}

export function registerAccessControl(app: FastifyInstance, deps: AccessDeps): void {
  app.decorateRequest('caller', null);
  app.decorateRequest('target', null);
  if (deps.tenancy.enforced) carryTenantContext(app, deps.tenancy);

  app.addHook('onRoute', (route: RouteOptions) => {
    const access = route.config?.access;
    if (!access) throw new Error(`route ${String(route.method)} ${route.url} declares no access rule (config.access)`);
    if ('public' in access) return;
    // Bound to the route here, once, rather than looked up on every request.
    const guard =
      'credential' in access
        ? async (req: FastifyRequest) => {
            if (!access.verify(req)) throw new AppError('unauthenticated', 'Authentication required: this route takes its own credential, not a session or API token');
          }
        : async (req: FastifyRequest) => authorize(req, access, deps);
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [guard, ...own];
  });
}

/**
 * Every request runs in a tenant context of its own, from its first hook to its handler: `system`
 * until the guard has authenticated the caller (public routes stay there), then the caller's org.
 * A callback-style hook that calls `done` inside `run`, as @fastify/request-context does (a hook
 * returning a promise would leave the context behind). A body that arrives later is parsed inside
 * an AsyncResource Fastify makes in the request's context, so the handler still runs in it
 * (storage/tenant-isolation.security.test.ts sends late bodies to prove it).
 */
function carryTenantContext(app: FastifyInstance, tenancy: Pick<Tenancy, 'runWith'>): void {
  app.decorateRequest('tenant', null);
  app.addHook('onRequest', (req, _reply, done) => {
    const context: TenantContext = { scope: 'system', orgId: null };
    req.tenant = context;
    tenancy.runWith(context, done);
  });
}

async function authorize(req: FastifyRequest, access: Exclude<RouteAccess, { public: string } | { credential: string }>, deps: AccessDeps): Promise<void> {
  const now = deps.clock();
  const principal = await authenticate(req, deps, now);
  // From here on the request sees its caller's org only, before any of that org's data is read
  // (on PostgreSQL, row-level security enforces it: docs/tenant-isolation.md).
  if (req.tenant) narrow(req.tenant, principal.orgId);
  // Before anything else is looked at: from outside its org's allowlist a credential opens nothing,
  // not even the settings that hold the list (403 ip_not_allowed).
  if (!deps.allowlist.admitsAtOnce(principal, req.ip, now)) await deps.allowlist.enforce(principal, { ip: req.ip, requestId: req.id, now });
  if (access.sessionOnly && principal.type !== 'user') {
    await recordDenial(req, deps, principal, now, { reason: 'session_only' });
    throw new AppError('forbidden', 'This action needs a signed-in user, not an API token');
  }
  // An org that requires 2FA holds members without it to enrolment (and to seeing who they are).
  if (principal.type === 'user' && principal.mustEnrolTwoFactor && !('authenticated' in access && access.duringEnrolment)) {
    throw new AppError('two_factor_enrolment_required', 'Your organization requires two-factor authentication: enrol first (POST /api/v1/me/2fa/totp, or keynest 2fa enable)');
  }
  const caller = { principal, ip: req.ip, userAgent: req.headers['user-agent'] ?? null, requestId: req.id, now };
  if ('authenticated' in access) {
    if (access.stepUp && stepUpRequired(principal, access.stepUp, undefined, deps.stepUp, now)) throw reauthRequired();
    req.caller = caller;
    return;
  }
  const params = req.params as { project?: string; env?: string };
  // This runs before schema validation (which comes after body parsing), so the path is checked
  // here by the same rule before it reaches a query.
  if ((params.project !== undefined && !isPathRef(params.project)) || (params.env !== undefined && !isPathRef(params.env))) {
    throw new AppError('validation_failed', 'Invalid project or environment in the path', [{ path: 'params', rule: 'pattern' }]);
  }
  const target = params.project !== undefined ? await deps.projects.resolve(principal, params.project, params.env) : null;
  const permission = typeof access.permission === 'function' ? access.permission(req) : access.permission;
  const scope: Scope = target ? { projectId: target.project.id, environment: target.environment } : {};
  if (!can(principal, permission, scope)) {
    await recordDenial(req, deps, principal, now, { reason: 'missing_permission', permission }, target);
    throw new AppError('forbidden', `Missing permission ${permission}`);
  }
  const stepUp = typeof access.stepUp === 'function' ? access.stepUp(req) : access.stepUp;
  if (stepUp && stepUpRequired(principal, stepUp, target?.environment?.name, deps.stepUp, now)) throw reauthRequired();
  // Set only once every check has passed: a handler never sees a half-authorized request.
  req.caller = caller;
  req.target = target;
}

/**
 * A refusal of someone authenticated is an event worth knowing about (a probe, a misconfigured
 * pipeline): recorded, and the answer waits for the record like every audited read. Refusals that
 * must look like "not found" (another org's ids) are not 403s and are not recorded here.
 */
function recordDenial(req: FastifyRequest, deps: AccessDeps, principal: Principal, now: number, details: Record<string, string>, target?: Target | null): Promise<void> {
  const ctx = auditContextOf({ principal, ip: req.ip, userAgent: req.headers['user-agent'] ?? null, requestId: req.id, now });
  return deps.audit.recordAlone(ctx, {
    action: 'access.denied',
    outcome: 'failure',
    target: { type: 'route', name: `${req.method} ${req.routeOptions.url ?? req.url}` },
    project: target?.project.name ?? null,
    environment: target?.environment?.name ?? null,
    details,
  });
}

async function authenticate(req: FastifyRequest, deps: AccessDeps, now: number): Promise<Principal> {
  const header = req.headers.authorization;
  // Mutual TLS (docs/tls.md): a certificate the handshake verified, bound to an API token, stands for it.
  const clientCert = verifiedClientCertSha256(req.raw.socket);
  if (!header && clientCert) {
    const found = await deps.tokens.authenticateClientCert(clientCert, now, req.ip, req.id);
    if (found && 'refused' in found) throw refusalOf(found.refused);
    if (found) return found.principal;
  }
  if (!header) throw new AppError('unauthenticated', 'Authentication required: send Authorization: Bearer <token>');
  const m = /^Bearer ([^\s]+)$/i.exec(header);
  const token = m?.[1];
  let principal: Principal | null = null;
  // A signed-in user presents a short-lived access token (a JWT); a machine, an API token.
  if (token && looksLikeJwt(token)) principal = await deps.sessions.authenticate(token, now);
  else if (token && tokenKind(token) === 'api') {
    const found = await deps.tokens.authenticate(token, now, req.ip, req.id, clientCert);
    if (found && 'refused' in found) throw refusalOf(found.refused);
    principal = found?.principal ?? null;
  }
  if (!principal) throw new AppError('unauthenticated', 'Invalid, expired or revoked credentials');
  return principal;
}

/** The token is real but not usable like this: say why, as the org allowlist does. */
function refusalOf(reason: 'ip_not_allowed' | 'client_certificate_required'): AppError {
  return reason === 'ip_not_allowed'
    ? new AppError('ip_not_allowed', 'This API token may not be used from this address')
    : new AppError('client_certificate_required', 'This API token is bound to a client certificate: present it over mutual TLS');
}

const PATH_REF = new RegExp(PRINTABLE, 'u');

function isPathRef(ref: string): boolean {
  return ref.length >= 1 && ref.length <= REF_MAX && PATH_REF.test(ref);
}

/** The context of a public route's request (no one is signed in yet: setup, sign-in, links). */
export function anonymousOf(req: FastifyRequest, clock: Clock): AnonymousContext {
  return { ip: req.ip, userAgent: req.headers['user-agent'] ?? null, requestId: req.id, now: clock() };
}

/** The caller of an authenticated route (the access hook guarantees it is set). */
export function callerOf(req: FastifyRequest): RequestContext {
  if (!req.caller) throw new Error('route used callerOf without an authenticated access rule');
  return req.caller;
}

export function targetOf(req: FastifyRequest): Target {
  if (!req.target) throw new Error('route used targetOf without {project} in its path');
  return req.target;
}

export function envTargetOf(req: FastifyRequest): Required<Target> {
  const t = targetOf(req);
  if (!t.environment) throw new Error('route used envTargetOf without {env} in its path');
  return { project: t.project, environment: t.environment };
}
