#!/usr/bin/env node
// Where the time went in a V8 .cpuprofile (from `npm run bench -- --profile` or `node --cpu-prof`):
// self time by area (a dependency, a KeyNest folder, Node internals, GC, idle), the top functions
// by self time, and inclusive time of chosen functions.
//
//   node bench/profile-summary.mjs FILE.cpuprofile [--top N] [--inclusive NAME[,NAME...]]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, inclusive: { type: 'string' } },
});
if (positionals.length !== 1) {
  console.error('usage: node bench/profile-summary.mjs FILE.cpuprofile [--top N] [--inclusive NAME[,NAME...]]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(positionals[0], 'utf8'));

/** The area a frame belongs to: a package, a KeyNest source folder, node internals, or V8's own. */
function areaOf(frame) {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const kn = /packages\/([^/]+)\/dist\/(?:([^/]+)\/)?/.exec(url);
  if (kn) return `keynest ${kn[1]}/${kn[2] ?? '.'}`;
  if (url.startsWith('node:')) return url.startsWith('node:internal') ? 'node:internal' : url;
  return url;
}

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i] ?? 0;
  self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
  total += dt;
}
const idle = [...byId.values()].filter((n) => n.callFrame.functionName === '(idle)').reduce((s, n) => s + (self.get(n.id) ?? 0), 0);
const busy = total - idle;
const pct = (us, of = busy) => `${((100 * us) / of).toFixed(1).padStart(5)}%`;
const ms = (us) => `${(us / 1000).toFixed(0).padStart(7)} ms`;

console.log(`${positionals[0]}: ${ms(total).trim()} sampled, ${ms(idle).trim()} idle; percentages are of the ${ms(busy).trim()} busy`);

const areas = new Map();
for (const n of byId.values()) {
  if (n.callFrame.functionName === '(idle)') continue;
  const a = areaOf(n.callFrame);
  areas.set(a, (areas.get(a) ?? 0) + (self.get(n.id) ?? 0));
}
console.log('\nSelf time by area');
for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, 20)) console.log(`${pct(us)} ${ms(us)}  ${a}`);

const fns = new Map();
for (const n of byId.values()) {
  const f = n.callFrame;
  if (f.functionName === '(idle)') continue;
  const k = `${f.functionName || '(anonymous)'}  ${f.url.replace(/^.*node_modules\//, '').replace(/^.*packages\//, '').replace(/^file:\/\//, '')}:${f.lineNumber + 1}`;
  fns.set(k, (fns.get(k) ?? 0) + (self.get(n.id) ?? 0));
}
console.log(`\nTop ${opt.top} functions by self time`);
for (const [k, us] of [...fns].sort((x, y) => y[1] - x[1]).slice(0, Number(opt.top))) console.log(`${pct(us)} ${ms(us)}  ${k}`);

if (opt.inclusive) {
  // Inclusive time of a function: its samples and its callees', counted once per stack even when recursive.
  const parent = new Map();
  for (const n of byId.values()) for (const c of n.children ?? []) parent.set(c, n.id);
  console.log('\nInclusive time');
  for (const name of opt.inclusive.split(',')) {
    let us = 0;
    for (const [id, t] of self) {
      for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
        if (byId.get(cur).callFrame.functionName === name) {
          us += t;
          break;
        }
      }
    }
    console.log(`${pct(us)} ${ms(us)}  ${name}`);
  }
}
