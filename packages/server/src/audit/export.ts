import { chainOf } from '@keynest/sdk/audit-chain';
import type { Db } from '../storage/database.js';
import type { AuditKeys } from './keys.js';
import * as store from './store.js';

export const EXPORT_FORMATS = ['jsonl', 'csv'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Records read per query while exporting. */
const EXPORT_PAGE = 2000;

export interface ExportWindow {
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
}

/** The stored columns, in the order a CSV export lists them. */
const CSV_COLUMNS = [
  'id', 'at', 'org_id', 'action', 'outcome', 'actor_type', 'actor_id', 'actor_name', 'target_type', 'target_id', 'target_name',
  'project', 'environment', 'ip', 'user_agent', 'request_id', 'details', 'chain', 'seq', 'prev_hash', 'hash',
] as const;

/**
 * An org's audit records in chain order, one line at a time (constant memory however many).
 * JSON lines are verifiable offline (`keynest audit verify --file`), each `{type, <type>: …}`: a
 * header (`type: export`), every record with all its fields as stored (so the hash can be
 * recomputed), then the signed checkpoints that fall inside the exported records and the public
 * keys that sign them.
 */
export async function* exportLines(db: Db, keys: AuditKeys, orgId: string, format: ExportFormat, window: ExportWindow, now: number): AsyncGenerator<string> {
  const chain = chainOf(orgId);
  const range = await store.seqRange(db, chain, window.from, window.to);
  if (format === 'jsonl') {
    const header = { type: 'export', format: 'keynest-audit-v1', chain, exportedAt: new Date(now).toISOString(), from: isoOrNull(window.from), to: isoOrNull(window.to) };
    // The seq range lets a verifier notice records missing from either end of the file.
    yield `${JSON.stringify({ ...header, firstSeq: range?.first ?? null, lastSeq: range?.last ?? null })}\n`;
  } else {
    yield `${CSV_COLUMNS.join(',')}\r\n`;
  }
  if (range) {
    for (let after = range.first - 1; ; ) {
      const page = await store.chainRangePage(db, chain, after, range.last, EXPORT_PAGE);
      for (const row of page) yield format === 'jsonl' ? `${JSON.stringify({ type: 'record', record: row })}\n` : csvLine(row);
      if (page.length < EXPORT_PAGE) break;
      after = Number(page[page.length - 1]!.seq);
    }
  }
  if (format !== 'jsonl') return;
  for (const c of await store.listCheckpoints(db, chain)) {
    // Those the exported records can be checked against, and anchors (where a purged chain starts).
    if (range && c.seq <= range.last && (c.seq >= range.first || c.kind === 'anchor')) yield `${JSON.stringify({ type: 'checkpoint', checkpoint: c })}\n`;
  }
  await keys.reload();
  for (const k of keys.list()) yield `${JSON.stringify({ type: 'key', key: { id: k.id, algorithm: 'Ed25519', publicKey: k.publicKeyDer } })}\n`;
}

function isoOrNull(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

function csvLine(row: store.StoredAuditRow): string {
  return `${CSV_COLUMNS.map((c) => csvCell(c === 'at' ? new Date(Number(row.at)).toISOString() : row[c])).join(',')}\r\n`;
}

/**
 * RFC 4180 quoting, and no cell a spreadsheet would run as a formula: user agents, names and
 * details come from callers, and `=HYPERLINK(…)` in an auditor's spreadsheet is an attack.
 */
function csvCell(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
