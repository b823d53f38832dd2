import type { Logger } from './logger.js';

/**
 * Work a request starts and does not wait for: the lookups and mail behind an answer that must not
 * say (by its content or its timing) what they found, such as a reset or sign-up request. Invariants:
 * - a job starts only after the current turn of the event loop, so the answer goes out first;
 * - a job's failure is logged with the request id and never reaches a caller;
 * - `settled` waits for every job started, so a shutdown never cuts one off half-way.
 */
export class BackgroundWork {
  readonly #jobs = new Set<Promise<void>>();

  constructor(private readonly log: Logger) {}

  run(what: string, requestId: string, work: () => Promise<void>): void {
    const job = new Promise<void>((resolve) => setImmediate(resolve))
      .then(work)
      .catch((err: unknown) => this.log.error({ err, requestId }, `${what} failed`))
      .finally(() => this.#jobs.delete(job));
    this.#jobs.add(job);
  }

  /** Resolves once every job started so far has finished (and jobs they started in turn). */
  async settled(): Promise<void> {
    while (this.#jobs.size > 0) await Promise.allSettled([...this.#jobs]);
  }
}

/**
 * Jobs that run on a timer for as long as the server runs (audit checkpoints, retention purge).
 * Invariants: a run never overlaps the previous one of the same job; a failure is logged and the
 * next tick tries again; `stop` clears the timers and waits for runs in progress.
 */
export class PeriodicWork {
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #running = new Set<Promise<void>>();

  constructor(private readonly log: Logger) {}

  every(ms: number, what: string, work: () => Promise<void>): void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      const run = work()
        .catch((err: unknown) => this.log.error({ err }, `${what} failed`))
        .finally(() => {
          busy = false;
          this.#running.delete(run);
        });
      this.#running.add(run);
    }, ms);
    // A timer alone must not keep the process alive.
    timer.unref();
    this.#timers.push(timer);
  }

  async stop(): Promise<void> {
    for (const t of this.#timers.splice(0)) clearInterval(t);
    await Promise.allSettled([...this.#running]);
  }
}
