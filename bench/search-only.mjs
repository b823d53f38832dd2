// (h) alone: audit search on the large trail (builds or opens the cached dataset), printed as in the bench.
// node bench/search-only.mjs [--db sqlite|postgres] [--records N] [--rounds N]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openAuditDataset } from './lib/audit-dataset.mjs';
import { measureAuditSearch } from './lib/audit-search.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values: opt } = parseArgs({ options: { db: { type: 'string', default: 'sqlite' }, records: { type: 'string', default: '10000000' }, rounds: { type: 'string', default: '20' } } });
const pgUrl = process.env.KEYNEST_BENCH_DATABASE_URL || process.env.KEYNEST_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const log = (m) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${m}`);
const dataset = await openAuditDataset({ root, database: opt.db, pgUrl, records: Number(opt.records), cacheDir: path.join(root, 'bench/.cache'), useCache: true, log });
if (dataset.skipped) throw new Error(dataset.skipped);
try {
  log(`dataset: ${JSON.stringify(dataset.info)}`);
  const r = await measureAuditSearch(dataset, { rounds: Number(opt.rounds), budgetMs: 10_000 });
  for (const q of r.queries) log(`${q.kind.padEnd(18)} runs ${String(q.n).padStart(3)}  p50 ${q.p50} ms  p95 ${q.p95} ms  max ${q.max} ms  rows ${q.rowsMedian}${q.cutShort ? '  (stopped early)' : ''}`);
  log(`overall p95 ${r.overallP95Ms} ms; problems: ${JSON.stringify(r.problems)}`);
} finally {
  await dataset.close();
}
