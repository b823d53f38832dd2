// (h) Audit search on a large trail: the questions an auditor asks, through the server's own
// search (AuditService.list, what GET /api/v1/audit answers with), on the dataset of
// audit-dataset.mjs, in the big org. Each kind of query runs with varied parameters, the kinds
// interleaved round by round so a burst of other work on the machine hits them all alike.
import { percentile, prng, round2, summarize, timed } from './stats.mjs';

/** The API's page when none is asked for (audit/routes.ts), which `keynest audit search` uses. */
export const PAGE = 100;
const DAY_MS = 86_400_000;

/**
 * The kinds of query, each a function of a random source giving one filter. `end` is the time of
 * the dataset's newest record ("now" for the auditor), `maxId` its highest id.
 */
function queryKinds(u, { end, maxId }) {
  const o = u.big;
  const pick = (r, xs) => xs[Math.floor(r() * xs.length)];
  const keys = [...new Set(o.projects.flatMap((p) => p.keys))];
  return [
    { kind: 'newest', what: 'newest page, no filter', filter: () => ({}) },
    {
      kind: 'prod_reads_week',
      what: 'secret.read in production, a week (up to now)',
      filter: (r) => {
        const to = end - Math.floor(r() * 30) * DAY_MS;
        return { action: 'secret.read', environment: 'production', from: to - 7 * DAY_MS, ...(to < end ? { to } : {}) };
      },
    },
    { kind: 'token_actor', what: 'what did this token do (actor = token id)', filter: (r) => ({ actor: pick(r, o.tokens).id }) },
    { kind: 'failed_signins_ip', what: 'failed sign-ins from one IP', filter: (r) => ({ action: 'session.create', outcome: 'failure', ip: pick(r, u.pools.attackers) }) },
    { kind: 'key_30d', what: 'one secret key, last 30 days', filter: (r) => ({ key: pick(r, keys), from: end - 30 * DAY_MS }) },
    {
      kind: 'one_day',
      what: 'a 1-day window mid-year',
      filter: (r) => {
        const from = end - (150 + Math.floor(r() * 60)) * DAY_MS;
        return { from, to: from + DAY_MS };
      },
    },
    { kind: 'project', what: 'one project', filter: (r) => ({ project: pick(r, o.projects).name }) },
    {
      kind: 'deep_page_actor',
      what: 'a page deep in the trail (before = a middle id), one actor',
      filter: (r) => ({ actor: pick(r, [...o.tokens, ...o.users]).id, before: Math.floor(maxId * (0.4 + 0.2 * r())) }),
    },
    { kind: 'rare_ip', what: 'an IP seen only a few times', filter: (r) => ({ ip: pick(r, u.rareIps).ip }) },
  ];
}

/**
 * The p-th percentile of every query of the planned mix: a kind stopped early by its time budget
 * counts as if it had run every round (each of its runs weighs rounds/runs), so the slowest kinds
 * are not diluted by having run less.
 */
function weightedPercentile(kinds, rounds, p) {
  const xs = kinds.flatMap((ms) => ms.map((v) => [v, rounds / ms.length])).sort((a, b) => a[0] - b[0]);
  const total = xs.reduce((n, [, w]) => n + w, 0);
  let acc = 0;
  for (const [v, w] of xs) if ((acc += w) >= (p / 100) * total - 1e-9) return round2(v);
  return null;
}

function summarizeMs(samples) {
  const s = summarize(samples);
  return { n: s.n, p50: round2(s.p50), p95: round2(s.p95), max: round2(s.max) };
}

/**
 * Runs `rounds` rounds of every kind, after one warm-up round (thrown away: a cached dataset starts
 * on a cold disk cache). A kind that has spent `budgetMs` (its warm-up included) stops after at
 * least one measured run: a query that scans the whole table takes a minute a run at 10M records,
 * and twenty of them would hold the bench for half an hour; the report says which kinds stopped.
 */
export async function measureAuditSearch(dataset, { rounds, budgetMs }) {
  const { m, storage, universe: u, info } = dataset;
  const { db, traits, tenancy } = storage;
  const audit = new m.AuditService(db, traits, tenancy);
  const orgId = u.big.id;
  const maxId = Number((await db.selectFrom('audit_events').select((eb) => eb.fn.max('id').as('id')).executeTakeFirstOrThrow()).id);
  const kinds = queryKinds(u, { end: info.end, maxId });
  const r = prng(0x73656172); // "sear": apart from the dataset's seed
  // As inside a request: the connection bound to the caller's org (PostgreSQL row-level security).
  const search = (filter) => tenancy.runAsOrg(orgId, () => audit.list(orgId, filter, PAGE));
  const stats = new Map(kinds.map((k) => [k.kind, { ms: [], rows: [], spent: 0 }]));
  const problems = [];
  const run = async (k, measured) => {
    const filter = k.filter(r);
    const { ms, result } = await timed(() => search(filter));
    const s = stats.get(k.kind);
    s.spent += ms;
    if (!measured) return;
    s.ms.push(ms);
    s.rows.push(result.length);
    if (k.kind === 'rare_ip') {
      const times = u.rareIps.find((x) => x.ip === filter.ip).times;
      if (result.length !== times) problems.push(`rare_ip ${filter.ip}: ${result.length} records found, ${times} written`);
    }
    if (k.kind === 'newest' && result.length !== PAGE) problems.push(`newest: ${result.length} records, not a full page of ${PAGE}`);
  };
  for (const k of kinds) await run(k, false);
  for (let round = 0; round < rounds; round++) {
    // A different order each round: no kind always follows the same other one.
    const order = kinds.map((k) => [r(), k]).sort((a, b) => a[0] - b[0]).map(([, k]) => k);
    for (const k of order) {
      const s = stats.get(k.kind);
      if (s.spent >= budgetMs && s.ms.length >= 1) continue;
      await run(k, true);
    }
  }
  const perKind = [...stats.values()].map((s) => s.ms);
  return {
    page: PAGE,
    rounds,
    queries: kinds.map((k) => {
      const s = stats.get(k.kind);
      return { kind: k.kind, what: k.what, ...summarizeMs(s.ms), rowsMedian: percentile(Float64Array.from(s.rows).sort(), 50), cutShort: s.ms.length < rounds };
    }),
    overallP50Ms: weightedPercentile(perKind, rounds, 50),
    overallP95Ms: weightedPercentile(perKind, rounds, 95),
    overallMaxMs: round2(Math.max(...perKind.flat())),
    problems,
  };
}
