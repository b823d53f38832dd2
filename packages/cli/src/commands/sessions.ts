import type { SessionInfo, SessionLocation } from '@keynest/sdk';
import { expectPositionals, parseCommand } from '../args.js';
import { connect } from '../config/context.js';
import { UsageError } from '../errors.js';
import { emit, type Io } from '../io.js';
import { table, when } from '../table.js';
import { dispatch } from './group.js';

const USAGE = `Usage: keynest sessions <subcommand>
  list                 your live sign-in sessions in this organization (* marks this one)
  revoke ID            end one session (ending this one signs you out on the server)
  revoke --others      end every session except this one
  revoke --all         end every session, this one included
A session ends by itself after its lifetime or when unused for too long (see keynest login --help).
`;

const REVOKE_OPTIONS = { others: { type: 'boolean' }, all: { type: 'boolean' } } as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('sessions', argv, io, { list, revoke }, USAGE, REVOKE_OPTIONS);
}

async function list(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  const sessions = await client.listSessions();
  // Without a GeoIP database on the server no session has a location: no empty column then.
  const located = sessions.some((s) => s.location !== null);
  emit(io, globals, { sessions }, () =>
    table(
      ['', 'ID', 'DEVICE', 'IP', ...(located ? ['LOCATION'] : []), '2FA', 'SIGNED IN', 'LAST ACTIVE', 'ENDS'],
      sessions.map((s) => [
        s.current ? '*' : '',
        s.id,
        [s.device.browser, s.device.os && `on ${s.device.os}`].filter(Boolean).join(' ') || s.device.type,
        s.ip ?? '',
        ...(located ? [place(s.location)] : []),
        SECOND_FACTOR[s.secondFactor],
        when(s.createdAt),
        when(s.lastActiveAt),
        when(s.idleExpiresAt),
      ]),
    ),
  );
  return 0;
}

/** How the sign-in proved itself beyond the password: the session's 2FA level. */
const SECOND_FACTOR: Record<SessionInfo['secondFactor'], string> = { none: '-', totp: 'code', backup_code: 'backup' };

/** `Berlin, DE`: short enough for a table column; the full names are in --json. */
function place(l: SessionLocation | null): string {
  if (l === null) return '';
  return [l.city, l.countryCode ?? l.country].filter((part) => part !== null).join(', ');
}

async function revoke(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, REVOKE_OPTIONS, USAGE);
  const chosen = [positionals.length > 0, values.others === true, values.all === true].filter(Boolean).length;
  if (chosen !== 1) throw new UsageError('give exactly one of: a session ID, --others, --all');
  const { client } = connect(io, globals, { auth: true });
  if (values.others || values.all) {
    const revoked = values.all ? await client.revokeAllSessions() : await client.revokeOtherSessions();
    emit(io, globals, { revoked }, () => `Ended ${revoked} session${revoked === 1 ? '' : 's'}${values.all ? ', this one included: log in again to continue' : ''}.`);
    return 0;
  }
  const [id] = expectPositionals(positionals, ['ID']);
  await client.revokeSession(id!);
  emit(io, globals, { revoked: { id } }, () => `Ended session ${id}.`);
  return 0;
}
