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
