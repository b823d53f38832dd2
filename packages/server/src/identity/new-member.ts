import type { MemberRole } from '../roles/rules.js';
import type { AuditService } from '../audit/service.js';
import type { AnonymousContext } from '../context.js';
import { newId } from '../crypto/random.js';
import type { Db } from '../storage/database.js';
import type { SignedIn } from './service.js';
import type { SessionService } from './sessions.js';
import { markEmailVerified } from './signup-store.js';
import * as store from './store.js';

export interface NewMemberDeps {
  audit: AuditService;
  sessions: Pick<SessionService, 'create'>;
}

/**
 * The account a used sign-up link or invitation becomes, inside the caller's transaction: the user
 * (with the email verified, since the link reached that mailbox), the membership, a first session,
 * and their audit records. A unique violation means the email got an account meanwhile.
 */
export async function createMember(
  trx: Db,
  deps: NewMemberDeps,
  member: { email: string; passwordHash: string; org: { id: string; name: string }; role: MemberRole; roleId?: string | null; method: 'open_signup' | 'invitation' },
  ctx: AnonymousContext,
  opts: { rememberMe: boolean },
): Promise<SignedIn> {
  const userId = newId('usr');
  const { org } = member;
  await store.insertUser(trx, { id: userId, email: member.email, passwordHash: member.passwordHash, now: ctx.now });
  await markEmailVerified(trx, userId, ctx.now);
  await store.insertMembership(trx, { orgId: org.id, userId, role: member.role, roleId: member.roleId ?? null, now: ctx.now });
  const session = await deps.sessions.create(trx, { orgId: org.id, userId }, ctx, { rememberMe: opts.rememberMe });
  const who = { orgId: org.id, actor: { type: 'user' as const, id: userId, name: member.email }, ip: ctx.ip, userAgent: ctx.userAgent, requestId: ctx.requestId, now: ctx.now };
  await deps.audit.record(trx, who, { action: 'user.signup', target: { type: 'user', id: userId, name: member.email }, details: { method: member.method, role: member.roleId ?? member.role } });
  await deps.audit.record(trx, who, { action: 'session.create', target: { type: 'session', id: session.id }, details: { method: member.method, rememberMe: opts.rememberMe } });
  return { user: { id: userId, email: member.email }, org, ...session.credentials };
}
