/**
 * `.keynest.json`: which project and environment a directory tree works with, found in the current
 * directory or the nearest parent (as git finds `.git`). It names no secret and holds no token, so
 * it may be committed.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CliError } from '../errors.js';

export const LINK_FILE_NAME = '.keynest.json';

export interface LinkFile {
  path: string;
  project?: string;
  env?: string;
}

export function findLinkFile(cwd: string): LinkFile | null {
  for (let directory = cwd; ; directory = dirname(directory)) {
    const path = join(directory, LINK_FILE_NAME);
    let text: string | null = null;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        throw new CliError('link_file_invalid', `cannot read ${path}: ${(error as Error).message}`);
      }
    }
    if (text !== null) return parseLinkFile(path, text);
    if (dirname(directory) === directory) return null;
  }
}

function parseLinkFile(path: string, text: string): LinkFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CliError('link_file_invalid', `${path} is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CliError('link_file_invalid', `${path} must hold an object like {"project": "...", "env": "..."}`);
  }
  const { project, env } = value as Record<string, unknown>;
  for (const [field, content] of [['project', project], ['env', env]] as const) {
    if (content !== undefined && (typeof content !== 'string' || content === '')) {
      throw new CliError('link_file_invalid', `${path}: "${field}" must be a non-empty string`);
    }
  }
  return { path, project: project as string | undefined, env: env as string | undefined };
}

export function writeLinkFile(cwd: string, project: string, env: string): string {
  const path = join(cwd, LINK_FILE_NAME);
  writeFileSync(path, `${JSON.stringify({ project, env }, null, 2)}\n`);
  return path;
}
