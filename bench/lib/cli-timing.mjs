// (e) The wall time of `keynest run -- node -e 0` against that of a bare `node -e 0`: what the
// CLI adds in front of a program (start-up, one fetch of the environment's secrets, spawn).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { round2, summarize } from './stats.mjs';

const WARMUP_RUNS = 2;

function timeOnce(args, env, cwd) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { env, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      resolve({ ms, code, signal, stderr: stderr.trim() });
    });
  });
}

const show = (s) => ({ median: round2(s.p50), p90: round2(s.p90), min: round2(s.min), max: round2(s.max) });

/**
 * Runs both commands `runs` times each, interleaved (so drift in the machine's load hits both
 * alike), after WARMUP_RUNS of each (file-system cache). Any non-zero exit makes the section invalid.
 */
export async function measureCliRun({ root, runs, keynestEnv }) {
  const bin = path.join(root, 'packages/cli/bin/keynest.js');
  if (!existsSync(bin)) return { skipped: 'cli not built', bin: path.relative(root, bin) };
  // Only the variables we mean: an inherited KEYNEST_* (another server, another token) must not count.
  // NODE_EXTRA_CA_CERTS is dropped for both commands: node parses that CA bundle at every start,
  // before any of our code runs (about 40 ms a start on the bench machine, whose image sets it), and
  // the bench server is plain HTTP on 127.0.0.1. What it costs is measured and reported beside (e).
  const dropped = ['NODE_EXTRA_CA_CERTS'].filter((k) => process.env[k] !== undefined);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KEYNEST_') && !dropped.includes(k)));
  const bare = { args: ['-e', '0'], env };
  const viaCli = { args: [bin, 'run', '--', process.execPath, '-e', '0'], env: { ...env, ...keynestEnv } };

  const problems = [];
  const times = { bare: [], keynest: [] };
  for (let i = 0; i < WARMUP_RUNS + runs; i++) {
    for (const [name, cmd] of [
      ['bare', bare],
      ['keynest', viaCli],
    ]) {
      const r = await timeOnce(cmd.args, cmd.env, root);
      if (r.code !== 0) {
        problems.push(`${name === 'bare' ? 'node -e 0' : 'keynest run -- node -e 0'} exited with code ${r.code}${r.signal ? ` (${r.signal})` : ''}: ${r.stderr.slice(0, 300)}`);
        return { valid: false, problems, command: 'keynest run -- node -e 0' };
      }
      if (i >= WARMUP_RUNS) times[name].push(r.ms);
    }
  }
  // What the dropped variables cost every node start here: bare node with and without them.
  let droppedCostMs = null;
  if (dropped.length) {
    const withThem = [];
    const without = [];
    for (let i = 0; i < Math.min(runs, 10); i++) {
      withThem.push((await timeOnce(bare.args, process.env, root)).ms);
      without.push((await timeOnce(bare.args, env, root)).ms);
    }
    droppedCostMs = round2(summarize(withThem).p50 - summarize(without).p50);
  }
  const bareS = summarize(times.bare);
  const cliS = summarize(times.keynest);
  // Runs are interleaved, so run i of each saw the same machine: the overhead is taken pair by pair.
  const overheadS = summarize(times.keynest.map((ms, i) => ms - times.bare[i]));
  return {
    command: 'node packages/cli/bin/keynest.js run -- node -e 0',
    runs,
    bareNodeMs: show(bareS),
    keynestRunMs: show(cliS),
    // What `keynest run` adds: keynest run i minus bare run i, over the pairs.
    overheadMs: show(overheadS),
    // Inherited variables left out of both commands, and what they add to each node start (median).
    droppedEnv: dropped,
    droppedEnvCostPerNodeStartMs: droppedCostMs,
    valid: true,
    problems,
  };
}
