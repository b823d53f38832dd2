// Experiment for `npm run bench -- --server-import bench/experiments/sqlite-exclusive-locking.mjs`:
// PRAGMA locking_mode = EXCLUSIVE on the server's SQLite connection.
//
// In WAL mode with the default (NORMAL) locking, every transaction, so every autocommit SELECT,
// takes and releases POSIX locks on the database and its -shm file: strace counts 12 fcntl() calls
// per (b) request. With EXCLUSIVE the one connection keeps its locks and its WAL index in its own
// memory, and those calls disappear. The cost: no other process can open the database while the
// server runs (the sqlite3 shell, an online backup tool) — KeyNest already allows only one server
// per SQLite file.
//
// It hooks better-sqlite3's pragma() because the server sets its pragmas right after opening;
// in the server this is one more line in storage/database.ts.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const Database = createRequire(path.join(root, 'packages/server/package.json'))('better-sqlite3');
const pragma = Database.prototype.pragma;
Database.prototype.pragma = function pragmaThenExclusive(source, options) {
  const result = pragma.call(this, source, options);
  // busy_timeout is the last pragma openSqlite sets: by then WAL is on.
  if (/^\s*busy_timeout/i.test(source)) pragma.call(this, 'locking_mode = EXCLUSIVE');
  return result;
};
