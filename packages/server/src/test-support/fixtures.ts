import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Role } from '../access/permissions.js';
import { hashPassword } from '../crypto/passwords.js';
import { newId } from '../crypto/random.js';
import type { Db } from '../storage/database.js';
import type { Api } from './api.js';

/** Path of an environment's secrets collection (names are URI-encoded like any client would). */
export function secretsPath(project: string, env: string, key?: string): string {
  const base = `/api/v1/projects/${encodeURIComponent(project)}/environments/${encodeURIComponent(env)}/secrets`;
  return key === undefined ? base : `${base}/${encodeURIComponent(key)}`;
}

export async function createProject(call: Api, name: string, environments?: string[]): Promise<{ id: string; name: string; environments: { id: string; name: string }[] }> {
  const res = await call('POST', '/api/v1/projects', environments ? { name, environments } : { name });
  assert.equal(res.status, 201, `project create failed: ${res.text}`);
  return res.body.project;
}

export async function putSecret(call: Api, project: string, env: string, key: string, value: string): Promise<{ key: string; version: number; status: string }> {
  const res = await call('PUT', secretsPath(project, env, key), { value });
  assert.equal(res.status, 200, `PUT ${key} failed: ${res.text}`);
  return res.body;
}

export async function getValue(call: Api, project: string, env: string, key: string, query = ''): Promise<string> {
  const res = await call('GET', `${secretsPath(project, env, key)}${query}`);
  assert.equal(res.status, 200, `GET ${key} failed: ${res.text}`);
  return res.body.value as string;
}

export interface CreatedToken {
  token: string;
  info: { id: string; name: string; prefix: string; access: string; expiresAt: string | null; lastUsedAt: string | null; revokedAt: string | null };
}

export async function createToken(
  call: Api,
  input: { name?: string; project: string; environment: string; access: 'read' | 'write'; expiresInSeconds?: number },
): Promise<CreatedToken> {
  const res = await call('POST', '/api/v1/tokens', { name: input.name ?? `t-${randomBytes(3).toString('hex')}`, ...input });
  assert.equal(res.status, 201, `token create failed: ${res.text}`);
  return res.body;
}

/** A distinctive value that cannot occur by chance: for grepping logs, files and rows. */
export function marker(label = 'MARK'): string {
  return `${label}-${randomBytes(16).toString('hex')}`;
}

/**
 * A user who is a member of `orgId` with `role`, straight in the database (as an accepted
 * invitation leaves one), able to sign in with `password`. Returns the user id.
 */
export async function addMember(db: Db, m: { orgId: string; role: Role; email: string; password: string; now: number }): Promise<string> {
  const id = newId('usr');
  await db.insertInto('users').values({ id, email: m.email, password_hash: await hashPassword(m.password), created_at: m.now, email_verified_at: m.now }).execute();
  await db.insertInto('memberships').values({ org_id: m.orgId, user_id: id, role: m.role, created_at: m.now }).execute();
  return id;
}
