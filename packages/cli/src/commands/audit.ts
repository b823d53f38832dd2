import { expectPositionals, parseCommand, parseCount } from '../args.js';
import { connect } from '../config/context.js';
import { emit, type Io } from '../io.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';
import { parseDuration } from '../duration.js';
import { UsageError } from '../errors.js';

/** ISO-8601 as given, or a duration (7d) counted back from now. */
function timeOf(flag: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (/^\d+[smhdwy]/i.test(text)) {
    const seconds = parseDuration(text);
    if (seconds === null) throw new UsageError(`${flag} must be a time or a duration ago, not "${text}"`);
    return new Date(Date.now() - seconds * 1000).toISOString();
  }
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new UsageError(`${flag} must be ISO-8601 (2026-11-01T09:00:00Z) or a duration ago (7d), not "${text}"`);
  return new Date(ms).toISOString();
}

const USAGE = `Usage: keynest audit search [--from TIME] [--to TIME] [--actor WHO] [--action ACTION] [--project P]
                            [--env E] [--key KEY] [--ip IP] [--outcome success|failure] [--limit N] [--before ID]
       keynest audit verify
       keynest audit checkpoint

search      Audit events matching every given filter, newest first (\`list\` is the same command).
            TIME is ISO-8601 (2026-11-01, 2026-11-01T09:00:00Z) or a duration ago (7d, 12h).
            WHO is a user or token id, an email or a token name. ACTION matches itself and every
            action under it (secret matches secret.read, secret.write, ...). --before ID pages
            back: pass the id the previous page printed as "next".
            e.g. who read production secrets this week:
                 keynest audit search --action secret.read --env production --from 7d
verify      Checks the org's whole audit hash chain against its signed checkpoints. Exits 1 and names
            the first broken record when a record was changed, removed, or the tail cut off.
checkpoint  Signs the head of the chain now (checkpoints are also made periodically).
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
} as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('audit', argv, io, { search: list, list, verify, checkpoint }, USAGE, LIST_OPTIONS);
}

async function verify(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  const result = await client.verifyAudit();
  emit(io, globals, result, () => {
    const from = result.anchor ? ` (from seq ${result.anchor.seq + 1}; earlier records purged by retention on ${when(result.anchor.at)})` : '';
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
