// One HTTP load measurement with autocannon: a warm-up run (thrown away), then a measured run.
// Latencies are recorded here from autocannon's per-response events in fractional milliseconds
// (autocannon's own histogram keeps whole milliseconds, too coarse for 1-3 ms answers).
import autocannon from 'autocannon';
import { round2, summarize } from './stats.mjs';

/** A growing Float64Array: a 10 s run at ~10k req/s records ~100k samples. */
class Samples {
  #buf = new Float64Array(1 << 16);
  #n = 0;
  push(v) {
    if (this.#n === this.#buf.length) {
      const next = new Float64Array(this.#buf.length * 2);
      next.set(this.#buf);
      this.#buf = next;
    }
    this.#buf[this.#n++] = v;
  }
  values() {
    return this.#buf.subarray(0, this.#n);
  }
}

/** Server CPU (user + system) per answered request, in microseconds. */
function cpuPerRequest(before, after, requests) {
  const user = (after.user - before.user) / requests;
  const system = (after.system - before.system) / requests;
  return { total: Math.round(user + system), user: Math.round(user), system: Math.round(system) };
}

function once(opts, { onResponse } = {}) {
  return new Promise((resolve, reject) => {
    const instance = autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
    if (onResponse) instance.on('response', (_client, statusCode, _bytes, responseTime) => onResponse(statusCode, responseTime));
  });
}

/**
 * @param {object} spec
 * @param {string} spec.name
 * @param {string} spec.url        base URL of the server
 * @param {object} spec.request    autocannon request ({method, path, headers, body?, setupRequest?, onResponse?})
 * @param {{connections:number, warmupS:number, durationS:number}} settings
 * @param {() => string[]} [spec.bodyProblems]  problems found in response bodies
 * @param {() => Promise<void>} [spec.beforeMeasured]  e.g. start the server's profiler
 * @param {() => Promise<void>} [spec.afterMeasured]
 * @param {{command(line:string):Promise<object>}} [spec.server]  the server's process: its CPU time is read
 *   around the measured run, giving CPU per request (less sensitive to other load on the machine
 *   than requests/s)
 */
export async function measure(spec, settings) {
  const base = {
    url: spec.url,
    connections: settings.connections,
    pipelining: 1,
    timeout: 10,
    requests: [spec.request],
  };
  const warm = await once({ ...base, duration: settings.warmupS });
  await spec.beforeMeasured?.();
  const cpuBefore = spec.server ? (await spec.server.command('cpu-usage')).cpu : null;
  const latencies = new Samples();
  const statusCounts = {};
  const result = await once(
    { ...base, duration: settings.durationS },
    {
      onResponse(status, ms) {
        statusCounts[status] = (statusCounts[status] ?? 0) + 1;
        if (status >= 200 && status < 300) latencies.push(ms);
      },
    },
  );
  const cpuAfter = spec.server ? (await spec.server.command('cpu-usage')).cpu : null;
  await spec.afterMeasured?.();
  const lat = summarize(latencies.values());
  const ok = lat.n;
  const problems = [];
  const warmBad = warm.non2xx + warm.errors + warm.timeouts;
  if (warmBad) problems.push(`warm-up: ${warm.non2xx} non-2xx, ${warm.errors} errors, ${warm.timeouts} timeouts (status codes ${JSON.stringify(warm.statusCodeStats)})`);
  if (result.non2xx || result.errors || result.timeouts) {
    problems.push(`${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts (status codes ${JSON.stringify(statusCounts)})`);
  }
  problems.push(...(spec.bodyProblems?.() ?? []));
  return {
    name: spec.name,
    method: spec.request.method,
    path: spec.displayPath ?? spec.request.path,
    connections: settings.connections,
    durationS: result.duration,
    requests: ok + result.non2xx,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes: statusCounts,
    // 2xx answers per second of measured time.
    requestsPerSec: Math.round(ok / result.duration),
    serverCpuUsPerRequest: cpuBefore && ok ? cpuPerRequest(cpuBefore, cpuAfter, ok + result.non2xx) : null,
    latencyMs: { mean: round2(lat.mean), p50: round2(lat.p50), p90: round2(lat.p90), p99: round2(lat.p99), max: round2(lat.max) },
    warmup: { durationS: warm.duration, requests: warm.requests.total, requestsPerSec: Math.round(warm.requests.total / warm.duration) },
    valid: problems.length === 0,
    problems,
  };
}
