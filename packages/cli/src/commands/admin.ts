import { expectPositionals, parseCommand, parseCount } from '../args.js';
import { connect } from '../config/context.js';
import { CliError } from '../errors.js';
import { emit, type Io } from '../io.js';
import { dispatch } from './group.js';

const USAGE = `Usage: keynest admin <subcommand>

  rotate-keys [--batch-size N]   start a new data key for the organization, then re-encrypt every
                                 stored value with it, N values per request (server default 500)
  rotate-signing-key             sign access tokens with a new key from now on (tokens of the old
                                 key stay valid until they expire, in at most 15 minutes)
`;

export function run(argv: string[], io: Io): Promise<number> {
  return dispatch('admin', argv, io, { 'rotate-keys': rotateKeys, 'rotate-signing-key': rotateSigningKey }, USAGE, { 'batch-size': { type: 'string' } });
}

async function rotateKeys(argv: string[], io: Io): Promise<number> {
  const { values, positionals, globals } = parseCommand(argv, { 'batch-size': { type: 'string' } }, USAGE);
  expectPositionals(positionals, []);
  const batchSize = parseCount('--batch-size', values['batch-size']);
  const { client } = connect(io, globals, { auth: true });
  const progress = (line: string) => {
    if (!globals.json) io.stdout.write(`${line}\n`);
  };

  const { keyVersion } = await client.rotateKeys();
  progress(`Rotated the data key: new writes use key version ${keyVersion}.`);
  let total = 0;
  for (;;) {
    const step = await client.reencrypt(batchSize);
    total += step.reencrypted;
    progress(`Re-encrypted ${step.reencrypted} values (${step.remaining} remaining).`);
    if (step.remaining === 0) break;
    // A server that reports work left but does none would keep this loop going for ever.
    if (step.reencrypted === 0) {
      throw new CliError('reencrypt_stalled', `re-encryption made no progress with ${step.remaining} values remaining`);
    }
  }
  emit(io, globals, { keyVersion, reencrypted: total, remaining: 0 }, () => `Done: ${total} values re-encrypted.`);
  return 0;
}

async function rotateSigningKey(argv: string[], io: Io): Promise<number> {
  const { positionals, globals } = parseCommand(argv, {}, USAGE);
  expectPositionals(positionals, []);
  const { client } = connect(io, globals, { auth: true });
  const { kid } = await client.rotateSigningKey();
  emit(io, globals, { kid }, () => `Access tokens are now signed with key ${kid}.`);
  return 0;
}
