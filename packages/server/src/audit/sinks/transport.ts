import type { StoredAuditRow } from '../store.js';

/**
 * What a sink receives for each record: every field as stored (the same as an export's records),
 * so a receiver can dedupe by `id` (or `chain` + `seq`) and recompute `hash` from `prev_hash` with
 * `@keynest/sdk/audit-chain`. Records hold names and metadata, never a secret value.
 */
export type SinkRecord = StoredAuditRow;

/** Where records go: a webhook, a JSON-lines file, a syslog receiver. */
export interface SinkTransport {
  /**
   * Resolves once the destination has the whole batch (a 2xx answer, an fsync, the last frame
   * handed to the socket); rejects otherwise, and then nothing counts as delivered. `signal`
   * aborts it (shutdown).
   */
  deliver(records: readonly SinkRecord[], signal: AbortSignal): Promise<void>;
  /** Releases sockets and files; waits for nothing the dispatcher has not already abandoned. */
  close(): Promise<void>;
  /** A file's next write goes to a newly opened file (SIGHUP after log rotation). */
  reopen?(): void;
}

/**
 * A failed delivery, with a message that is safe to log, store and show an org admin: a status
 * code, an errno code, a timeout — never a URL's query, a secret, or a receiver's answer.
 */
export class SinkDeliveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SinkDeliveryError';
  }
}

/** The safe reason of any failure of a transport (node:net and node:fs errors carry a `code`). */
export function deliveryReason(err: unknown, timeoutMs?: number): string {
  if (err instanceof SinkDeliveryError) return err.message;
  const e = err as { name?: unknown; code?: unknown; message?: unknown; cause?: { name?: unknown } } | null;
  // node:http aborts with an AbortError whose cause is the signal's reason (a TimeoutError).
  if (e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError') return `timed out after ${timeoutMs ?? '?'} ms`;
  if (e?.name === 'AbortError' || e?.code === 'ABORT_ERR') return 'abandoned (shutting down)';
  if (e?.code === 'EDESTINATIONNOTALLOWED' && typeof e.message === 'string') return e.message;
  if (typeof e?.code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(e.code)) return e.code;
  return 'unexpected error';
}

/**
 * Runs `work` with a signal that aborts when `signal` does (shutdown) or after `timeoutMs` (a
 * TimeoutError). Linked by hand and unlinked afterwards, rather than `AbortSignal.any`, so the
 * worker's long-lived signal does not collect one dependent per delivery.
 */
export async function withDeadline<T>(signal: AbortSignal, timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => controller.abort(new DOMException(`timed out after ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
  try {
    return await work(controller.signal);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}
