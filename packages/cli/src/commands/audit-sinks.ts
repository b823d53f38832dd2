/**
 * `keynest audit sinks`: the organization's audit webhooks (needs settings:manage; adding and
 * removing need a recent sign-in). Each receives the org's audit records as signed POSTs; its
 * signing secret is printed once, when it is added.
 */
import type { AuditSink } from '@keynest/sdk';
import { expectPositionals, parseCommand } from '../args.js';
import { connect } from '../config/context.js';
import { UsageError } from '../errors.js';
import { emit, type Io } from '../io.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';

const USAGE = `Usage: keynest audit sinks <subcommand>
  list                          the organization's audit webhooks and how delivery is going
  add --url URL [--label TEXT]  send the organization's audit records to URL (https, a public
                                address) as signed POSTs; prints the signing secret once
  remove ID                     stop sending to a webhook
  test ID                       send one signed test delivery; exits 1 unless it was accepted
Receivers check X-KeyNest-Signature with the secret (docs/audit.md, "Streaming to sinks").
`;

const ADD_OPTIONS = { url: { type: 'string' }, label: { type: 'string' } } as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('audit sinks', argv, io, { list, add, remove, test }, USAGE, ADD_OPTIONS);
}

/** "3 records, 42 s" behind, or "-" when nothing waits. */
function behind(s: AuditSink['status']): string {
  return s.recordsBehind === 0 ? '-' : `${s.recordsBehind} (${s.secondsBehind} s)`;
}

async function list(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  const sinks = await client.listAuditSinks();
  emit(io, globals, { sinks }, () =>
    sinks.length === 0
      ? 'No audit sinks.'
      : table(
          ['ID', 'URL', 'LABEL', 'DELIVERED UP TO', 'BEHIND', 'FAILURES', 'LAST ERROR'],
          sinks.map((s) => [
            s.id,
            s.url,
            s.label ?? '-',
            s.status.lastDeliveredId === null ? '-' : `${s.status.lastDeliveredId} (${when(s.status.lastDeliveredAt)})`,
            behind(s.status),
            String(s.status.consecutiveFailures),
            s.status.lastError === null ? '-' : `${s.status.lastError} (${when(s.status.lastErrorAt)})`,
          ]),
        ),
  );
  return 0;
}

async function add(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, ADD_OPTIONS, USAGE);
  expectPositionals(positionals, []);
  if (values.url === undefined) throw new UsageError('--url is required: keynest audit sinks add --url https://…');
  const { client } = connect(io, globals, { auth: true });
  const created = await client.addAuditSink(values.label === undefined ? { url: values.url } : { url: values.url, label: values.label });
  emit(io, globals, created, () =>
    [
      `Added audit sink ${created.sink.id}: the organization's audit records now go to ${created.sink.url}.`,
      'Its signing secret, for the receiver to check X-KeyNest-Signature with. Store it now: it will not be shown again.',
      created.secret,
    ].join('\n'),
  );
  return 0;
}

async function remove(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  const [id] = expectPositionals(positionals, ['ID']);
  const { client } = connect(io, globals, { auth: true });
  await client.removeAuditSink(id!);
  emit(io, globals, { removed: { id } }, () => `Removed audit sink ${id}.`);
  return 0;
}

async function test(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  const [id] = expectPositionals(positionals, ['ID']);
  const { client } = connect(io, globals, { auth: true });
  const result = await client.testAuditSink(id!);
  emit(io, globals, result, () =>
    result.delivered ? `Delivered: the receiver answered HTTP ${result.status} in ${result.durationMs} ms.` : `Not delivered: ${result.error ?? 'no answer'}.`,
  );
  return result.delivered ? 0 : 1;
}
