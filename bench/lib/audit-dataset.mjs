// The audit trail that (h) searches and (i) exports: a year of one deployment's records, written
// straight into a fresh database opened with the server's own openStorage + migrate, each org's
// records a valid hash chain with hourly signed checkpoints, as the server would have left them.
//
// Deterministic (a seeded generator): the same settings give the same rows, so a cached SQLite
// file and a fresh build are one dataset, and the queries of (h) pick their parameters from the
// same universe of orgs, tokens, users, projects and IPs without reading it back.
//
// The mix (of all records): a big org ~90% and a small one ~10%; ~80% `secret.read` (tokens bound
// to one project/environment, and users), ~8% `secret.write`, ~5% `session.create` successes, ~2%
// failures from ~1,000 IPs, ~1% `access.denied`, the rest `token.use`, `member.*`, `invitation.create`
// and `project.create`; a few IPs appear only a handful of times (the "rare IP" of (h)). Rows have
// the shape the server writes (secrets/service.ts #recordRead, identity/service.ts, http/access.ts).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
// The very Kysely the server uses (one copy, hoisted by npm workspaces).
import { sql } from 'kysely';
import { auditChainModule, serverModule } from './built.mjs';
import { prng } from './stats.mjs';

/** Bump when the rows generated change: a cached dataset of another version is rebuilt. */
export const GENERATOR_VERSION = 1;
const SEED = 0x6b65796e; // "keyn"
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const SPAN_MS = 365 * DAY_MS;
/** 500 rows × 20 columns = 10,000 parameters a statement (under SQLite's 32,766 and PostgreSQL's 65,535). */
const ROWS_PER_INSERT = 500;
const ROWS_PER_TRANSACTION = 20_000;
/** Free disk asked for before a build: ~2.5 times what a record takes with its indexes (20 GB for 10M). */
const DISK_BYTES_PER_RECORD = 2000;
/** Smaller datasets build in seconds: not worth a cache entry (and a quick run must not evict the big one). */
const CACHE_MIN_RECORDS = 1_000_000;
/** The generated chain of the small org is verified up to this length (about a second). */
const CHECKED_CHAIN_MAX = 50_000;
/**
 * The root key that seals the dataset's checkpoint-signing key. Fixed, so the key of a cached
 * dataset opens in every later run; it protects nothing (bench data, no secret values).
 */
const ROOT_KEY = createHash('sha256').update('keynest-bench-audit-dataset').digest();

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** An id like crypto/random.ts newId makes (12 random bytes, base64url). */
const newId = (r, prefix) => `${prefix}_${Array.from({ length: 16 }, () => B64[Math.floor(r() * 64)]).join('')}`;
const pick = (r, xs) => xs[Math.floor(r() * xs.length)];
/** A weighted choice: `cum` holds the running sums of the weights of `xs`. */
function weighted(r, xs, cum) {
  const x = r() * cum[cum.length - 1];
  let i = 0;
  while (cum[i] <= x) i++;
  return xs[i];
}
function cumulative(weights) {
  let sum = 0;
  return weights.map((w) => (sum += w));
}
/** Some are busy, most are not (Zipf-like): what makes one token's history short and another's long. */
const zipf = (n) => cumulative(Array.from({ length: n }, (_, i) => 1 / (i + 1)));

const ENVIRONMENTS = ['production', 'staging', 'development'];
const KEY_NAMES = [
  'DATABASE_URL', 'REDIS_URL', 'SENTRY_DSN', 'JWT_SECRET', 'SESSION_SECRET', 'STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET',
  'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'S3_BUCKET', 'SMTP_PASSWORD', 'SENDGRID_API_KEY', 'GITHUB_TOKEN', 'SLACK_WEBHOOK_URL',
  'DATADOG_API_KEY', 'OPENAI_API_KEY', 'TWILIO_AUTH_TOKEN', 'GOOGLE_CLIENT_SECRET', 'ALGOLIA_API_KEY', 'KAFKA_PASSWORD',
  'ELASTIC_PASSWORD', 'ENCRYPTION_KEY', 'OAUTH_CLIENT_SECRET', 'MAPBOX_TOKEN', 'PAGERDUTY_KEY', 'NPM_TOKEN', 'DOCKER_PASSWORD',
  'MONGO_URL', 'RABBITMQ_URL', 'CLOUDFLARE_API_TOKEN', 'HUBSPOT_API_KEY', 'SEGMENT_WRITE_KEY', 'LAUNCHDARKLY_SDK_KEY',
  'AUTH0_CLIENT_SECRET', 'FIREBASE_PRIVATE_KEY', 'PUSHER_SECRET', 'MAILGUN_API_KEY', 'INTERCOM_TOKEN', 'ZENDESK_TOKEN', 'LEGACY_FTP_PASSWORD',
];
const CLI_AGENT = 'keynest-cli/0.1.0 (node v20.11.1; linux x64)';
const BROWSERS = [
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36',
];
const ROUTES = {
  read: 'GET /api/v1/projects/:project/environments/:environment/secrets/:key',
  write: 'PUT /api/v1/projects/:project/environments/:environment/secrets/:key',
};

function ipPool(r, n, first) {
  const ips = new Set();
  while (ips.size < n) ips.add(`${first}.${1 + Math.floor(r() * 254)}.${Math.floor(r() * 256)}.${1 + Math.floor(r() * 254)}`);
  return [...ips];
}

function makeOrg(r, { label, share, projects, tokens, users }, pools) {
  const id = newId(r, 'org');
  const projectList = projects.map((name) => {
    // DATABASE_URL and the like in every project, the tail of the list in few: a key filter can hit often or rarely.
    const keys = KEY_NAMES.filter((_, i) => i < 4 || r() < 0.5 * (1 - i / KEY_NAMES.length)).slice(0, 30);
    const envs = Object.fromEntries(ENVIRONMENTS.map((env) => [env, { id: newId(r, 'env'), secretIds: keys.map(() => newId(r, 'sec')) }]));
    return { name, keys, envs };
  });
  const projectCum = zipf(projectList.length);
  const envCum = cumulative([5, 3, 2]);
  const tokenList = Array.from({ length: tokens }, (_, k) => {
    const project = weighted(r, projectList, projectCum);
    const environment = weighted(r, ENVIRONMENTS, envCum);
    return { id: newId(r, 'tok'), name: `${project.name}-${environment}-${k % 3 === 0 ? 'deploy' : 'ci'}-${k}`, project, environment, ip: pick(r, pools.ci) };
  });
  const userList = Array.from({ length: users }, (_, k) => ({
    id: newId(r, 'usr'),
    email: `member${k}@${label}.example`,
    ips: Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(r, pools.people)),
    agent: pick(r, BROWSERS),
  }));
  return { id, label, share, projects: projectList, projectCum, tokens: tokenList, tokenCum: zipf(tokens), users: userList, userCum: zipf(users) };
}

/** Who and what exists: orgs, their projects, keys, tokens and users, and the IP pools. */
export function universe() {
  const r = prng(SEED);
  const pools = { ci: ipPool(r, 20, 34), people: ipPool(r, 300, 81), attackers: ipPool(r, 1000, 45) };
  const big = makeOrg(r, {
    label: 'acme', share: 0.9, tokens: 50, users: 20,
    projects: ['payments', 'web', 'api-gateway', 'billing', 'search', 'mobile-backend', 'data-pipeline', 'auth', 'notifications', 'infra'],
  }, pools);
  const small = makeOrg(r, { label: 'smallco', share: 0.1, tokens: 10, users: 6, projects: ['shop', 'backoffice', 'marketing-site'] }, pools);
  // TEST-NET addresses, never in the pools: each appears in only `times` failed sign-ins of the big org.
  const rareIps = [['192.0.2.7', 3], ['192.0.2.8', 4], ['192.0.2.9', 5]].map(([ip, times]) => ({ ip, times }));
  return { orgs: [big, small], big, small, pools, rareIps };
}

/** The record kinds and their shares of all records. */
const KINDS = ['read', 'write', 'signin', 'signin_failed', 'denied', 'token_use', 'member', 'project'];
const KIND_CUM = cumulative([0.8, 0.08, 0.05, 0.02, 0.01, 0.025, 0.01, 0.005]);

/**
 * A record of org `o` with every stored column but `id`, in one fixed shape (rows of one shape
 * keep V8 fast over ten million of them); the kinds below fill it in.
 */
function emptyRow(r, o, at) {
  return {
    org_id: o.id, at, action: '', outcome: 'success', actor_type: 'anonymous', actor_id: null, target_type: null, target_id: null, target_name: null,
    ip: null, request_id: requestId(r), details: '{}', actor_name: null, user_agent: null, project: null, environment: null,
    chain: o.id, seq: 0, prev_hash: null, hash: null,
  };
}

function byUser(row, r, user) {
  row.actor_type = 'user';
  row.actor_id = user.id;
  row.actor_name = user.email;
  row.ip = pick(r, user.ips);
  row.user_agent = user.agent;
  return row;
}

function byToken(row, token) {
  row.actor_type = 'token';
  row.actor_id = token.id;
  row.actor_name = token.name;
  row.ip = token.ip;
  row.user_agent = CLI_AGENT;
  return row;
}

/** One record of org `o`, as the server would write it. */
function recordOf(r, u, o, kind, at) {
  const user = () => weighted(r, o.users, o.userCum);
  const token = () => weighted(r, o.tokens, o.tokenCum);
  const project = () => weighted(r, o.projects, o.projectCum);
  const row = emptyRow(r, o, at);
  switch (kind) {
    case 'read': {
      // Tokens read their own project and environment, mostly running programs (`keynest run`:
      // every value of the environment); people look values up anywhere, mostly one at a time.
      const t = r() < 0.7 ? token() : null;
      const p = t ? t.project : project();
      const env = t ? t.environment : pick(r, ENVIRONMENTS);
      if (t) byToken(row, t);
      else byUser(row, r, user());
      const all = r() < (t ? 0.6 : 0.3);
      const keys = all ? p.keys : [pick(r, p.keys)];
      row.action = 'secret.read';
      if (all) {
        row.target_type = 'environment';
        row.target_id = p.envs[env].id;
        row.target_name = env;
      } else {
        row.target_type = 'secret';
        row.target_name = keys[0];
      }
      row.project = p.name;
      row.environment = env;
      row.details = JSON.stringify({ project: p.name, environment: env, keys, references: [], ...(all ? { purpose: t ? 'run' : 'export:dotenv' } : {}) });
      return row;
    }
    case 'write': {
      const p = project();
      const env = pick(r, ENVIRONMENTS);
      const k = Math.floor(r() * p.keys.length);
      if (r() < 0.8) byUser(row, r, user());
      else byToken(row, token());
      Object.assign(row, { action: 'secret.write', target_type: 'secret', target_id: p.envs[env].secretIds[k], target_name: p.keys[k], project: p.name, environment: env });
      row.details = JSON.stringify({ project: p.name, environment: env, version: 2 + Math.floor(r() * 60), status: 'changed' });
      return row;
    }
    case 'signin':
      byUser(row, r, user());
      Object.assign(row, { action: 'session.create', target_type: 'session', target_id: newId(r, 'ses') });
      row.details = JSON.stringify({ method: 'password', secondFactor: r() < 0.6 ? 'totp' : 'none', rehashed: false, rememberMe: r() < 0.3 });
      return row;
    case 'signin_failed':
      return failedSignIn(r, o, at, pick(r, u.pools.attackers));
    case 'denied': {
      const write = r() < 0.5;
      const t = token();
      byToken(row, t);
      Object.assign(row, { action: 'access.denied', outcome: 'failure', target_type: 'route', target_name: write ? ROUTES.write : ROUTES.read, project: t.project.name, environment: t.environment });
      row.details = JSON.stringify({ reason: 'missing_permission', permission: write ? 'secrets:write' : 'secrets:read' });
      return row;
    }
    case 'token_use': {
      const t = token();
      byToken(row, t);
      Object.assign(row, { action: 'token.use', target_type: 'token', target_id: t.id, target_name: t.name, details: '{"firstUseToday":true}' });
      return row;
    }
    case 'member': {
      byUser(row, r, user());
      const which = r();
      if (which < 0.5) Object.assign(row, { action: 'member.role_change', target_type: 'user', target_id: user().id, details: '{"before":"member","after":"admin"}' });
      else if (which < 0.7) Object.assign(row, { action: 'member.remove', target_type: 'user', target_id: user().id, details: '{"role":"member"}' });
      else Object.assign(row, { action: 'invitation.create', target_type: 'invitation', target_id: newId(r, 'inv'), target_name: `new${Math.floor(r() * 1e6)}@${o.label}.example`, details: '{"role":"member"}' });
      return row;
    }
    default: {
      byUser(row, r, user());
      const name = `${pick(r, o.projects).name}-${Math.floor(r() * 1000)}`;
      Object.assign(row, { action: 'project.create', target_type: 'project', target_id: newId(r, 'prj'), target_name: name, project: name });
      row.details = JSON.stringify({ environments: ENVIRONMENTS });
      return row;
    }
  }
}

/** A wrong password for a member's email (identity/service.ts failedAttempt): anonymous, no user agent. */
function failedSignIn(r, o, at, ip) {
  const row = emptyRow(r, o, at);
  Object.assign(row, { action: 'session.create', outcome: 'failure', target_type: 'user', target_id: weighted(r, o.users, o.userCum).id, ip });
  row.details = JSON.stringify({ reason: 'wrong_password', failures: 1 + Math.floor(r() * 5) });
  return row;
}

/** A UUID's shape (the server's request ids are randomUUID()). */
function requestId(r) {
  const h = () => Math.floor(r() * 0x100000000).toString(16).padStart(8, '0');
  const a = h();
  const b = h();
  const c = h();
  return `${a}-${b.slice(0, 4)}-4${b.slice(5)}-${c.slice(0, 4)}-${c.slice(4)}${h()}`;
}

/**
 * Generates `records` rows in time order over one year ending at `end`, hands them out in chunks
 * of ROWS_PER_INSERT (each row's values in AUDIT_COLUMNS order), linked into their org's chain,
 * and says where each chain's head stood at every hour (for the hourly checkpoints).
 */
function* generate(u, records, end, { AUDIT_COLUMNS: columns, recordHash, GENESIS_HASH, hashedKeys }) {
  const r = prng(SEED + 1);
  const start = end - SPAN_MS;
  const orgCum = cumulative(u.orgs.map((o) => o.share));
  const heads = new Map(u.orgs.map((o) => [o.id, { seq: 0, hash: GENESIS_HASH }]));
  // The rare IPs at fixed places spread over the year.
  const rare = new Map();
  u.rareIps.forEach(({ ip, times }, k) => {
    for (let j = 0; j < times; j++) rare.set(Math.floor(records * ((j + 0.3 + 0.2 * k) / times)) % records, ip);
  });
  // Every row has every column (as the server's appender writes them): the hashed field order is sorted once.
  const keys = hashedKeys(Object.fromEntries(columns.map((c) => [c, null])));
  let nextHour = start + HOUR_MS;
  let chunk = [];
  for (let i = 0; i < records; i++) {
    // One slot of the year per record, a random instant within it: in time order, like appends.
    const at = start + Math.floor(((i + r()) * SPAN_MS) / records);
    while (at >= nextHour) {
      yield { hour: nextHour, heads };
      nextHour += HOUR_MS;
    }
    const rareIp = rare.get(i);
    const row = rareIp ? failedSignIn(r, u.big, at, rareIp) : recordOf(r, u, weighted(r, u.orgs, orgCum), weighted(r, KINDS, KIND_CUM), at);
    const head = heads.get(row.chain);
    row.seq = head.seq + 1;
    row.prev_hash = head.hash;
    row.hash = recordHash(row, head.hash, keys);
    head.seq = row.seq;
    head.hash = row.hash;
    for (const c of columns) chunk.push(row[c]);
    if (chunk.length === ROWS_PER_INSERT * columns.length) {
      yield { values: chunk };
      chunk = [];
    }
  }
  if (chunk.length) yield { values: chunk };
  yield { hour: nextHour, heads };
}

/** The server's modules the dataset and its measurements use, in one object. */
export async function loadModules(root) {
  const parts = ['storage/database.js', 'audit/store.js', 'audit/keys.js', 'audit/service.js', 'audit/integrity.js', 'audit/export.js'];
  return Object.assign({}, ...(await Promise.all(parts.map((p) => serverModule(root, p)))), await auditChainModule(root));
}

/** Writes the dataset into a migrated, empty database. */
async function build(m, storage, u, records, end, log) {
  const { db } = storage;
  const keys = new m.AuditKeys({ db, rootKey: ROOT_KEY });
  await keys.init(end - SPAN_MS);
  const signer = keys.signer();
  const columns = m.AUDIT_COLUMNS;
  // The server's own multi-row INSERT (store.insertAuditEventsQuery), compiled once per row count
  // and run with each chunk's values. Not through storage/prepared.ts: its placeholder search is
  // quadratic in the parameter count (nothing at the server's 64 rows, seconds at 10,000
  // parameters); instead the first compile must show every value bound in order.
  const compiled = new Map();
  const insert = (conn, values) => {
    const rows = values.length / columns.length;
    let c = compiled.get(rows);
    if (!c) {
      c = m.insertAuditEventsQuery(db, ...values).compile();
      if (c.parameters.length !== values.length || c.parameters.some((p, i) => p !== values[i])) throw new Error('the audit INSERT does not bind every value in column order');
      compiled.set(rows, c);
    }
    return conn.executeQuery({ ...c, parameters: values });
  };
  const checkpoints = [];
  const signed = new Map();
  const gen = generate(u, records, end, m);
  let done = 0;
  let lastLog = Date.now();
  for (let step = gen.next(); !step.done; ) {
    await db.transaction().execute(async (trx) => {
      let pending = null;
      for (let n = 0; !step.done && n < ROWS_PER_TRANSACTION; step = gen.next()) {
        const { values, hour, heads } = step.value;
        if (hour) {
          // The periodic job: a checkpoint of every chain that grew during the hour.
          for (const [chain, head] of heads) {
            if (head.seq === 0 || signed.get(chain) === head.seq) continue;
            signed.set(chain, head.seq);
            const statement = { chain, seq: head.seq, hash: head.hash, at: hour, kind: 'checkpoint' };
            checkpoints.push({ ...statement, keyId: signer.id, signature: m.signStatement(statement, signer.privateKey) });
          }
          continue;
        }
        // The next chunk is generated while this one is written (PostgreSQL answers over a socket).
        await pending;
        pending = insert(trx, values);
        n += values.length / columns.length;
        done += values.length / columns.length;
      }
      await pending;
    });
    if (Date.now() - lastLog > 30_000) {
      lastLog = Date.now();
      log(`  ${done.toLocaleString('en-US')} of ${records.toLocaleString('en-US')} records written`);
    }
  }
  // The columns of store.insertCheckpoint, 1,000 rows a statement (one round trip each).
  for (let at = 0; at < checkpoints.length; at += 1000) {
    const rows = checkpoints.slice(at, at + 1000).map((c) => ({ org_id: c.chain, chain: c.chain, seq: c.seq, hash: c.hash, at: c.at, kind: c.kind, key_id: c.keyId, signature: c.signature }));
    await db.insertInto('audit_checkpoints').values(rows).execute();
  }
  return { checkpoints: checkpoints.length };
}

/** What the dataset takes on disk: the SQLite file, or the PostgreSQL table with its indexes. */
async function sizeOf(storage, dataDir) {
  if (storage.traits.name === 'sqlite') {
    await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(storage.db);
    return statSync(path.join(dataDir, 'keynest.db')).size;
  }
  const { rows } = await sql`select pg_total_relation_size('audit_events') as n`.execute(storage.owner);
  return Number(rows[0].n);
}

/**
 * The server's verification of one org's chain, when it is short enough to take a second: a
 * check of the generator (a quick run builds afresh every time), not part of any figure.
 */
async function checkChain(m, storage, org) {
  const { db, traits, tenancy } = storage;
  const head = await m.seqRange(db, m.chainOf(org.id), undefined, undefined);
  if (!head || head.last > CHECKED_CHAIN_MAX) return [];
  const keys = new m.AuditKeys({ db, rootKey: ROOT_KEY });
  await keys.reload();
  const integrity = new m.AuditIntegrity({ db, traits, keys, audit: new m.AuditService(db, traits, tenancy), retention: { retentionMs: async () => Infinity } });
  const result = await integrity.verify(org.id);
  return result.ok ? [] : [`the generated chain of ${org.label} does not verify: ${JSON.stringify(result.broken)}`];
}

/** The tables a dataset fills; what the other migrations do is no business of a cached trail. */
const DATASET_TABLES = ['audit_events', 'audit_checkpoints', 'audit_signing_keys'];

/**
 * A cache entry's name: changes with the record count, the generator, and the schema of the tables
 * it fills (their columns, indexes and triggers as a freshly migrated SQLite database has them), so
 * a migration that adds an audit index builds the trail anew, and one that adds an unrelated table
 * does not throw away 11 minutes of building.
 */
export async function datasetCacheName(m, records) {
  const dir = mkdtempSync(path.join(tmpdir(), 'keynest-bench-schema-'));
  try {
    const storage = await m.openStorage({ dataDir: dir });
    try {
      await storage.migrate();
      const rows = await sql`select type, name, tbl_name, sql from sqlite_master where tbl_name in (${sql.join(DATASET_TABLES)}) order by type, name`.execute(storage.db);
      return `audit-${records}-${createHash('sha256').update(JSON.stringify({ GENERATOR_VERSION, schema: rows.rows, records })).digest('hex').slice(0, 12)}`;
    } finally {
      await storage.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function freeBytes(dir) {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/**
 * Opens the dataset of `records` records on `database`: from the SQLite cache when there is one
 * (opened query-only), else built in a fresh temporary database (cached afterwards on SQLite when
 * large enough, unless `useCache` is false). Returns `{ skipped }` when the disk is too full.
 * `close()` removes whatever is not the cache: the temporary directory, the PostgreSQL schema.
 */
export async function openAuditDataset({ root, database, pgUrl, records, cacheDir, useCache, log }) {
  const m = await loadModules(root);
  const u = universe();
  const caching = database === 'sqlite' && useCache && records >= CACHE_MIN_RECORDS;
  const entry = path.join(cacheDir, await datasetCacheName(m, records));
  const meta = path.join(entry, 'dataset.json');
  const openCached = async (cached) => {
    const info = JSON.parse(readFileSync(meta, 'utf8'));
    const storage = await m.openStorage({ dataDir: entry });
    // Nothing the bench does writes; this makes sure of it (the cache stays as built).
    await sql`PRAGMA query_only = ON`.execute(storage.db);
    return dataset(m, storage, u, { ...info, cached, cacheDir: entry }, () => storage.close());
  };
  if (caching && existsSync(meta)) return openCached(true);

  // PostgreSQL's data directory is taken to be on this disk too (a local test server).
  const base = caching ? cacheDir : tmpdir();
  mkdirSync(base, { recursive: true });
  const need = records * DISK_BYTES_PER_RECORD;
  const free = freeBytes(base);
  if (free < need) {
    return { skipped: `${(free / 1e9).toFixed(1)} GB free in ${base}, ${(need / 1e9).toFixed(1)} GB wanted for ${records.toLocaleString('en-US')} records` };
  }
  if (caching) for (const stale of readdirSync(cacheDir)) if (stale.startsWith(`audit-${records}-`)) rmSync(path.join(cacheDir, stale), { recursive: true, force: true });
  const dataDir = caching ? `${entry}.partial` : mkdtempSync(path.join(tmpdir(), 'keynest-bench-audit-'));
  const schema = database === 'postgres' ? `bench_audit_${createHash('sha256').update(`${process.pid}${Date.now()}`).digest('hex').slice(0, 8)}` : undefined;
  const storage = await m.openStorage({ dataDir, databaseUrl: database === 'postgres' ? pgUrl : undefined, databaseSchema: schema });
  const removeAll = async () => {
    if (schema) await storage.owner.schema.dropSchema(schema).ifExists().cascade().execute();
    await storage.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await storage.migrate();
    const end = Math.floor(Date.now() / 60_000) * 60_000;
    const t0 = Date.now();
    const { checkpoints } = await build(m, storage, u, records, end, log);
    if (database === 'postgres') {
      // What autovacuum would have done long before anyone searched a year of records: statistics
      // for the planner, and hint bits and the visibility map set (else the first reads of every
      // page write it back, and autovacuum's own pass over the fresh table runs during the search).
      await sql`VACUUM (ANALYZE) audit_events`.execute(storage.owner);
    }
    // The time until the dataset is ready to search, the VACUUM included.
    const info = { records, generatorVersion: GENERATOR_VERSION, end, builtAt: new Date().toISOString(), generationMs: Date.now() - t0, checkpoints };
    info.sizeBytes = await sizeOf(storage, dataDir);
    info.problems = await checkChain(m, storage, u.small);
    if (!caching) return dataset(m, storage, u, { ...info, cached: false }, removeAll);
    // Complete: becomes the cache entry in one rename, so an interrupted build never looks finished.
    await storage.close();
    writeFileSync(path.join(dataDir, 'dataset.json'), `${JSON.stringify(info, null, 2)}\n`);
    renameSync(dataDir, entry);
    return openCached(false);
  } catch (err) {
    await removeAll().catch(() => {});
    throw err;
  }
}

function dataset(m, storage, u, info, close) {
  return { m, storage, universe: u, info, keys: new m.AuditKeys({ db: storage.db, rootKey: ROOT_KEY }), close };
}
