import type { Principal } from './access/principal.js';
import { actorOf } from './access/principal.js';
import type { AuditContext } from './audit/service.js';

/** What a service needs to know about the request it serves: who, from where, when. */
export interface RequestContext {
  principal: Principal;
  ip: string | null;
  /** The client's User-Agent, when the request came over HTTP. */
  userAgent?: string | null;
  requestId: string;
  now: number;
}

/** The same, before anyone is authenticated (setup, login). */
export interface AnonymousContext {
  ip: string | null;
  userAgent: string | null;
  requestId: string;
  now: number;
}

export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

export function auditContextOf(ctx: RequestContext): AuditContext {
  const p = ctx.principal;
  const actor = { ...actorOf(p), name: p.type === 'user' ? p.email : p.name };
  return { orgId: p.orgId, actor, ip: ctx.ip, userAgent: ctx.userAgent ?? null, requestId: ctx.requestId, now: ctx.now };
}

/** Epoch milliseconds to the ISO-8601 text every API answer uses. */
export const iso = (ms: number): string => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));
