// (g) What recording every read costs: (b) against the same request on a second KeyNest whose
// read auditing is off (server-process.mjs --audit-off, a patch that exists only in the bench),
// measured just before and just after (b), so a change of the machine's speed during the three
// runs hits "off" on both sides of "on" (the ratio uses the mean of the two "off" runs).
// The records appended during (b) are counted in the database by the server process itself.

/**
 * Measure hooks (see load.mjs) that count the server's audit records just before and just after
 * the measured run, around `hooks`' own (the profiler's), so the count is neither profiled nor
 * inside the CPU time per request.
 */
export function countingAuditRecords(server, hooks = {}) {
  const counts = { before: null, after: null };
  const count = async () => (await server.command('audit-count')).auditRecords;
  return {
    counts,
    hooks: {
      beforeMeasured: async () => {
        counts.before = await count();
        await hooks.beforeMeasured?.();
      },
      afterMeasured: async () => {
        await hooks.afterMeasured?.();
        counts.after = await count();
      },
    },
  };
}

const cpuOf = (m) => m?.serverCpuUsPerRequest?.total ?? null;
const mean = (xs) => (xs.every((x) => typeof x === 'number') ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
const appendedIn = (m, counts) => ({ appended: counts.after - counts.before, appendedPerSec: Math.round((counts.after - counts.before) / m.durationS) });

/**
 * `on`: (b)'s measurement `m` with its `counts`; `offs`: the "off" runs with theirs. Each answered read must have left
 * its record with auditing on, and none with it off (else the patch did not take).
 */
export function auditOnOffOf(database, on, offs) {
  const problems = [];
  const onAppended = appendedIn(on.m, on.counts);
  if (onAppended.appended < on.m.ok) problems.push(`${on.m.ok} reads answered during (b) but ${onAppended.appended} audit records appended`);
  const offRuns = offs.map(({ m, counts, when }) => {
    const a = appendedIn(m, counts);
    if (a.appended !== 0) problems.push(`auditing off (${when}): ${a.appended} audit records appended, so the patch did not take`);
    for (const p of m.problems) problems.push(`auditing off (${when}): ${p}`);
    return { when, ...m, ...a };
  });
  const offRps = mean(offRuns.map((m) => m.requestsPerSec));
  const offCpu = mean(offRuns.map(cpuOf));
  const r3 = (x) => Math.round(x * 1000) / 1000;
  return {
    database,
    on: { requestsPerSec: on.m.requestsPerSec, cpuUsPerRequest: cpuOf(on.m), latencyMs: on.m.latencyMs, ...onAppended, recordsPerRead: r3(onAppended.appended / on.m.ok) },
    off: { requestsPerSec: Math.round(offRps), cpuUsPerRequest: offCpu === null ? null : Math.round(offCpu), runs: offRuns },
    // The figure: requests/s with auditing on over off. CPU per request moves less with other load.
    ratio: offRps ? r3(on.m.requestsPerSec / offRps) : null,
    cpuRatio: offCpu && cpuOf(on.m) ? r3(cpuOf(on.m) / offCpu) : null,
    problems,
  };
}
