import type { FastifyInstance } from 'fastify';

export interface LiveRoute {
  method: string;
  /** Fastify's path syntax: `/api/v1/projects/:project`. */
  url: string;
}

/**
 * Every route the running app answers, read from its own router (`printRoutes`), so a route added
 * anywhere — a new plugin, an automatic HEAD route — is in the list without anyone updating a test.
 * The tree is printed one node per line: four characters of indentation per level, then `├── ` or
 * `└── `, the path segment, and the node's methods in parentheses (none for a bare prefix node).
 */
export function liveRoutes(app: FastifyInstance): LiveRoute[] {
  const text = app.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const out: LiveRoute[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^((?:[│ ] {3})*)[├└]── (\S+)(?: \(([A-Z, ]+)\))?$/u.exec(line);
    if (!m) throw new Error(`unparsed printRoutes line: ${JSON.stringify(line)}`);
    const depth = [...m[1]!].length / 4;
    stack.length = depth;
    stack.push(m[2]!);
    const url = stack.join('');
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim()).filter(Boolean)) out.push({ method, url });
  }
  return out;
}

/** The OpenAPI document's operations, in Fastify's path syntax. */
export function documentedRoutes(app: FastifyInstance): LiveRoute[] {
  const doc = app.swagger() as { paths?: Record<string, Record<string, unknown>> };
  const out: LiveRoute[] = [];
  for (const [p, ops] of Object.entries(doc.paths ?? {})) {
    for (const method of Object.keys(ops)) out.push({ method: method.toUpperCase(), url: p.replace(/\{([^}]+)\}/g, ':$1') });
  }
  return out;
}

export const routeId = (r: LiveRoute): string => `${r.method} ${r.url}`;
