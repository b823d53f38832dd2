import type { Metric, Registry } from 'prom-client';

/** One line of a metric: its labels and value (`suffix`: `_bucket`, `_sum`, `_count` of a histogram). */
export interface Sample {
  labels: Record<string, string | number>;
  value: number;
  suffix?: '_bucket' | '_sum' | '_count';
}

/**
 * Upper bounds (seconds) of every latency histogram here: fine below 10 ms, where a read of a
 * secret answers, up to the 10 s a stuck request may take.
 */
export const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;
const LE = [...LATENCY_BUCKETS_S.map(String), '+Inf'];

/**
 * One histogram series kept as plain numbers: observing is a few comparisons and additions, with
 * no allocation and no string (prom-client's own `observe` hashes the label values on every call).
 */
export class Timings {
  /** Observations per bucket (not cumulative); the last one is above the largest bound. */
  readonly #buckets = new Float64Array(LATENCY_BUCKETS_S.length + 1);
  #sum = 0;
  #count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS_S.length && seconds > LATENCY_BUCKETS_S[i]!) i++;
    this.#buckets[i]! += 1;
    this.#sum += seconds;
    this.#count += 1;
  }

  get count(): number {
    return this.#count;
  }

  /** The series as exposition samples: cumulative buckets, sum and count. */
  samples(labels: Record<string, string>): Sample[] {
    const out: Sample[] = [];
    let cumulative = 0;
    for (let i = 0; i < LE.length; i++) {
      cumulative += this.#buckets[i]!;
      out.push({ labels: { ...labels, le: LE[i]! }, value: cumulative, suffix: '_bucket' });
    }
    out.push({ labels, value: this.#sum, suffix: '_sum' }, { labels, value: this.#count, suffix: '_count' });
    return out;
  }
}

/**
 * A metric whose lines are read when Prometheus scrapes, from numbers their owners keep anyway
 * (request counts per route, the sign-in throttle's counts, database counts): nothing is copied
 * into prom-client on the hot path. prom-client's Registry renders it (names, help, escaping) like
 * its own metrics; it asks a metric only for `name`, `get()` and `reset()`.
 */
class ScrapedMetric {
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly read: () => Sample[] | Promise<Sample[]>,
  ) {}

  async get() {
    const samples = await this.read();
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: samples.map((s) => ({ labels: s.labels, value: s.value, ...(s.suffix ? { metricName: `${this.name}${s.suffix}` } : {}) })),
    };
  }

  /** The numbers belong to their owners: a registry reset leaves them alone. */
  reset(): void {}
}

export function registerScraped(registry: Registry, name: string, help: string, type: 'counter' | 'gauge' | 'histogram', read: () => Sample[] | Promise<Sample[]>): void {
  // prom-client types a registered metric as one of its own classes; ScrapedMetric has the part
  // of that shape the registry uses.
  registry.registerMetric(new ScrapedMetric(name, help, type, read) as unknown as Metric);
}
