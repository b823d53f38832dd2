import { can, canSeeEnvironment, canSeeProject } from '../access/policy.js';
import type { OrgQuotas } from '../orgs/quotas.js';
import type { Principal } from '../access/principal.js';
import type { AuditService } from '../audit/service.js';
import { auditContextOf, iso, type RequestContext } from '../context.js';
import { newId } from '../crypto/random.js';
import { AppError, notFound } from '../errors.js';
import { isUniqueViolation } from '../storage/dialect.js';
import { HOT_CACHE_MAX_ENTRIES, HOT_CACHE_TTL_MS, TtlCache, type Invalidation } from '../cache.js';
import type { Clock } from '../context.js';
import type { Db } from '../storage/database.js';
import * as store from './store.js';

export const DEFAULT_ENVIRONMENTS = ['development', 'staging', 'production'] as const;
/**
 * Lower-case letters, digits and dashes. No "_" (so a name can never look like an id such as
 * `prj_…`) and no "." (so `${env.KEY}` references stay unambiguous).
 */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface EnvironmentView {
  id: string;
  name: string;
  createdAt: string;
}
export interface ProjectView {
  id: string;
  name: string;
  createdAt: string;
  environments: EnvironmentView[];
}

/** A project (and optionally one of its environments) that the caller is allowed to see. */
export interface Target {
  project: { id: string; name: string };
  environment?: { id: string; name: string };
}

/**
 * Projects and their environments. Invariants: names are unique per org (projects) and per
 * project (environments); anything the caller may not see is answered as not found, the same
 * as what does not exist, so ids and names from another org or scope reveal nothing.
 */
type ProjectEnvironmentRow = NonNullable<Awaited<ReturnType<typeof store.findProjectEnvironment>>>;

export class ProjectService {
  /** org/project/environment references to ids: every secret request starts with this lookup. */
  readonly #targets = new TtlCache<string, ProjectEnvironmentRow>(HOT_CACHE_TTL_MS, HOT_CACHE_MAX_ENTRIES);

  constructor(private readonly deps: { db: Db; audit: AuditService; invalidation: Invalidation; clock: Clock; quotas: Pick<OrgQuotas, 'assertRoom'> }) {
    deps.invalidation.subscribe((e) => {
      if (e.type === 'project.deleted' || e.type === 'environment.deleted') this.#targets.clear();
    });
  }

  async resolve(principal: Principal, projectRef: string, envRef?: string): Promise<Target> {
    if (envRef !== undefined) {
      const cacheKey = `${principal.orgId}\u0000${projectRef}\u0000${envRef}`;
      const now = this.deps.clock();
      let row = this.#targets.get(cacheKey, now);
      if (!row) {
        const epoch = this.#targets.epoch;
        row = await store.findProjectEnvironment(this.deps.db, principal.orgId, projectRef, envRef);
        if (row) this.#targets.set(cacheKey, row, now, epoch);
      }
      if (row && canSeeEnvironment(principal, row.project_id, { id: row.env_id, name: row.env_name })) {
        return { project: { id: row.project_id, name: row.project_name }, environment: { id: row.env_id, name: row.env_name } };
      }
    }
    const project = await store.findProject(this.deps.db, principal.orgId, projectRef);
    if (!project || !canSeeProject(principal, project.id)) throw notFound('project');
    if (envRef !== undefined) throw notFound('environment');
    return { project: { id: project.id, name: project.name } };
  }

  /**
   * An environment of a project by name, whether or not the caller may see it (for reference
   * resolution, which then decides between "not found" and "forbidden").
   */
  async findEnvironment(orgId: string, projectId: string, envName: string): Promise<{ id: string; name: string } | undefined> {
    const row = await store.findProjectEnvironment(this.deps.db, orgId, projectId, envName);
    return row ? { id: row.env_id, name: row.env_name } : undefined;
  }

  async list(principal: Principal): Promise<ProjectView[]> {
    const rows = await store.listProjectsWithEnvironments(this.deps.db, principal.orgId);
    const byId = new Map<string, ProjectView>();
    for (const r of rows) {
      if (!listed(principal, r.id)) continue;
      let p = byId.get(r.id);
      if (!p) byId.set(r.id, (p = { id: r.id, name: r.name, createdAt: iso(r.created_at), environments: [] }));
      if (r.env_id && r.env_name && r.env_created_at !== null && listed(principal, r.id, { id: r.env_id, name: r.env_name })) {
        p.environments.push({ id: r.env_id, name: r.env_name, createdAt: iso(r.env_created_at) });
      }
    }
    return [...byId.values()];
  }

  async get(principal: Principal, target: Target): Promise<ProjectView> {
    const project = (await this.list(principal)).find((p) => p.id === target.project.id);
    if (!project) throw notFound('project');
    return project;
  }

  async listEnvironments(principal: Principal, target: Target): Promise<EnvironmentView[]> {
    const rows = await store.listEnvironments(this.deps.db, principal.orgId, target.project.id);
    return rows.filter((r) => listed(principal, target.project.id, r)).map((r) => ({ id: r.id, name: r.name, createdAt: iso(r.created_at) }));
  }

  async create(ctx: RequestContext, name: string, environments: readonly string[] = DEFAULT_ENVIRONMENTS): Promise<ProjectView> {
    assertName(name, 'project');
    const envNames = [...new Set(environments)];
    envNames.forEach((e) => assertName(e, 'environment'));
    const orgId = ctx.principal.orgId;
    const id = newId('prj');
    try {
      await this.deps.db.transaction().execute(async (trx) => {
        await this.deps.quotas.assertRoom(trx, orgId, 'projects', 1, ctx.now);
        await store.insertProject(trx, { id, orgId, name, now: ctx.now });
        // One millisecond apart, so listing by creation time keeps the order they were given in.
        for (const [i, env] of envNames.entries()) await store.insertEnvironment(trx, { id: newId('env'), orgId, projectId: id, name: env, now: ctx.now + i });
        await this.deps.audit.record(trx, auditContextOf(ctx), { action: 'project.create', target: { type: 'project', id, name }, project: name, details: { environments: envNames } });
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError('project_exists', `A project named "${name}" already exists`);
      throw err;
    }
    return this.get(ctx.principal, { project: { id, name } });
  }

  async delete(ctx: RequestContext, target: Target): Promise<void> {
    const orgId = ctx.principal.orgId;
    await this.deps.db.transaction().execute(async (trx) => {
      const secrets = await store.countSecrets(trx, orgId, { projectId: target.project.id });
      // Environments, secrets, versions and the project's tokens go with it (ON DELETE CASCADE).
      await store.deleteProject(trx, orgId, target.project.id);
      await this.deps.audit.record(trx, auditContextOf(ctx), { action: 'project.delete', target: { type: 'project', ...target.project }, project: target.project.name, details: { secrets } });
    });
    this.deps.invalidation.publish({ type: 'project.deleted', projectId: target.project.id });
  }

  async createEnvironment(ctx: RequestContext, target: Target, name: string): Promise<EnvironmentView> {
    assertName(name, 'environment');
    const id = newId('env');
    try {
      await this.deps.db.transaction().execute(async (trx) => {
        await store.insertEnvironment(trx, { id, orgId: ctx.principal.orgId, projectId: target.project.id, name, now: ctx.now });
        await this.deps.audit.record(trx, auditContextOf(ctx), {
          action: 'environment.create',
          target: { type: 'environment', id, name },
          project: target.project.name,
          environment: name,
          details: { project: target.project.name },
        });
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError('environment_exists', `An environment named "${name}" already exists in this project`);
      throw err;
    }
    return { id, name, createdAt: iso(ctx.now) };
  }

  async deleteEnvironment(ctx: RequestContext, target: Target): Promise<void> {
    const env = target.environment;
    if (!env) throw notFound('environment');
    const orgId = ctx.principal.orgId;
    await this.deps.db.transaction().execute(async (trx) => {
      const secrets = await store.countSecrets(trx, orgId, { environmentId: env.id });
      await store.deleteEnvironment(trx, orgId, env.id);
      await this.deps.audit.record(trx, auditContextOf(ctx), {
        action: 'environment.delete',
        target: { type: 'environment', ...env },
        project: target.project.name,
        environment: env.name,
        details: { project: target.project.name, secrets },
      });
    });
    this.deps.invalidation.publish({ type: 'environment.deleted', environmentId: env.id });
  }
}

function assertName(name: string, what: 'project' | 'environment'): void {
  if (!NAME_PATTERN.test(name)) {
    throw new AppError('invalid_name', `Invalid ${what} name: use 1-63 lower-case letters, digits and dashes, starting with a letter or digit`);
  }
}

/**
 * Whether a listing shows the project (or environment): the caller sees it and may read project
 * metadata there; a member whose only rule there reads values (a deploy role) reaches it by path.
 */
function listed(principal: Principal, projectId: string, environment?: { id: string; name: string }): boolean {
  const seen = environment ? canSeeEnvironment(principal, projectId, environment) : canSeeProject(principal, projectId);
  return seen && can(principal, 'project:read', { projectId, environment });
}
