import { expectPositionals, parseCommand, parseCount } from '../args.js';
import { connect } from '../config/context.js';
import { emit, type Io } from '../io.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';

const USAGE = `Usage: keynest audit list [--limit N] [--before ID]

Lists audit events, newest first. --before ID pages back from an earlier answer's last event.
`;

const LIST_OPTIONS = { limit: { type: 'string' }, before: { type: 'string' } } as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('audit', argv, io, { list }, USAGE, LIST_OPTIONS);
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
