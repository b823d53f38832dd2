// (i) Audit export speed: a JSON-lines export (audit/export.ts exportLines, what GET
// /api/v1/audit/export streams) of a time window of the big org, about a million records, into a
// sink that only counts, as the route pipes it into the response (Readable.from, strings encoded
// to bytes). The same-run baseline, as in (f), is a plain read of the same rows in the same pages,
// so the ratio says what the export itself costs on this machine, whatever its speed today.
// Memory must stay flat however many records: the peak RSS growth is sampled during each export.
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fastest, timed } from './stats.mjs';

/** audit/export.ts EXPORT_PAGE: the baseline reads in the export's own pages. */
const EXPORT_PAGE = 2000;
const DAY_MS = 86_400_000;
const MB = 1e6;
/** RSS is sampled every this many lines (a /proc read: cheap, but not free). */
const RSS_EVERY = 2000;

/** A Writable that counts bytes and record lines, and the peak RSS growth while it is written to. */
function countingSink() {
  const rss0 = process.memoryUsage.rss();
  const c = { bytes: 0, lines: 0, records: 0, peakRss: rss0, rss0 };
  const sink = new Writable({
    write(chunk, _enc, done) {
      c.bytes += chunk.length;
      if (++c.lines % RSS_EVERY === 0) c.peakRss = Math.max(c.peakRss, process.memoryUsage.rss());
      // Record lines are `{"type":"record",...}`: the 10th byte is the 'r' of "record".
      if (chunk[9] === 0x72) c.records++;
      done();
    },
  });
  return { sink, counts: c };
}

export async function measureAuditExport(dataset, { targetRecords, rounds }) {
  const { m, storage, universe: u, info, keys } = dataset;
  const { db } = storage;
  const orgId = u.big.id;
  const chain = m.chainOf(orgId);
  // A window of the big org that holds about `targetRecords` (the whole year if it holds fewer),
  // ending a month before the newest record: a past period, as an auditor asks for one.
  const all = await m.seqRange(db, chain, undefined, undefined);
  const days = Math.min(335, Math.ceil((365 * targetRecords) / (all.last - all.first + 1)));
  const to = info.end - 30 * DAY_MS;
  const window = { from: to - days * DAY_MS, to };
  const range = await m.seqRange(db, chain, window.from, window.to);
  const records = range.last - range.first + 1;

  const exportOnce = async () => {
    const { sink, counts } = countingSink();
    // The route's path: a Readable over the lines, piped into the response (here the sink).
    await pipeline(Readable.from(m.exportLines(db, keys, orgId, 'jsonl', window, info.end)), sink);
    return counts;
  };
  const readOnce = async () => {
    let n = 0;
    for (let after = range.first - 1; ; ) {
      const page = await m.chainRangePage(db, chain, after, range.last, EXPORT_PAGE);
      n += page.length;
      if (page.length < EXPORT_PAGE) return n;
      after = Number(page[page.length - 1].seq);
    }
  };
  // Interleaved, best of each: a burst of other work on the machine hits both alike.
  const reads = [];
  const exports = [];
  for (let i = 0; i < rounds; i++) {
    reads.push(await timed(readOnce));
    exports.push(await timed(exportOnce));
  }
  const e = fastest(exports);
  const r = fastest(reads);
  const problems = [];
  for (const x of exports) if (x.result.records !== records) problems.push(`an export wrote ${x.result.records} records, not the ${records} of its window`);
  if (r.result !== records) problems.push(`the plain read saw ${r.result} records, not ${records}`);
  const growth = Math.max(...exports.map((x) => x.result.peakRss - x.result.rss0));
  return {
    database: storage.traits.name,
    records,
    windowDays: days,
    bytes: e.result.bytes,
    exportMs: Math.round(e.ms),
    exportRecordsPerSec: Math.round((records / e.ms) * 1000),
    exportMBPerSec: Math.round((e.result.bytes / MB / e.ms) * 1000 * 10) / 10,
    readMs: Math.round(r.ms),
    readRecordsPerSec: Math.round((records / r.ms) * 1000),
    exportVsRead: Math.round((r.ms / e.ms) * 1000) / 1000,
    // The largest of the runs: what holding the export in memory would cost is its size, `bytes`.
    peakRssGrowthMB: Math.round(growth / MB),
    problems,
  };
}
