import type { Kysely } from 'kysely';
import type { DialectTraits } from '../dialect.js';
import * as m001 from './001-initial.js';
import * as m002 from './002-identity.js';
import * as m003 from './003-session-location.js';
import * as m004 from './004-signup.js';
import * as m005 from './005-access-tokens.js';
import * as m007 from './007-ip-allowlist.js';
import * as m008 from './008-api-tokens.js';
import * as m009 from './009-custom-roles.js';
import * as m010 from './010-tenant-isolation.js';
import * as m011 from './011-audit-chain.js';
import * as m012 from './012-audit-index.js';
import * as m013 from './013-audit-sinks.js';
import * as m015 from './015-alerts.js';
import * as m016 from './016-audit-ip-index.js';
import * as m017 from './017-token-client-cert.js';
import * as m018 from './018-audit-chain-head.js';
import * as m019 from './019-org-plans.js';
import * as m020 from './020-audit-append-at-head.js';

export interface Migration {
  up(db: Kysely<unknown>, t: DialectTraits): Promise<void>;
}

/**
 * Every migration, in order. They live in code (not files found at run time) so a compiled server
 * carries them; each receives the dialect traits so one migration serves SQLite and PostgreSQL.
 * Append only: a released migration is never edited.
 */
export const MIGRATIONS: readonly (readonly [name: string, migration: Migration])[] = [
  ['001-initial', m001],
  ['002-identity', m002],
  ['003-session-location', m003],
  ['004-signup', m004],
  ['005-access-tokens', m005],
  ['007-ip-allowlist', m007],
  ['008-api-tokens', m008],
  ['009-custom-roles', m009],
  ['010-tenant-isolation', m010],
  ['011-audit-chain', m011],
  ['012-audit-index', m012],
  ['013-audit-sinks', m013],
  ['015-alerts', m015],
  ['016-audit-ip-index', m016],
  ['017-token-client-cert', m017],
  ['018-audit-chain-head', m018],
  ['019-org-plans', m019],
  ['020-audit-append-at-head', m020],
];
