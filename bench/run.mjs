#!/usr/bin/env node
// npm run bench [-- OPTIONS]: KeyNest's throughput and latency against a bare Fastify baseline,
// and what `keynest run` adds to a program's start. See bench/README.md for how to read it.
//
//   --quick            short smoke run (1 s warm-up, 3 s measured, 5 CLI runs, 200,000 audit records);
//                      writes results/quick.json.tmp
//   --db postgres      also measure (b)-(d), (f), (h) and (i) on PostgreSQL (KEYNEST_BENCH_DATABASE_URL, else
//                      KEYNEST_TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test);
//                      the same as KEYNEST_BENCH_DB=postgres
//   --profile          CPU-profile the KeyNest server during each measured run of (b)-(d) into
//                      bench/results/profiles/ (slows it down: the figures are not for comparison)
//   --check            exit 1 when a target fails (errors always exit 1)
//   --server-import F  load module F into the KeyNest server process first (node --import): an
//                      experiment that patches the built server (see bench/experiments/); may repeat;
//                      writes results/experiment.json.tmp unless --out says otherwise
//   --out FILE         where to write the JSON (default bench/results/latest.json)
//   --audit-records N  records in the audit trail that (h) searches and (i) exports (default 10,000,000)
//   --no-cache         build (h)'s SQLite dataset afresh (and remove it afterwards) instead of using or
//                      filling bench/.cache/
//   --duration S, --warmup S, --connections N, --cli-runs N
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { measureChainVerification } from './lib/audit-chain.mjs';
import { openAuditDataset } from './lib/audit-dataset.mjs';
import { measureAuditExport } from './lib/audit-export.mjs';
import { auditOnOffOf, countingAuditRecords } from './lib/audit-on-off.mjs';
import { measureAuditSearch } from './lib/audit-search.mjs';
import { measureCliRun } from './lib/cli-timing.mjs';
import { floorCeilings, measureFloors } from './lib/floors.mjs';
import { measure } from './lib/load.mjs';
import { timed } from './lib/stats.mjs';
import { startServerProcess } from './lib/processes.mjs';
import { evaluateTargets, formatReport, ratiosOf, TARGETS } from './lib/report.mjs';
import { prepareKeynest, SECRET_COUNT } from './lib/setup.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(benchDir, '..');

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    db: { type: 'string' },
    profile: { type: 'boolean', default: false },
    check: { type: 'boolean', default: false },
    'server-import': { type: 'string', multiple: true, default: [] },
    out: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string' },
    'cli-runs': { type: 'string' },
    'audit-records': { type: 'string' },
    'no-cache': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log('usage: npm run bench -- [--quick] [--db postgres] [--profile] [--check] [--server-import FILE]... [--out FILE] [--duration S] [--warmup S] [--connections N] [--cli-runs N] [--audit-records N] [--no-cache]');
  process.exit(0);
}

const db = opt.db ?? process.env.KEYNEST_BENCH_DB ?? 'sqlite';
if (!['sqlite', 'postgres'].includes(db)) {
  console.error(`bench: --db must be sqlite or postgres, got "${db}"`);
  process.exit(2);
}
const positive = (raw, name, dflt) => {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!(n > 0)) {
    console.error(`bench: --${name} must be a positive number`);
    process.exit(2);
  }
  return n;
};
const settings = {
  connections: positive(opt.connections, 'connections', 10),
  warmupS: positive(opt.warmup, 'warmup', opt.quick ? 1 : 3),
  durationS: positive(opt.duration, 'duration', opt.quick ? 3 : 10),
  cliRuns: positive(opt['cli-runs'], 'cli-runs', opt.quick ? 5 : 20),
  auditRecords: Math.round(positive(opt['audit-records'], 'audit-records', opt.quick ? 200_000 : 10_000_000)),
  // (h): rounds of every query kind, and the time after which a kind stops (after at least one run).
  auditSearchRounds: opt.quick ? 5 : 20,
  auditSearchBudgetMs: opt.quick ? 3_000 : 10_000,
  // (i): about this many records in the exported window.
  auditExportRecords: 1_000_000,
};
const pgUrl = process.env.KEYNEST_BENCH_DATABASE_URL || process.env.KEYNEST_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const cacheDir = path.join(benchDir, '.cache');
const databases = db === 'postgres' ? ['sqlite', 'postgres'] : ['sqlite'];
const serverImports = opt['server-import'].map((f) => path.resolve(f));
for (const f of serverImports) {
  if (!existsSync(f)) {
    console.error(`bench: --server-import ${f}: no such file`);
    process.exit(2);
  }
}
const defaultOut = serverImports.length ? 'experiment.json.tmp' : opt.quick ? 'quick.json.tmp' : 'latest.json';
const outFile = path.resolve(opt.out ?? path.join(benchDir, 'results', defaultOut));
const profileDir = path.join(benchDir, 'results', 'profiles');

if (!existsSync(path.join(root, 'packages/server/dist/index.js'))) {
  console.error('bench: the server is not built: run `npx tsc -b` (or npm run build) at the repository root first');
  process.exit(2);
}

function machineInfo() {
  const cpus = os.cpus();
  const git = (args) => spawnSync('git', args, { cwd: root, encoding: 'utf8' }).stdout?.trim() || null;
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: os.platform(),
    release: os.release(),
    node: process.version,
    loadAvgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
    tmpdir: os.tmpdir(),
    gitCommit: git(['rev-parse', 'HEAD']),
    gitDirty: (git(['status', '--porcelain', '--', 'packages']) ?? '') !== '',
  };
}

/** Share of all CPUs busy (any process) over an interval, from /proc/stat; null where there is none. */
function cpuTimes() {
  try {
    const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
    const n = f.map(Number);
    const idle = n[3] + (n[4] ?? 0);
    return { idle, total: n.reduce((a, b) => a + b, 0) };
  } catch {
    return null;
  }
}
function cpuBusyMeter() {
  const start = cpuTimes();
  return {
    async stop() {
      const end = cpuTimes();
      if (!start || !end || end.total === start.total) return null;
      return Math.round(100 * (1 - (end.idle - start.idle) / (end.total - start.total)));
    },
  };
}
async function cpuBusyPct(ms) {
  const meter = cpuBusyMeter();
  await new Promise((r) => setTimeout(r, ms));
  return meter.stop();
}

/** (a) as used for the ratios: the mean of the first and last runs, with their drift. */
function combineBaselines(first, last) {
  if (!first || !last) return first || last ? { name: 'baseline', requestsPerSec: (first ?? last).requestsPerSec, driftPct: null, first, last } : null;
  const rps = Math.round((first.requestsPerSec + last.requestsPerSec) / 2);
  const driftPct = Math.round((100 * (last.requestsPerSec - first.requestsPerSec)) / first.requestsPerSec);
  return { name: 'baseline', requestsPerSec: rps, driftPct, first, last };
}

function log(msg) {
  process.stderr.write(`bench: ${msg}\n`);
}

/**
 * Runs `work` with a server process, and always stops it. A failure to stop after the work is done
 * does not touch the figures already taken: it is a warning (with the server's last words), not an error.
 */
async function withServer(kind, args, work, warn) {
  const nodeArgs = kind === 'keynest' ? serverImports.flatMap((f) => ['--import', pathToFileURL(f).href]) : [];
  const server = await startServerProcess(kind, args, { nodeArgs });
  let result;
  try {
    result = await work(server);
  } catch (err) {
    await server.stop().catch(() => {});
    throw err;
  }
  await server.stop().catch((err) => warn(err.message));
  return result;
}

function profiled(server, name) {
  if (!opt.profile) return {};
  mkdirSync(profileDir, { recursive: true });
  return {
    beforeMeasured: () => server.command('profile-start'),
    afterMeasured: () => server.command(`profile-stop ${path.join(profileDir, `${name}.cpuprofile`)}`),
  };
}

/** (b): one value by the read API token. */
const getOneSpec = (name, server, fx, hooks) => ({
  name,
  url: server.info.url,
  server,
  request: { method: 'GET', path: fx.paths.getOne, headers: { authorization: `Bearer ${fx.readToken}` } },
  ...hooks,
});

/**
 * (b), and on SQLite (g): the same request on a second KeyNest, set up alike, whose read auditing
 * is off, measured just before and just after (b). Idle while the other is measured.
 */
async function measureGetOne(server, fx, database, warn) {
  log(`(b) GET one secret, ${database}`);
  const on = countingAuditRecords(server, profiled(server, `${database}-b-get-one`));
  const b = () => measure(getOneSpec('get_one', server, fx, on.hooks), settings);
  if (database !== 'sqlite') return { getOne: await b(), auditOnOff: null };
  return withServer('keynest', ['--db', database, '--audit-off'], async (offServer) => {
    const fxOff = await prepareKeynest(offServer.info);
    const off = async (when) => {
      log(`(g) GET one secret with read auditing OFF, ${when} (b), ${database}`);
      const c = countingAuditRecords(offServer);
      return { when, m: await measure(getOneSpec(`get_one_audit_off_${when}`, offServer, fxOff, c.hooks), settings), counts: c.counts };
    };
    const before = await off('before');
    const getOne = await b();
    const after = await off('after');
    return { getOne, auditOnOff: auditOnOffOf(database, { m: getOne, counts: on.counts }, [before, after]) };
  }, warn);
}

async function measureKeynest(server, database, warn) {
  const { url } = server.info;
  const fx = await prepareKeynest(server.info);
  const read = { authorization: `Bearer ${fx.readToken}` };
  const out = {};
  const { getOne, auditOnOff } = await measureGetOne(server, fx, database, warn);
  out.getOne = getOne;
  log(`(b') GET one secret as a signed-in user (JWT access token), ${database}`);
  out.getOneUser = await measure({ name: 'get_one_user', url, server, request: { method: 'GET', path: fx.paths.getOne, headers: { authorization: `Bearer ${fx.accessToken}` } }, ...profiled(server, `${database}-b-get-one-user`) }, settings);
  log(`(c) GET all ${SECRET_COUNT} secrets, ${database}`);
  out.listAll = await measure({ name: 'list_all', url, server, request: { method: 'GET', path: fx.paths.listAll, headers: read }, ...profiled(server, `${database}-c-list-all`) }, settings);

  log(`(d) PUT a secret, ${database}`);
  // Every write gets a value never sent before (so each is a new version, never "unchanged"),
  // and goes round-robin over the write environment's 50 keys (so 10 connections rarely race
  // on one key, which on PostgreSQL would measure lock waits and retries instead of writes).
  const runId = randomBytes(4).toString('hex');
  let n = 0;
  let notChanged = 0;
  const put = {
    method: 'PUT',
    path: fx.paths.putKey(0),
    headers: { authorization: `Bearer ${fx.writeToken}`, 'content-type': 'application/json' },
    setupRequest: (req) => {
      const i = n++;
      return { ...req, path: fx.paths.putKey(i), body: JSON.stringify({ value: `bench-${runId}-${i}` }) };
    },
    onResponse: (status, body) => {
      if (status !== 200) return;
      try {
        if (JSON.parse(body).status !== 'changed') notChanged++;
      } catch {
        notChanged++;
      }
    },
  };
  out.putOne = await measure(
    {
      name: 'put_one',
      url,
      server,
      request: put,
      displayPath: fx.paths.putKey(0).replace(/[^/]+$/, '{WRITE_00..49}'),
      bodyProblems: () => (notChanged ? [`${notChanged} writes were not answered with status "changed"`] : []),
      ...profiled(server, `${database}-d-put-one`),
    },
    settings,
  );
  return { section: out, fx, auditOnOff };
}

/** (h) search and (i) export of a large audit trail on `database`, into `results`. */
async function measureAuditTrail(database, results) {
  const records = settings.auditRecords;
  log(`(h) audit dataset of ${records.toLocaleString('en-US')} records, ${database}`);
  const dataset = await openAuditDataset({ root, database, pgUrl, records, cacheDir, useCache: !opt['no-cache'], log });
  if (dataset.skipped) {
    log(`(h)/(i) skipped on ${database}: ${dataset.skipped}`);
    results.auditSearch[database] = { database, records, skipped: dataset.skipped };
    return;
  }
  const { info } = dataset;
  log(info.cached ? `(h) dataset from the cache ${path.relative(root, info.cacheDir)} (built in ${Math.round(info.generationMs / 1000)} s on ${info.builtAt})` : `(h) dataset built in ${Math.round(info.generationMs / 1000)} s`);
  try {
    for (const p of info.problems ?? []) results.problems.push(`(h) dataset on ${database}: ${p}`);
    log(`(h) audit search, ${settings.auditSearchRounds} rounds of each query, ${database}`);
    const search = await timed(() => measureAuditSearch(dataset, { rounds: settings.auditSearchRounds, budgetMs: settings.auditSearchBudgetMs }));
    const cacheDirShown = info.cacheDir && path.relative(root, info.cacheDir);
    results.auditSearch[database] = { database, records, dataset: { ...info, cacheDir: cacheDirShown }, ...search.result, elapsedS: Math.round(search.ms / 1000) };
    for (const p of search.result.problems) results.problems.push(`(h) ${database}: ${p}`);
    log(`(i) audit export of about ${settings.auditExportRecords.toLocaleString('en-US')} records, ${database}`);
    const exported = await timed(() => measureAuditExport(dataset, { targetRecords: settings.auditExportRecords, rounds: 2 }));
    results.auditExport[database] = { ...exported.result, elapsedS: Math.round(exported.ms / 1000) };
    for (const p of exported.result.problems) results.problems.push(`(i) ${database}: ${p}`);
  } finally {
    await dataset.close();
  }
}

async function main() {
  const started = Date.now();
  const results = {
    schema: 1,
    date: new Date().toISOString(),
    quick: opt.quick,
    profiled: opt.profile,
    experiment: serverImports.length ? serverImports.map((f) => path.relative(root, f)) : null,
    machine: machineInfo(),
    settings: { ...settings, secretsPerEnvironment: SECRET_COUNT, databases },
    load: {},
    cli: null,
    ratios: {},
    targets: [],
    thresholds: TARGETS,
    valid: true,
    problems: [],
    warnings: [],
  };
  const fail = (where, err) => results.problems.push(`${where}: ${err.message ?? err}`);
  const warn = (msg) => results.warnings.push(msg);
  // Other work on the machine (another build, a test suite) skews everything: noted, not refused.
  results.machine.cpuBusyBeforeStartPct = await cpuBusyPct(1000);

  // The baseline is measured first and again last: the two should agree; when they do not, other
  // work on the machine changed during the run and every ratio is suspect (reported as drift).
  const baseline = async (when) => {
    log(`(a) bare Fastify baseline, ${when} (${settings.warmupS} s warm-up + ${settings.durationS} s)`);
    try {
      return await withServer('fastify', [], async (srv) => {
        results.machine.fastify = srv.info.fastifyVersion;
        return await measure({ name: `baseline_${when}`, url: srv.info.url, server: srv, request: { method: 'GET', path: '/' } }, settings);
      }, warn);
    } catch (err) {
      fail(`(a) baseline ${when}`, err);
      return null;
    }
  };
  const baselineFirst = await baseline('first');

  for (const database of databases) {
    try {
      await withServer('keynest', ['--db', database], async (srv) => {
        const { section, fx, auditOnOff } = await measureKeynest(srv, database, warn);
        results.load[database] = { database, ...section };
        if (auditOnOff) results.auditOnOff = auditOnOff;
        if (database === 'sqlite') {
          try {
            results.floors = await measureFloors({ keynestUrl: srv.info.url, fx, settings, log, withServer: (kind, args, work) => withServer(kind, args, work, warn) });
          } catch (err) {
            fail('floors of (b) and (c)', err);
          }
          log(`(e) keynest run -- node -e 0, ${settings.cliRuns} runs`);
          results.cli = await measureCliRun({ root, runs: settings.cliRuns, keynestEnv: fx.cliEnv });
        }
      }, warn);
    } catch (err) {
      fail(`KeyNest on ${database}`, err);
    }
  }

  results.auditChain = {};
  for (const database of databases) {
    const records = opt.quick ? 20_000 : 200_000;
    log(`(f) audit chain verification, ${records.toLocaleString('en-US')} records, ${database}`);
    try {
      results.auditChain[database] = await measureChainVerification({ root, database, pgUrl, records });
      for (const p of results.auditChain[database].problems) results.problems.push(`(f) ${database}: ${p}`);
    } catch (err) {
      fail(`(f) audit chain on ${database}`, err);
    }
  }

  const baselineLast = await baseline('last');
  results.load.baseline = combineBaselines(baselineFirst, baselineLast);

  // (h) and (i) come after the last baseline: building their dataset takes minutes of CPU and disk,
  // which between the two baselines would only blur the drift that vouches for the load runs.
  results.auditSearch = {};
  results.auditExport = {};
  for (const database of databases) {
    await measureAuditTrail(database, results).catch((err) => fail(`(h)/(i) audit search and export on ${database}`, err));
  }

  for (const p of results.auditOnOff?.problems ?? []) results.problems.push(`(g) ${p}`);
  const floors = Object.entries(results.floors ?? {}).map(([k, m]) => [`floor ${k}`, m]);
  const measured = [['(a) baseline first', baselineFirst], ['(a) baseline last', baselineLast], ...floors, ...databases.flatMap((d) => ['getOne', 'getOneUser', 'listAll', 'putOne'].map((k) => [`${d} ${k}`, results.load[d]?.[k]]))];
  for (const [name, m] of measured) for (const p of m?.problems ?? []) results.problems.push(`${name}: ${p}`);
  if (results.cli?.problems?.length) for (const p of results.cli.problems) results.problems.push(`(e) keynest run: ${p}`);
  if (results.cli?.skipped) log(`(e) skipped: ${results.cli.skipped}`);

  for (const d of databases) results.ratios[d] = ratiosOf(results.load.baseline, results.load[d]);
  results.ceilings = floorCeilings(results.floors, results.load.baseline, results.auditOnOff);
  results.targets = evaluateTargets(results);
  results.elapsedS = Math.round((Date.now() - started) / 1000);
  results.valid = results.problems.length === 0;

  mkdirSync(path.dirname(outFile), { recursive: true });
  writeFileSync(outFile, `${JSON.stringify(results, null, 2)}\n`);
  console.log(formatReport(results));
  console.log(`\nwrote ${path.relative(process.cwd(), outFile)}`);

  if (!results.valid) process.exitCode = 1;
  else if (opt.check && results.targets.some((t) => t.pass === false && !t.informational)) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`bench: ${err.stack ?? err.message}`);
  process.exit(1);
});
