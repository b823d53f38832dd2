import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Logger } from '../logger.js';

const ROOT_KEY_BYTES = 32;
export const ROOT_KEY_FILE = 'root.key';

export class RootKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RootKeyError';
  }
}

/**
 * The root key (KEK) wraps every organization's data key. It comes from KEYNEST_ROOT_KEY or from
 * `<dataDir>/root.key`, created on first start. Losing it loses every secret; keeping it beside a
 * database backup gives that backup away — hence the warning.
 */
export function loadRootKey(fromEnv: Buffer | undefined, dataDir: string, log: Logger): Buffer {
  if (fromEnv) return fromEnv;
  const file = path.join(dataDir, ROOT_KEY_FILE);
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const key = randomBytes(ROOT_KEY_BYTES);
    writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    log.warn(
      { file },
      'created a new root key file: BACK IT UP and keep it apart from database backups; without it no secret can be decrypted (set KEYNEST_ROOT_KEY to supply the key instead)',
    );
    return key;
  }
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    throw new RootKeyError(`${file} is readable by other users (mode ${mode.toString(8)}); run: chmod 600 ${file}`);
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== ROOT_KEY_BYTES) throw new RootKeyError(`${file} does not hold a ${ROOT_KEY_BYTES}-byte base64 key`);
  return key;
}
