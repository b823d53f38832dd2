import type { Db } from '../storage/database.js';

const byRef = (ref: string) => (ref.startsWith('prj_') ? ('id' as const) : ('name' as const));

export function listProjectsWithEnvironments(db: Db, orgId: string) {
  return db
    .selectFrom('projects')
    .leftJoin('environments', 'environments.project_id', 'projects.id')
    .select([
      'projects.id',
      'projects.name',
      'projects.created_at',
      'environments.id as env_id',
      'environments.name as env_name',
      'environments.created_at as env_created_at',
    ])
    .where('projects.org_id', '=', orgId)
    .orderBy('projects.name')
    .orderBy('environments.created_at')
    .orderBy('environments.name')
    .execute();
}

export function findProject(db: Db, orgId: string, ref: string) {
  return db.selectFrom('projects').select(['id', 'name', 'created_at']).where('org_id', '=', orgId).where(byRef(ref), '=', ref).executeTakeFirst();
}

/** Project and environment in one round trip: this runs on every secret request. */
export function findProjectEnvironment(db: Db, orgId: string, projectRef: string, envRef: string) {
  const envCol = envRef.startsWith('env_') ? ('environments.id' as const) : ('environments.name' as const);
  const prjCol = projectRef.startsWith('prj_') ? ('projects.id' as const) : ('projects.name' as const);
  return db
    .selectFrom('projects')
    .innerJoin('environments', 'environments.project_id', 'projects.id')
    .select(['projects.id as project_id', 'projects.name as project_name', 'environments.id as env_id', 'environments.name as env_name'])
    .where('projects.org_id', '=', orgId)
    .where(prjCol, '=', projectRef)
    .where(envCol, '=', envRef)
    .executeTakeFirst();
}

export function listEnvironments(db: Db, orgId: string, projectId: string) {
  return db
    .selectFrom('environments')
    .select(['id', 'name', 'created_at'])
    .where('org_id', '=', orgId)
    .where('project_id', '=', projectId)
    .orderBy('created_at')
    .orderBy('name')
    .execute();
}

export function insertProject(db: Db, row: { id: string; orgId: string; name: string; now: number }): Promise<unknown> {
  return db.insertInto('projects').values({ id: row.id, org_id: row.orgId, name: row.name, created_at: row.now }).execute();
}

export function insertEnvironment(db: Db, row: { id: string; orgId: string; projectId: string; name: string; now: number }): Promise<unknown> {
  return db
    .insertInto('environments')
    .values({ id: row.id, org_id: row.orgId, project_id: row.projectId, name: row.name, created_at: row.now })
    .execute();
}

export function deleteProject(db: Db, orgId: string, id: string): Promise<unknown> {
  return db.deleteFrom('projects').where('org_id', '=', orgId).where('id', '=', id).execute();
}

export function deleteEnvironment(db: Db, orgId: string, id: string): Promise<unknown> {
  return db.deleteFrom('environments').where('org_id', '=', orgId).where('id', '=', id).execute();
}

/** How many secret rows (live or deleted) go with a project or environment: for the audit record. */
export async function countSecrets(db: Db, orgId: string, where: { projectId?: string; environmentId?: string }): Promise<number> {
  let q = db.selectFrom('secrets').select((eb) => eb.fn.countAll().as('n')).where('org_id', '=', orgId);
  if (where.projectId) q = q.where('project_id', '=', where.projectId);
  if (where.environmentId) q = q.where('environment_id', '=', where.environmentId);
  const row = await q.executeTakeFirst();
  return Number(row?.n ?? 0);
}
