import { expectPositionals, parseCommand, parseCount } from '../args.js';
import { connect } from '../config/context.js';
import { emit, type Io } from '../io.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AuditVerification } from '@keynest/sdk';
import { verifyExportFile } from '../audit-file.js';
import { timeOf } from '../duration.js';
import { CliError, UsageError } from '../errors.js';
import { run as sinks } from './audit-sinks.js';

const USAGE = `Usage: keynest audit search [--from TIME] [--to TIME] [--actor WHO] [--action ACTION] [--project P]
                            [--env E] [--key KEY] [--ip IP] [--outcome success|failure] [--login NAME]
                            [--limit N] [--before ID]
       keynest audit hash VALUE [--login]
       keynest audit export [--format jsonl|csv] [--from TIME] [--to TIME] [--output FILE]
       keynest audit verify [--file EXPORT.jsonl [--keys KEYS.json]]
       keynest audit checkpoint
       keynest audit sinks list|add|remove|test

search      Audit events matching every given filter, newest first (\`list\` is the same command).
            TIME is ISO-8601 (2026-11-01, 2026-11-01T09:00:00Z) or a duration ago (7d, 12h).
            WHO is a user or token id, an email or a token name. ACTION matches itself and every
            action under it (secret matches secret.read, secret.write, ...). --before ID pages
            back: pass the id the previous page printed as "next".
            --login NAME finds the failed sign-ins and lockouts where NAME was typed (the log keeps
            only a keyed digest of what was typed: sometimes it is a password).
            e.g. who read production secrets this week:
                 keynest audit search --action secret.read --env production --from 7d
hash        The keyed digest (hmac-sha256:...) the log keeps for VALUE, to look for it in an
            export or a sink; --login normalises VALUE as sign-in does.
export      Streams the records of a period (default: all) to stdout or --output FILE (mode 0600).
            jsonl carries every record's chain links, the signed checkpoints and their public keys,
            so it verifies offline; csv is for spreadsheets (cells that could run as formulas are
            prefixed with ').
verify      Checks the org's whole audit hash chain against its signed checkpoints on the server,
            or with --file a jsonl export offline (no server needed). Exits 1 and names the first
            broken record when a record was changed, removed, or the tail cut off. --keys pins
            the checkpoint keys (the answer of GET /api/v1/audit/checkpoints, or its "keys"),
            instead of trusting the keys the file carries.
checkpoint  Signs the head of the chain now (checkpoints are also made periodically).
sinks       The organization's audit webhooks: keynest audit sinks --help.
`;

const LIST_OPTIONS = {
  limit: { type: 'string' },
  before: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  actor: { type: 'string' },
  action: { type: 'string' },
  project: { type: 'string' },
  env: { type: 'string' },
  key: { type: 'string' },
  ip: { type: 'string' },
  outcome: { type: 'string' },
  login: { type: 'string' },
} as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('audit', argv, io, { search: list, list, export: exportRecords, verify, checkpoint, hash, sinks }, USAGE, LIST_OPTIONS);
}

const EXPORT_OPTIONS = { format: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, output: { type: 'string', short: 'o' } } as const;

async function exportRecords(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, EXPORT_OPTIONS, USAGE);
  expectPositionals(positionals, []);
  const format = values.format ?? 'jsonl';
  if (format !== 'jsonl' && format !== 'csv') throw new UsageError(`--format must be jsonl or csv, not "${format}"`);
  const { client } = connect(io, globals, { auth: true });
  const body = await client.exportAudit({ format, from: timeOf('--from', values.from), to: timeOf('--to', values.to) });
  // Straight through, never whole in memory: a year of records is large.
  if (values.output === undefined) {
    await pipeline(Readable.from(body), io.stdout, { end: false });
    return 0;
  }
  try {
    await pipeline(Readable.from(body), createWriteStream(values.output, { mode: 0o600 }));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // A file system refusal is the user's to fix; anything else (the server cut off) is reported as is.
    if (code && /^E[A-Z]+$/.test(code) && code !== 'ECONNRESET') throw new CliError('file_unwritable', `cannot write ${values.output}: ${code}`);
    throw error;
  }
  return 0;
}

const VERIFY_OPTIONS = { file: { type: 'string' }, keys: { type: 'string' } } as const;

async function verify(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, VERIFY_OPTIONS, USAGE);
  expectPositionals(positionals, []);
  if (values.keys !== undefined && values.file === undefined) throw new UsageError('--keys goes with --file');
  let result: AuditVerification;
  if (values.file !== undefined) result = await verifyExportFile(values.file, values.keys);
  else {
    const { client } = connect(io, globals, { auth: true });
    result = await client.verifyAudit();
  }
  emit(io, globals, result, () => {
    const from = result.anchor
      ? ` (from seq ${result.anchor.seq + 1}; earlier records purged by retention on ${when(result.anchor.at)})`
      : result.firstSeq !== undefined && result.firstSeq !== null && result.firstSeq > 1
        ? ` (seq ${result.firstSeq} to ${result.head.seq})`
        : '';
    if (result.broken) {
      const where = result.broken.recordId !== null ? `record ${result.broken.recordId}` : `seq ${result.broken.seq}`;
      return `Audit chain BROKEN at ${where} (${result.broken.reason}): ${result.broken.message}\n${result.records} records verified before it${from}.`;
    }
    return `Audit chain intact: ${result.records} records${from}, head seq ${result.head.seq}, ${result.checkpoints} signed checkpoints match.`;
  });
  return result.ok ? 0 : 1;
}

async function checkpoint(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  const made = await client.checkpointAudit();
  emit(io, globals, { checkpoint: made }, () => (made ? `Signed checkpoint at seq ${made.seq} (${made.hash}).` : 'The audit chain is empty: nothing to sign.'));
  return 0;
}

async function list(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, LIST_OPTIONS, USAGE);
  expectPositionals(positionals, []);
  const limit = parseCount('--limit', values.limit);
  if (values.outcome !== undefined && values.outcome !== 'success' && values.outcome !== 'failure') throw new UsageError(`--outcome must be success or failure, not "${values.outcome}"`);
  const { client } = connect(io, globals, { auth: true });
  const page = await client.searchAudit({
    limit,
    before: values.before,
    from: timeOf('--from', values.from),
    to: timeOf('--to', values.to),
    actor: values.actor,
    action: values.action,
    project: values.project,
    environment: values.env,
    key: values.key,
    ip: values.ip,
    outcome: values.outcome,
    login: values.login,
  });
  const { events } = page;
  emit(io, globals, page, () => {
    if (events.length === 0) return 'No audit events.';
    const rows = table(
      ['ID', 'AT', 'ACTION', 'ACTOR', 'TARGET', 'WHERE', 'OUTCOME', 'IP'],
      events.map((e) => [
        String(e.id),
        when(e.at),
        e.action,
        e.actor.name ?? `${e.actor.type}:${e.actor.id ?? '-'}`,
        `${e.target.type}:${e.target.name ?? e.target.id}`,
        e.project ? `${e.project}/${e.environment ?? '*'}` : '-',
        e.outcome,
        e.ip ?? '-',
      ]),
    );
    return page.next === null ? rows : `${rows}\nnext: --before ${page.next}`;
  });
  return 0;
}

async function hash(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, { login: { type: 'boolean' } } as const, USAGE);
  expectPositionals(positionals, ['VALUE']);
  const { client } = connect(io, globals, { auth: true });
  const digest = await client.auditHash(positionals[0]!, values.login ? { as: 'login' } : {});
  emit(io, globals, { hash: digest }, () => digest);
  return 0;
}
