/**
 * `keynest audit verify --file`: checks a JSON-lines audit export offline, with the same chain
 * definition the server uses (@keynest/sdk/audit-chain). Two streaming passes over the file: the
 * first gathers its header, checkpoints and keys, the second feeds the records in order, so an
 * export of any size verifies in constant memory.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { accessSync, constants, createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { ChainVerifier, type SignedCheckpoint, type StoredRecord } from '@keynest/sdk/audit-chain';
import type { AuditVerification } from '@keynest/sdk';
import { CliError, UsageError } from './errors.js';
import { readTextFile } from './secret-input.js';

interface Header {
  type: 'export';
  format: string;
  chain: string;
  firstSeq: number | null;
  lastSeq: number | null;
}

async function* linesOf(file: string): AsyncGenerator<{ n: number; value: Record<string, unknown> }> {
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new UsageError(`${file}:${n} is not JSON: not a keynest audit export (jsonl)`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`${file}:${n} is not a JSON object`);
    yield { n, value: value as Record<string, unknown> };
  }
}

function keyObject(der: unknown, where: string): KeyObject {
  try {
    return createPublicKey({ key: Buffer.from(String(der), 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw new UsageError(`${where}: not an Ed25519 public key (SPKI DER, base64)`);
  }
}

/** `--keys`: the answer of GET /api/v1/audit/checkpoints, its `keys`, or a list of {id, publicKey}. */
function pinnedKeys(file: string): Map<string, KeyObject> {
  let parsed: unknown;
  const text = readTextFile(file);
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--keys ${file}: cannot read it as JSON (${(err as Error).message.split('\n')[0]})`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { keys?: unknown })?.keys;
  if (!Array.isArray(list)) throw new UsageError(`--keys ${file}: expected a list of {id, publicKey} or an object with "keys"`);
  return new Map(list.map((k: { id?: unknown; publicKey?: unknown }, i) => [String(k.id), keyObject(k.publicKey, `--keys ${file} entry ${i + 1}`)]));
}

export async function verifyExportFile(file: string, keysFile: string | undefined): Promise<AuditVerification> {
  try {
    accessSync(file, constants.R_OK);
  } catch (error) {
    throw new CliError('file_unreadable', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let header: Header | null = null;
  const checkpoints: SignedCheckpoint[] = [];
  const fileKeys = new Map<string, KeyObject>();
  for await (const { n, value } of linesOf(file)) {
    if (n === 1 || header === null) {
      if (value.type !== 'export' || value.format !== 'keynest-audit-v1') throw new UsageError(`${file} is not a keynest audit export (jsonl): its first line has no keynest-audit-v1 header`);
      header = value as unknown as Header;
      continue;
    }
    if (value.type === 'checkpoint') checkpoints.push(value.checkpoint as SignedCheckpoint);
    else if (value.type === 'key') {
      const key = value.key as { id?: unknown; publicKey?: unknown } | undefined;
      fileKeys.set(String(key?.id), keyObject(key?.publicKey, `${file}:${n}`));
    }
  }
  if (header === null) throw new UsageError(`${file} is empty`);
  const keys = keysFile === undefined ? fileKeys : pinnedKeys(keysFile);
  const verifier = new ChainVerifier(header.chain, checkpoints, keys, { segment: true });
  let firstSeen: number | null = null;
  let lastSeen: number | null = null;
  for await (const { value } of linesOf(file)) {
    if (value.type !== 'record' || typeof value.record !== 'object' || value.record === null) continue;
    const r = value.record as StoredRecord;
    firstSeen ??= Number(r.seq);
    lastSeen = Number(r.seq);
    if (!verifier.push(r)) break;
  }
  const result = verifier.finish();
  let broken = result.broken;
  // Records cut from either end of the file: the header says which stretch was exported.
  if (!broken && header.firstSeq !== null && firstSeen !== header.firstSeq) {
    broken = { reason: 'missing_records', id: null, seq: header.firstSeq, message: `the export starts at seq ${header.firstSeq} but its first record is ${firstSeen === null ? 'missing' : `seq ${firstSeen}`}` };
  }
  if (!broken && header.lastSeq !== null && lastSeen !== header.lastSeq) {
    broken = { reason: 'truncated', id: null, seq: (lastSeen ?? 0) + 1, message: `the export ends at seq ${header.lastSeq} but its last record is ${lastSeen === null ? 'missing' : `seq ${lastSeen}`}` };
  }
  return {
    ok: broken === null,
    records: result.records,
    head: result.head,
    checkpoints: result.checkpoints,
    anchor: result.anchor && { seq: result.anchor.seq, hash: result.anchor.hash, at: new Date(result.anchor.at).toISOString() },
    firstSeq: result.firstSeq,
    broken: broken && { reason: broken.reason, recordId: broken.id, seq: broken.seq, message: broken.message },
  };
}
