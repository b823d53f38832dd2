import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Which org the code running now acts for, carried by AsyncLocalStorage from the point where it is
 * known (the access guard, right after authentication) down to the database connection, where
 * PostgreSQL's row-level security policies read it (docs/tenant-isolation.md). Invariants:
 * - inside an HTTP request the context is always explicit: `system` from the first hook of every
 *   request (public routes, and the authentication lookups themselves), then the principal's org as
 *   soon as the caller is authenticated;
 * - code outside any request (start-up, migrations, test fixtures) runs as `system`;
 * - `system` inside an authenticated request is rare, written `runAsSystem` at the call, with a
 *   comment saying why it must see more than the caller's org.
 * - a connection takes the context current when it is taken from the pool: a transaction keeps the
 *   context it began in, whatever runs inside it (switch before `transaction()`, not within).
 * On SQLite (no row-level security) every method is a plain call: the stores' org filters are the
 * rule there, and nothing here costs a request anything.
 */
export interface TenantContext {
  scope: 'system' | 'org';
  /** The org acted for when `scope` is `org`; null for `system`. */
  orgId: string | null;
}

export const SYSTEM: Readonly<TenantContext> = Object.freeze({ scope: 'system', orgId: null });

export class Tenancy {
  readonly #als: AsyncLocalStorage<TenantContext> | null;

  /** `enforced`: the database enforces the context (PostgreSQL row-level security). */
  constructor(readonly enforced: boolean) {
    this.#als = enforced ? new AsyncLocalStorage() : null;
  }

  /** Runs `fn` (and everything it starts) for `orgId` only. */
  runAsOrg<T>(orgId: string, fn: () => T): T {
    return this.#als ? this.#als.run({ scope: 'org', orgId }, fn) : fn();
  }

  /** Runs `fn` (and everything it starts) with sight of every org. Say why at the call. */
  runAsSystem<T>(fn: () => T): T {
    return this.#als ? this.#als.run({ scope: 'system', orgId: null }, fn) : fn();
  }

  /**
   * Runs `fn` with `context` as the current context, the same object: its owner may later narrow
   * it (`narrow`), and everything already running under it follows. For the request plumbing.
   */
  runWith<T>(context: TenantContext, fn: () => T): T {
    return this.#als ? this.#als.run(context, fn) : fn();
  }

  /** The context the database must apply now. */
  current(): Readonly<TenantContext> {
    return this.#als?.getStore() ?? SYSTEM;
  }
}

/** Narrows a request's context to the org of its authenticated principal. */
export function narrow(context: TenantContext, orgId: string): void {
  context.scope = 'org';
  context.orgId = orgId;
}
