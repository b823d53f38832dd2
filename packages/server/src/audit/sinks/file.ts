import { constants } from 'node:fs';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { SinkRecord, SinkTransport } from './transport.js';

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/**
 * Appends each record as one line of JSON to a file the operator's log shipper reads. Invariants:
 * - a batch counts as delivered only after its lines are written and fsynced;
 * - the file is created 0600 (and set back to 0600 on open) in a directory created 0700 if
 *   missing, and never followed through a symbolic link: the audit trail is nobody else's to read,
 *   and a link planted in its place must not redirect it;
 * - log rotation needs no signal: before each batch the path is compared with the open file
 *   (another inode, or gone: it was rotated) and reopened; SIGHUP forces a reopen too;
 * - a line cut short by a crash is never glued to the next record: a file that does not end with a
 *   newline gets one before the next batch (the cut record is delivered again: at least once).
 */
export class JsonLinesFileTransport implements SinkTransport {
  #handle: FileHandle | null = null;
  #identity: { dev: number; ino: number } | null = null;
  #reopen = false;

  constructor(private readonly file: string) {}

  reopen(): void {
    this.#reopen = true;
  }

  /** A local write takes moments: once started it finishes (a shutdown waits for it). */
  async deliver(records: readonly SinkRecord[], signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    const { handle, needsNewline } = await this.#current();
    let text = needsNewline ? '\n' : '';
    for (const r of records) text += `${JSON.stringify(r)}\n`;
    try {
      await handle.appendFile(text, 'utf8');
      await handle.sync();
    } catch (err) {
      // Whatever the file's state now, the next batch starts from a fresh open.
      await this.close();
      throw err;
    }
  }

  async #current(): Promise<{ handle: FileHandle; needsNewline: boolean }> {
    if (this.#handle && !this.#reopen && (await this.#stillTheFile())) return { handle: this.#handle, needsNewline: false };
    await this.close();
    this.#reopen = false;
    await mkdir(path.dirname(this.file), { recursive: true, mode: DIR_MODE });
    const handle = await open(this.file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (constants.O_NOFOLLOW ?? 0), FILE_MODE);
    try {
      // The mode given to open applies only to a new file, and only through the umask.
      await handle.chmod(FILE_MODE);
      const st = await handle.stat();
      this.#handle = handle;
      this.#identity = { dev: st.dev, ino: st.ino };
      return { handle, needsNewline: st.size > 0 && !(await endsWithNewline(this.file, st.size)) };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async #stillTheFile(): Promise<boolean> {
    try {
      const st = await stat(this.file);
      return st.dev === this.#identity?.dev && st.ino === this.#identity.ino;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    this.#identity = null;
    await handle?.close().catch(() => {});
  }
}

async function endsWithNewline(file: string, size: number): Promise<boolean> {
  const reader = await open(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  try {
    const { buffer } = await reader.read(Buffer.alloc(1), 0, 1, size - 1);
    return buffer[0] === 0x0a;
  } finally {
    await reader.close();
  }
}
