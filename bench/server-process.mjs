#!/usr/bin/env node
// One server under test, in its own process, so the load generator never shares its event loop.
//
//   node bench/server-process.mjs keynest [--db sqlite|postgres] [--audit-off]   a real KeyNest (startTestServer)
//   node bench/server-process.mjs fastify                                        the bare Fastify hello-world baseline
//   node bench/server-process.mjs floor --shape FILE [--no-audit]               the floor of (b) and (c) (lib/floor-server.mjs)
//
// --audit-off is (g)'s "auditing off", which exists only here: the built AuditService's recordAlone
// (the committed-by-itself record of every read of values) resolves at once and writes nothing.
// Never a product option: a KeyNest that can stop recording reads is not one the audit log can prove.
//
// When listening it prints one JSON line on stdout: {"ready":true,"kind",...,"url","setupToken"?,"database"?}.
// It stops on SIGTERM/SIGINT, or when its stdin closes (so it never outlives a crashed bench).
// Commands on stdin, one per line, each answered by one JSON line:
//   profile-start            start the V8 sampling profiler in this process
//   profile-stop <file>      stop it and write a .cpuprofile (open in Chrome DevTools, or bench/profile-summary.mjs)
//   cpu-usage                this process's CPU time so far, {"cpu":{"user":µs,"system":µs}}
//   audit-count              KeyNest: the audit records stored so far, {"auditRecords":n} (this process
//                            owns the SQLite file, so only it can count them)
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { serverModule, serverRequire } from './lib/built.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const requireFromServer = serverRequire(root);
export const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

const args = process.argv.slice(2);
const kind = args[0];
const dbIdx = args.indexOf('--db');
const database = dbIdx >= 0 ? args[dbIdx + 1] : 'sqlite';
const auditOff = args.includes('--audit-off');

function send(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

async function startKeynest() {
  // startTestServer reads KEYNEST_TEST_DATABASE_URL when called: make the choice explicit so an
  // inherited variable never turns a "SQLite" run into a PostgreSQL one.
  if (database === 'postgres') {
    process.env.KEYNEST_TEST_DATABASE_URL = process.env.KEYNEST_BENCH_DATABASE_URL || process.env.KEYNEST_TEST_DATABASE_URL || DEFAULT_POSTGRES_URL;
  } else if (database === 'sqlite') {
    delete process.env.KEYNEST_TEST_DATABASE_URL;
  } else {
    throw new Error(`--db must be sqlite or postgres, got "${database}"`);
  }
  const dist = (p) => serverModule(root, p);
  const { startTestServer } = await dist('index.js');
  if (auditOff) {
    // The same module instance the server imports (one URL), patched before the server exists.
    const { AuditService } = await dist('audit/service.js');
    AuditService.prototype.recordAlone = () => Promise.resolve();
  }
  // warn: per-request info logs are not what is measured; leakCheck off: the close would decrypt
  // every version written during the run (tens of thousands) for nothing.
  const srv = await startTestServer({ env: { KEYNEST_LOG_LEVEL: 'warn' }, leakCheck: false });
  // Outside any request the app's connection acts for the whole instance: every org's rows.
  const auditCount = async () => Number((await srv.db.selectFrom('audit_events').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
  return { info: { url: srv.url, setupToken: srv.setupToken, database: srv.database, auditOff }, close: () => srv.close(), auditCount };
}

/** The very Fastify the server depends on. */
async function serversFastify() {
  const fastifyPath = requireFromServer.resolve('fastify');
  const { default: Fastify } = await import(pathToFileURL(fastifyPath).href);
  const { version } = JSON.parse(readFileSync(path.join(path.dirname(fastifyPath), 'package.json'), 'utf8'));
  return { Fastify, version };
}
async function startFloor() {
  const shapeIdx = args.indexOf('--shape');
  if (shapeIdx < 0) throw new Error('floor needs --shape FILE');
  const { Fastify } = await serversFastify();
  const { startFloor: start } = await import('./lib/floor-server.mjs');
  const { SQLITE_PRAGMAS } = await serverModule(root, 'storage/database.js');
  return start({ Fastify, SQLite: requireFromServer('better-sqlite3'), pragmas: SQLITE_PRAGMAS, shapeFile: args[shapeIdx + 1], audit: !args.includes('--no-audit') });
}

async function startFastify() {
  const { Fastify, version } = await serversFastify();
  const app = Fastify({ logger: false });
  app.get('/', async () => ({ hello: 'world' }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address();
  return { info: { url: `http://127.0.0.1:${port}`, fastifyVersion: version }, close: () => app.close() };
}

function listenForCommands(server, stop) {
  let session = null;
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', async (line) => {
    const [cmd, arg] = line.trim().split(/\s+/, 2);
    try {
      if (cmd === 'cpu-usage') {
        send({ cpu: process.cpuUsage() });
      } else if (cmd === 'audit-count') {
        if (!server.auditCount) throw new Error('audit-count: not a KeyNest server');
        send({ auditRecords: await server.auditCount() });
      } else if (cmd === 'profile-start') {
        session = new Session();
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.start');
        send({ profiling: true });
      } else if (cmd === 'profile-stop') {
        if (!session) throw new Error('profiler not started');
        const { profile } = await session.post('Profiler.stop');
        session.disconnect();
        session = null;
        await writeFile(arg, JSON.stringify(profile));
        send({ profiled: arg });
      } else if (cmd) {
        send({ error: `unknown command ${cmd}` });
      }
    } catch (err) {
      send({ error: err.message });
    }
  });
  rl.on('close', stop);
}

async function main() {
  let server;
  if (kind === 'keynest') server = await startKeynest();
  else if (kind === 'fastify') server = await startFastify();
  else if (kind === 'floor') server = await startFloor();
  else throw new Error('usage: server-process.mjs keynest [--db sqlite|postgres] [--audit-off] | fastify | floor --shape FILE [--no-audit]');

  let stopping = null;
  const stop = () =>
    (stopping ??= server
      .close()
      .then(() => process.exit(0))
      .catch((err) => {
        console.error(`server-process: close failed: ${err.message}`);
        process.exit(1);
      }));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  listenForCommands(server, stop);
  send({ ready: true, kind, pid: process.pid, ...server.info });
}

main().catch((err) => {
  console.error(`server-process: ${err.stack ?? err.message}`);
  process.exit(1);
});
