import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { auditContextOf, type AnonymousContext, type Clock } from '../context.js';
import { AppError } from '../errors.js';
import type { AuditService } from '../audit/service.js';
import { anonymousOf, callerOf } from '../http/access.js';
import { clearRefreshCookie, CSRF_COOKIE, readCookie, REFRESH_COOKIE, setRefreshCookie } from '../http/cookies.js';
import type { CredentialCookie } from '../http/csrf.js';
import { isoTime } from '../http/schemas.js';
import type { SessionCredentials, SessionService } from './sessions.js';
import type { SigningKeys } from './signing-keys.js';

/** Where a client wants its refresh token: in the JSON answer (CLI, SDK) or in an HttpOnly cookie (browser). */
export type RefreshTokenDelivery = 'body' | 'cookie';

export const refreshTokenDelivery = {
  type: 'string',
  enum: ['body', 'cookie'],
  description: `body (default): the refresh token is in the answer. cookie: it is set as ${REFRESH_COOKIE} (HttpOnly, Secure, SameSite=Strict) and left out of the answer, out of reach of page scripts; beside it ${CSRF_COOKIE}, which the page echoes as X-CSRF-Token (docs/http-hardening.md#csrf)`,
} as const;

/** The JSON of a sign-in or refresh: a session, its access token, and (body delivery) its next refresh token. */
export const credentialsProperties = {
  session: {
    type: 'object',
    additionalProperties: false,
    required: ['id', 'expiresAt'],
    properties: { id: { type: 'string' }, expiresAt: { ...isoTime, description: 'The absolute end of the session' } },
  },
  accessToken: { type: 'string', description: 'A signed JWT; send as Authorization: Bearer. Short-lived: renew with POST /api/v1/auth/refresh' },
  accessTokenExpiresAt: isoTime,
  tokenType: { type: 'string', enum: ['Bearer'] },
  refreshToken: { type: 'string', description: 'Single use: each refresh returns the next one. Absent with cookie delivery' },
} as const;
export const credentialsRequired = ['session', 'accessToken', 'accessTokenExpiresAt', 'tokenType'] as const;

/**
 * Hands fresh credentials to the client the way it asked. With cookie delivery the refresh token
 * goes only into the cookie, so the JSON answer (readable by scripts) never carries it.
 */
export function deliverCredentials<T extends SessionCredentials>(reply: FastifyReply, credentials: T, via: RefreshTokenDelivery | undefined, now: number): T | Omit<T, 'refreshToken'> {
  if (via !== 'cookie') return credentials;
  const { refreshToken, ...rest } = credentials;
  setRefreshCookie(reply, refreshToken, (Date.parse(credentials.session.expiresAt) - now) / 1000, credentials.session.id);
  return rest;
}

/**
 * The handler body of every route that signs someone in (setup, login, sign-up, accepting an
 * invitation): the body without `refreshTokenDelivery` goes to `signIn`, and its credentials are
 * delivered the way the client asked.
 */
export async function answerSignIn<B, T extends SessionCredentials>(
  req: FastifyRequest,
  reply: FastifyReply,
  clock: Clock,
  signIn: (body: B, ctx: AnonymousContext) => Promise<T>,
): Promise<T | Omit<T, 'refreshToken'>> {
  const { refreshTokenDelivery: via, ...body } = req.body as B & { refreshTokenDelivery?: RefreshTokenDelivery };
  const ctx = anonymousOf(req, clock);
  return deliverCredentials(reply, await signIn(body as B, ctx), via, ctx.now);
}

/** The refresh cookie as a credential the CSRF check knows (http/csrf.ts): its session is that of the token. */
export function refreshCookieCredential(sessions: Pick<SessionService, 'sessionOfRefreshToken'>): CredentialCookie {
  return { name: REFRESH_COOKIE, sessionOf: (value) => sessions.sessionOfRefreshToken(value) };
}

export function tokenRoutes(app: FastifyInstance, deps: { sessions: SessionService; signingKeys: SigningKeys; audit: AuditService; clock: Clock }): void {
  const { sessions, signingKeys, clock } = deps;

  app.post('/api/v1/auth/refresh', {
    config: { access: { public: 'the refresh token in the body or cookie is the credential' } },
    schema: {
      tags: ['identity'],
      summary: 'Exchange a refresh token (single use) for a new access token and a new refresh token',
      description: `Send the refresh token in the body, or let the browser send the ${REFRESH_COOKIE} cookie with a JSON body {} (a same-origin request with X-CSRF-Token set to the ${CSRF_COOKIE} cookie). A refresh token used again ends its session (within KEYNEST_REFRESH_REUSE_GRACE_S of its exchange, when set, it is only answered refresh_token_superseded).`,
      body: {
        anyOf: [
          { type: 'null' },
          { type: 'object', additionalProperties: false, properties: { refreshToken: { type: 'string', minLength: 1, maxLength: 200 } } },
        ],
      },
      response: { 200: { type: 'object', additionalProperties: false, required: credentialsRequired, properties: credentialsProperties } },
    },
    handler: async (req: FastifyRequest, reply) => {
      const fromBody = (req.body as { refreshToken?: string } | null)?.refreshToken;
      const ctx = anonymousOf(req, clock);
      if (fromBody === undefined) assertSameOriginJson(req);
      const token = fromBody ?? readCookie(req, REFRESH_COOKIE);
      if (!token) throw new AppError('invalid_refresh_token', 'Invalid, expired or revoked refresh token: sign in again');
      try {
        const credentials = await sessions.refresh(token, ctx);
        return deliverCredentials(reply, credentials, fromBody === undefined ? 'cookie' : 'body', ctx.now);
      } catch (err) {
        // A dead refresh cookie is useless to keep: the browser drops it and shows the sign-in. Only
        // a dead one: after a superseded refresh the jar already holds the newer cookie, and a
        // server fault must not sign anyone out.
        if (fromBody === undefined && err instanceof AppError && err.code === 'invalid_refresh_token') clearRefreshCookie(reply);
        throw err;
      }
    },
  });

  app.get('/.well-known/jwks.json', {
    config: { access: { public: 'public keys, so that anyone can verify access tokens' } },
    schema: {
      tags: ['identity'],
      summary: 'The public keys that sign access tokens (JWKS, RFC 7517), the retiring ones included until their tokens expire',
      response: {
        200: {
          type: 'object',
          additionalProperties: false,
          required: ['keys'],
          properties: {
            keys: {
              type: 'array',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['kty', 'kid', 'alg', 'use'],
                properties: Object.fromEntries(['kty', 'kid', 'alg', 'use', 'crv', 'x', 'y', 'n', 'e'].map((k) => [k, { type: 'string' }])),
              },
            },
          },
        },
      },
    },
    handler: async () => signingKeys.publicSet(clock()),
  });

  app.post('/api/v1/admin/rotate-signing-key', {
    config: { access: { permission: 'settings:manage', sessionOnly: true, stepUp: 'always' } },
    schema: {
      tags: ['admin'],
      summary: 'Start signing access tokens with a new key now (tokens signed by the old key stay valid until they expire)',
      response: { 200: { type: 'object', additionalProperties: false, required: ['kid'], properties: { kid: { type: 'string' } } } },
    },
    handler: async (req) => {
      const ctx = callerOf(req);
      const kid = await signingKeys.rotate(ctx.now, (trx, newKid) =>
        deps.audit.record(trx, auditContextOf(ctx), { action: 'signing_key.rotate', target: { type: 'signing_key', id: newKid } }),
      );
      return { kid };
    },
  });
}

/**
 * A refresh by cookie spends the browser's credential, so another site must not be able to make
 * the browser send one (SameSite=Strict keeps other sites out, not sibling subdomains): it must be
 * a JSON request, which a page elsewhere can only send after a CORS preflight we never grant, and
 * not one the browser marks as coming from another site.
 */
function assertSameOriginJson(req: FastifyRequest): void {
  const site = req.headers['sec-fetch-site'];
  const json = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() === 'application/json';
  if (!json || (site !== undefined && site !== 'same-origin' && site !== 'none')) {
    throw new AppError('forbidden', 'A refresh by cookie must be a same-origin JSON request (Content-Type: application/json, body {})');
  }
}
