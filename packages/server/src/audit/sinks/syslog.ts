import dgram from 'node:dgram';
import net from 'node:net';
import { withDeadline, type SinkRecord, type SinkTransport } from './transport.js';

export interface SyslogTarget {
  protocol: 'udp' | 'tcp';
  host: string;
  port: number;
}

/** Who sends: RFC 5424's HOSTNAME and PROCID. */
export interface SyslogOrigin {
  hostname: string;
  procId: string;
}

/** authpriv (10): security messages that syslog daemons keep in owner-only files. */
const FACILITY = 10;
const SEVERITY = { success: 6, failure: 5 } as const; // informational, notice
/**
 * The SD-ID of KeyNest's structured data. 32473 is the enterprise number RFC 5612 reserves for
 * documentation; KeyNest has none of its own, and a name@number SD-ID needs one.
 */
export const SD_ID = 'keynest@32473';
const BOM = '\uFEFF';
/** The largest UDP payload; a longer message (no record comes near it) is cut rather than never sent. */
const UDP_MAX_BYTES = 65_000;

/** PRINTUSASCII (%d33-126) only, at most `max` characters, or the NILVALUE. */
function header(text: string, max: number): string {
  const clean = text.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** RFC 5424 §6.3.3: '"', '\' and ']' are escaped inside a PARAM-VALUE. */
function param(name: string, value: string | number | null): string {
  return value === null ? '' : ` ${name}="${String(value).replace(/["\\\]]/g, '\\$&')}"`;
}

/**
 * One record as an RFC 5424 message: the record's time, the action as MSGID, the fields a
 * receiver indexes on (id, chain, seq, hash, org, actor, outcome) as structured data, and the whole
 * record as JSON (UTF-8, after a BOM) as MSG.
 */
export function rfc5424(record: SinkRecord, origin: SyslogOrigin): string {
  const outcome = record.outcome === 'failure' ? 'failure' : 'success';
  const pri = FACILITY * 8 + SEVERITY[outcome];
  const time = new Date(Number(record.at)).toISOString();
  const sd =
    `[${SD_ID}${param('id', record.id)}${param('chain', record.chain)}${param('seq', record.seq)}${param('hash', record.hash)}` +
    `${param('org', record.org_id)}${param('actor', record.actor_id ?? record.actor_type)}${param('outcome', outcome)}]`;
  return `<${pri}>1 ${time} ${header(origin.hostname, 255)} keynest ${header(origin.procId, 128)} ${header(record.action, 32)} ${sd} ${BOM}${JSON.stringify(record)}`;
}

/**
 * Sends each record as one syslog message: a datagram over UDP (RFC 5426), or over TCP framed by
 * octet counting (RFC 6587 §3.4.1: "LENGTH SP MESSAGE"), on one connection kept between batches.
 * Syslog has no acknowledgements: a batch counts as delivered once every datagram was sent or every
 * frame handed to the connection. UDP can lose messages unnoticed; TCP loses at most what the
 * kernel still held when a receiver died (docs/audit.md says so, and points to the webhook and file
 * sinks where nothing may be missed).
 */
export class SyslogTransport implements SinkTransport {
  #udp: dgram.Socket | null = null;
  #tcp: net.Socket | null = null;

  constructor(
    private readonly target: SyslogTarget,
    private readonly origin: SyslogOrigin,
    private readonly timeoutMs: number,
  ) {}

  async deliver(records: readonly SinkRecord[], signal: AbortSignal): Promise<void> {
    const messages = records.map((r) => Buffer.from(rfc5424(r, this.origin), 'utf8'));
    await withDeadline(signal, this.timeoutMs, (within) => (this.target.protocol === 'udp' ? this.#sendUdp(messages, within) : this.#sendTcp(messages, within)));
  }

  async #sendUdp(messages: Buffer[], signal: AbortSignal): Promise<void> {
    const socket = this.#udp ?? (this.#udp = await this.#connectUdp(signal));
    for (const m of messages) {
      await new Promise<void>((resolve, reject) => socket.send(m.length > UDP_MAX_BYTES ? m.subarray(0, UDP_MAX_BYTES) : m, (err) => (err ? reject(err) : resolve())));
    }
  }

  #connectUdp(signal: AbortSignal): Promise<dgram.Socket> {
    const socket = dgram.createSocket(net.isIPv6(this.target.host) ? 'udp6' : 'udp4');
    // A connected socket hears of an unreachable port (ICMP) as an error: start over next batch.
    socket.on('error', () => this.#dropUdp(socket));
    return settle(signal, () => socket.close(), (resolve, reject) => {
      socket.once('error', reject);
      socket.connect(this.target.port, this.target.host, () => {
        socket.off('error', reject);
        resolve(socket);
      });
    });
  }

  #dropUdp(socket: dgram.Socket): void {
    if (this.#udp === socket) this.#udp = null;
    try {
      socket.close();
    } catch {
      /* already closed */
    }
  }

  async #sendTcp(messages: Buffer[], signal: AbortSignal): Promise<void> {
    const socket = this.#tcp && !this.#tcp.destroyed && !this.#tcp.readableEnded ? this.#tcp : (this.#tcp = await this.#connectTcp(signal));
    const frames = Buffer.concat(messages.flatMap((m) => [Buffer.from(`${m.length} `, 'ascii'), m]));
    try {
      await settle<void>(signal, () => socket.destroy(), (resolve, reject) => {
        socket.once('error', reject);
        socket.write(frames, (err) => {
          socket.off('error', reject);
          if (err) reject(err);
          else resolve();
        });
      });
    } catch (err) {
      socket.destroy();
      throw err;
    }
  }

  #connectTcp(signal: AbortSignal): Promise<net.Socket> {
    const socket = net.connect({ host: this.target.host, port: this.target.port });
    socket.setKeepAlive(true);
    // Receivers send nothing back; whatever comes is dropped. A closed connection is replaced.
    socket.resume();
    socket.on('error', () => socket.destroy());
    socket.on('end', () => socket.destroy());
    return settle(signal, () => socket.destroy(), (resolve, reject) => {
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
    });
  }

  async close(): Promise<void> {
    this.#tcp?.destroy();
    this.#tcp = null;
    if (this.#udp) this.#dropUdp(this.#udp);
  }
}

/** A callback-style operation as a promise that also rejects (after `onAbort`) when `signal` fires. */
function settle<T>(signal: AbortSignal, onAbort: () => void, start: (resolve: (v: T) => void, reject: (err: unknown) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      onAbort();
      reject(signal.reason);
      return;
    }
    const abort = () => {
      onAbort();
      reject(signal.reason);
    };
    signal.addEventListener('abort', abort, { once: true });
    start(
      (v) => {
        signal.removeEventListener('abort', abort);
        resolve(v);
      },
      (err) => {
        signal.removeEventListener('abort', abort);
        reject(err);
      },
    );
  });
}
