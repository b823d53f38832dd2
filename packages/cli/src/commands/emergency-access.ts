/**
 * `keynest emergency-access`: an owner shut out by their organization's IP allowlist asks for a
 * code by mail, then confirms it from where they are; that address is let in, for them only, for
 * the server's KEYNEST_EMERGENCY_ACCESS_S (1 hour by default). Both steps need no sign-in.
 */
import { expectPositionals, parseCommand } from '../args.js';
import { connect } from '../config/context.js';
import { UsageError } from '../errors.js';
import { emit, type Io } from '../io.js';
import { when } from '../table.js';
import { dispatch } from './group.js';

const USAGE = `Usage: keynest emergency-access <subcommand>
  request --email EMAIL             mail an emergency-access code (valid 15 minutes, single use) to
                                    EMAIL if it is an owner of an organization whose IP allowlist is
                                    on; the answer is the same either way
  confirm --email EMAIL --code CODE let the address you run this from past the allowlist, for you
                                    only, for a limited time (then sign in and fix the list)
`;

const OPTIONS = { email: { type: 'string' }, code: { type: 'string' } } as const;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('emergency-access', argv, io, { request, confirm }, USAGE, OPTIONS);
}

async function request(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, { email: OPTIONS.email }, USAGE);
  expectPositionals(positionals, []);
  if (values.email === undefined) throw new UsageError('missing --email');
  const { client } = connect(io, globals, { auth: false });
  await client.requestEmergencyAccess(values.email);
  emit(io, globals, { status: 'sent_if_exists' }, () => `If ${values.email} is an owner of an organization with an IP allowlist on, a code is on its way (valid 15 minutes).`);
  return 0;
}

async function confirm(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, OPTIONS, USAGE);
  expectPositionals(positionals, []);
  if (values.email === undefined) throw new UsageError('missing --email');
  if (values.code === undefined) throw new UsageError('missing --code');
  const { client } = connect(io, globals, { auth: false });
  const grant = await client.confirmEmergencyAccess({ email: values.email, code: values.code });
  emit(io, globals, { grant }, () => `Emergency access for ${grant.ip} until ${when(grant.expiresAt)} in ${grant.orgs.map((o) => o.name).join(', ')}.`);
  return 0;
}
