/**
 * Reading secrets from the user: all of stdin (for --stdin and --password-stdin), or a password typed
 * on the terminal with echo off. Prompts go to stderr so stdout stays clean for --json and pipes.
 */
import { CliError, UsageError } from './errors.js';
import type { Io } from './io.js';
import { decodeUtf8 } from './secret-input.js';

/** All of stdin, exactly, decoded once at the end (so no multi-byte character is split). */
export async function readAllStdin(io: Io): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return decodeUtf8(Buffer.concat(chunks), 'stdin');
}

/** `echo pw | keynest login --password-stdin`: the one newline the shell added is not part of it. */
export function stripOneTrailingNewline(text: string): string {
  if (text.endsWith('\r\n')) return text.slice(0, -2);
  if (text.endsWith('\n')) return text.slice(0, -1);
  return text;
}

export async function readPassword(io: Io, options: { fromStdin: boolean; confirm: boolean }): Promise<string> {
  if (options.fromStdin) return stripOneTrailingNewline(await readAllStdin(io));
  if (!io.stdin.isTTY) {
    throw new UsageError('no terminal to prompt for the password: pass it on stdin with --password-stdin');
  }
  const password = await promptHidden(io, 'Password: ');
  if (options.confirm && (await promptHidden(io, 'Confirm password: ')) !== password) {
    throw new CliError('password_mismatch', 'the passwords do not match');
  }
  return password;
}

const CTRL_C = '\u0003';
const CTRL_D = '\u0004';
const BACKSPACE = new Set(['\u007f', '\b']);

function promptHidden(io: Io, question: string): Promise<string> {
  const stdin = io.stdin;
  // Echo goes off before the prompt shows, so text typed (or pasted) at once is never echoed.
  stdin.setRawMode(true);
  io.stderr.write(question);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const finish = (error: Error | null) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      io.stderr.write('\n');
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (data: string) => {
      for (const character of data) {
        if (character === '\r' || character === '\n') return finish(null);
        if (character === CTRL_C) return finish(new CliError('cancelled', 'cancelled', 130));
        if (character === CTRL_D) {
          if (typed === '') return finish(new CliError('cancelled', 'no password given'));
          return finish(null);
        }
        if (BACKSPACE.has(character)) typed = [...typed].slice(0, -1).join('');
        else typed += character;
      }
    };
    stdin.on('data', onData);
  });
}
