import { AppError } from '../errors.js';
import type { MemberAccess } from './member-access.js';
import type { Permission, Role, TokenAccess, TokenType } from './permissions.js';

/** Who is calling, once authenticated. Every request past authentication carries exactly one. */
export type Principal = UserPrincipal | TokenPrincipal;

export interface UserPrincipal {
  type: 'user';
  orgId: string;
  userId: string;
  email: string;
  /** The org role: built-in, or `custom` (see `access`). For display; decisions use `access`. */
  role: Role | 'custom';
  /** What the member may do now: org role, custom rules and per-project overrides, compiled. */
  access: MemberAccess;
  sessionId: string;
  /** When this session last proved the user's identity (sign-in or re-authentication), epoch ms. */
  authenticatedAt: number;
  /** The org requires 2FA of this user, who has none yet: only enrolment (and sign-out) is allowed. */
  mustEnrolTwoFactor: boolean;
}

export interface TokenPrincipal {
  type: 'token';
  orgId: string;
  tokenId: string;
  name: string;
  /** The user who created the token; a token never does more than its scope allows. */
  createdBy: string;
  owner: TokenOwner;
  scope: TokenScope;
  /**
   * The creator's current access: every use is also cut to it, project and environment included.
   * Null only for an org (service) token whose creator left: it keeps what it was given.
   */
  creatorAccess: MemberAccess | null;
}

/** A user's token dies with the creator's membership; an org (service) token outlives it. */
export type TokenOwner = 'user' | 'org';

/** One project (`environmentId` null: all its environments, present and future) or one environment. */
export interface TokenGrant {
  projectId: string;
  environmentId: string | null;
}

export interface TokenScope {
  type: TokenType;
  /** The pre-issue-4 shorthand the token was created with, if any. */
  access: TokenAccess | null;
  /** What the token may do now: its own permissions, cut down to its creator's current role. */
  permissions: ReadonlySet<Permission>;
  grants: readonly TokenGrant[];
}

export function actorOf(p: Principal): { type: 'user' | 'token'; id: string } {
  return p.type === 'user' ? { type: 'user', id: p.userId } : { type: 'token', id: p.tokenId };
}

/**
 * The signed-in user behind a request, for services about a user's own account (sessions, 2FA,
 * password). Their routes are session-only, so an API token never gets here; this is the backstop.
 */
export function signedInUser(ctx: { principal: Principal }): UserPrincipal {
  if (ctx.principal.type !== 'user') throw new AppError('forbidden', 'This needs a signed-in user, not an API token');
  return ctx.principal;
}
