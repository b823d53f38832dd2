import { expectPositionals, parseCommand, parseCount } from '../args.js';
import { connect } from '../config/context.js';
import { emit, type Io } from '../io.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';

const USAGE = `Usage: keynest audit list [--limit N] [--before ID]
       keynest audit verify
       keynest audit checkpoint

list        Lists audit events, newest first. --before ID pages back from an earlier answer's last event.
verify      Checks the org's whole audit hash chain against its signed checkpoints. Exits 1 and names
            the first broken record when a record was changed, removed, or the tail cut off.
checkpoint  Signs the head of the chain now (checkpoints are also made periodically).
`;

const LIST_OPTIONS = { limit: { type: 'string' }, before: { type: 'string' } } as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('audit', argv, io, { list, verify, checkpoint }, USAGE, LIST_OPTIONS);
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
  const { client } = connect(io, globals, { auth: true });
  const events = await client.listAudit({ limit, before: values.before });
  emit(io, globals, { events }, () =>
    events.length === 0
      ? 'No audit events.'
      : table(
          ['ID', 'AT', 'ACTION', 'ACTOR', 'TARGET', 'OUTCOME', 'IP'],
          events.map((e) => [
            String(e.id),
            when(e.at),
            e.action,
            `${e.actor.type}:${e.actor.id}`,
            `${e.target.type}:${e.target.name ?? e.target.id}`,
            e.outcome,
            e.ip ?? '-',
          ]),
        ),
  );
  return 0;
}
