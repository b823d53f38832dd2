// Experiment: a larger WAL auto-checkpoint interval (fewer checkpoints, each page copied once per checkpoint).
import { createRequire } from 'node:module';
const require = createRequire(new URL('../../packages/server/package.json', import.meta.url));
const Sqlite = require('better-sqlite3');
const pragma = Sqlite.prototype.pragma;
Sqlite.prototype.pragma = function (source, options) {
  const r = pragma.call(this, source, options);
  if (/^journal_mode\s*=\s*WAL/i.test(source)) pragma.call(this, `wal_autocheckpoint = ${process.env.EXP_WAL_PAGES ?? 10000}`);
  return r;
};
