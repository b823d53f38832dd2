import type { Kysely, Migration, MigrationProvider } from 'kysely';
import type { DialectTraits } from '../dialect.js';
import * as m001 from './001-initial.js';

/**
 * Migrations live in code (not files found at run time) so a bundled or compiled server carries
 * them; each receives the dialect traits so one migration serves SQLite and PostgreSQL.
 */
const MIGRATIONS: Record<string, { up(db: Kysely<unknown>, t: DialectTraits): Promise<void> }> = {
  '001-initial': m001,
};

export function migrationProvider(traits: DialectTraits): MigrationProvider {
  return {
    async getMigrations(): Promise<Record<string, Migration>> {
      const out: Record<string, Migration> = {};
      for (const [name, m] of Object.entries(MIGRATIONS)) out[name] = { up: (db) => m.up(db, traits) };
      return out;
    },
  };
}
