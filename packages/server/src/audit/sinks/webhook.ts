import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import type { Clock } from '../../context.js';
import { DestinationNotAllowed, guardedLookup, isPublicAddress, type Resolver, type WebhookPolicy } from './destination.js';
import { deliveryReason, SinkDeliveryError, withDeadline, type SinkRecord, type SinkTransport } from './transport.js';

export const SIGNATURE_HEADER = 'x-keynest-signature';
export const SINK_HEADER = 'x-keynest-sink';
const USER_AGENT = 'KeyNest-Audit-Sink/1';

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`. The time is signed with the body,
 * so a receiver that refuses old `t` (five minutes, say) refuses a replayed delivery too. The key
 * is the secret as written (its UTF-8 bytes), as receivers most easily configure it.
 */
export function webhookSignature(secret: string, unixSeconds: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`, 'utf8').digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

export interface WebhookOptions {
  sinkId: string;
  url: URL;
  /** The HMAC key; never logged, never part of an error. */
  secret: string;
  timeoutMs: number;
  clock: Clock;
  /**
   * Org sinks: the destination rules as the operator sets them now (a sink made while a rule was
   * lifted follows it again once it is back): connections only to public addresses, checked at
   * every connection (the resolver is for tests), and plain http only if allowed. Null: the
   * operator's own sink, trusted with any address (its scheme was checked with the configuration).
   */
  guard: (WebhookPolicy & { resolve?: Resolver }) | null;
}

/** A webhook answer: the status, and how long it took. */
export interface WebhookAnswer {
  status: number;
  durationMs: number;
}

/**
 * Delivers a batch as one signed POST of `{"sink", "records": [...]}`; only a 2xx answer counts.
 * Redirects are not followed (a 3xx is a failure: following one would take the request wherever
 * the receiver says, past the destination rules). Connections are kept alive between batches.
 */
export class WebhookTransport implements SinkTransport {
  readonly #agent: http.Agent;
  readonly #checkAddresses: boolean;

  constructor(private readonly opts: WebhookOptions) {
    this.#checkAddresses = opts.guard !== null && !opts.guard.allowPrivate;
    const agentOptions = { keepAlive: true, maxSockets: 1, ...(this.#checkAddresses ? { lookup: guardedLookup(opts.guard?.resolve) } : {}) };
    this.#agent = opts.url.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  }

  async deliver(records: readonly SinkRecord[], signal: AbortSignal): Promise<void> {
    const answer = await this.post(JSON.stringify({ sink: this.opts.sinkId, records }), signal);
    if (answer.status < 200 || answer.status > 299) throw new SinkDeliveryError(`HTTP ${answer.status}${answer.status >= 300 && answer.status < 400 ? ' (redirects are not followed)' : ''}`);
  }

  /** One signed POST; resolves with any HTTP answer, rejects with a SinkDeliveryError when there is none. */
  async post(body: string, signal: AbortSignal): Promise<WebhookAnswer> {
    const { url, timeoutMs, guard } = this.opts;
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (guard && url.protocol === 'http:' && !guard.allowHttp) throw new SinkDeliveryError('plain http is not allowed (KEYNEST_WEBHOOK_ALLOW_HTTP)');
    // An address written in the URL is connected to without any lookup: check it here.
    if (this.#checkAddresses && isIP(host) && !isPublicAddress(host)) throw new SinkDeliveryError(new DestinationNotAllowed().message);
    try {
      return await withDeadline(signal, timeoutMs, (within) => this.#send(body, within));
    } catch (err) {
      throw new SinkDeliveryError(deliveryReason(err, timeoutMs));
    }
  }

  #send(body: string, signal: AbortSignal): Promise<WebhookAnswer> {
    const { url, clock } = this.opts;
    const started = clock();
    const client = url.protocol === 'https:' ? https : http;
    return new Promise<WebhookAnswer>((resolve, reject) => {
      const req = client.request(
        url,
        {
          method: 'POST',
          agent: this.#agent,
          signal,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': USER_AGENT,
            [SINK_HEADER]: this.opts.sinkId,
            [SIGNATURE_HEADER]: webhookSignature(this.opts.secret, Math.floor(clock() / 1000), body),
          },
        },
        (res) => {
          // The answer's body is the receiver's business: read and dropped, never kept or logged.
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, durationMs: clock() - started }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }
}
