/**
 * What a command may touch of its process: streams, environment and working directory, passed in
 * rather than read from globals so tests can drive commands and the resolution rules in-process.
 */
import type { Globals } from './args.js';

export interface Io {
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export function processIo(): Io {
  return { env: process.env, cwd: process.cwd(), stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
}

/** Human output, or with --json the given value as pretty JSON. Both go to stdout. */
export function emit(io: Io, globals: Globals, json: unknown, human: () => string): void {
  if (globals.json) {
    io.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return;
  }
  const text = human();
  if (text !== '') io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}
