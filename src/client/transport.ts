/**
 * The two ways to carry one KMIP message: binary TTLV over mutual TLS (port 5696, one request in
 * flight per connection, as the spec's clients use it) and over HTTPS (POST /kmip with
 * application/octet-stream, KMIP's HTTPS profile). A channel is one connection; the pool decides
 * which one a request takes.
 */
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { TtlvFramer } from '../../ttlv/framer';
import { KmipConnectionError } from './errors';

export interface ServerAddress {
  readonly host: string;
  readonly port: number;
}

export type TransportKind = 'tls' | 'https';

/** What both transports need to reach a server. */
export interface ChannelOptions {
  readonly ca: Buffer | string;
  readonly cert: Buffer | string;
  readonly key: Buffer | string;
  /** Name checked against the server certificate; the host when absent. */
  readonly servername?: string;
  /** TLS connection and handshake bound. */
  readonly connectTimeoutMs: number;
  /** A request unanswered for this long fails and closes its connection. */
  readonly requestTimeoutMs: number;
  /** The largest response accepted (the framer refuses a longer header before buffering). */
  readonly maxResponseBytes: number;
}

/** One connection to one server, one request at a time. */
export interface KmipChannel {
  readonly server: ServerAddress;
  /** Failed or closed: the pool drops it instead of reusing it. */
  readonly broken: boolean;
  request(message: Uint8Array): Promise<Uint8Array>;
  close(): void;
}

export function serverLabel(s: ServerAddress): string {
  return s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}

/** "host:port", "[v6]:port" or "host" (port 5696, KMIP's registered port). */
export function parseServerAddress(text: string, defaultPort = 5696): ServerAddress {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text);
  if (!m) throw new Error(`"${text}" is not HOST:PORT`);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`"${text}": port must be 1-65535`);
  return { host: m[1]!, port };
}

export function openChannel(kind: TransportKind, server: ServerAddress, opts: ChannelOptions): Promise<KmipChannel> {
  return kind === 'tls' ? TlsChannel.connect(server, opts) : HttpsChannel.connect(server, opts);
}

/** Failed before the request was written: it can go to another server. */
function notSent(server: ServerAddress, cause: string): KmipConnectionError {
  return new KmipConnectionError(`${serverLabel(server)}: ${cause}`, false, [`${serverLabel(server)}: ${cause}`]);
}

/** Failed after the request was written: the server may have carried it out. */
function fateUnknown(server: ServerAddress, cause: string): KmipConnectionError {
  return new KmipConnectionError(`${serverLabel(server)}: ${cause} after the request was sent`, true, [`${serverLabel(server)}: ${cause}`]);
}

/** SNI carries host names only (RFC 6066); an IP address is still checked against the certificate's IP SANs. */
function serverName(server: ServerAddress, opts: ChannelOptions): { servername?: string } {
  const name = opts.servername ?? server.host;
  return net.isIP(name) === 0 ? { servername: name } : {};
}

function tlsOptions(server: ServerAddress, opts: ChannelOptions): tls.ConnectionOptions {
  return { host: server.host, port: server.port, ...serverName(server, opts), ca: opts.ca, cert: opts.cert, key: opts.key, minVersion: 'TLSv1.2' };
}

class TlsChannel implements KmipChannel {
  private readonly framer: TtlvFramer;
  private waiting: { resolve: (b: Uint8Array) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  private failure: string | undefined;

  private constructor(
    readonly server: ServerAddress,
    private readonly socket: tls.TLSSocket,
    private readonly opts: ChannelOptions,
  ) {
    this.framer = new TtlvFramer({ maxMessageBytes: opts.maxResponseBytes });
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => this.fail(e.message));
    socket.on('close', () => this.fail('connection closed by the server'));
  }

  static connect(server: ServerAddress, opts: ChannelOptions): Promise<KmipChannel> {
    return new Promise((resolve, reject) => {
      const s = tls.connect(tlsOptions(server, opts));
      const timer = setTimeout(() => {
        s.destroy();
        reject(notSent(server, `TLS connection not established within ${opts.connectTimeoutMs} ms`));
      }, opts.connectTimeoutMs);
      const onError = (e: Error) => {
        clearTimeout(timer);
        s.destroy();
        reject(notSent(server, e.message));
      };
      s.once('error', onError);
      s.once('secureConnect', () => {
        clearTimeout(timer);
        s.removeListener('error', onError);
        resolve(new TlsChannel(server, s, opts));
      });
    });
  }

  get broken(): boolean {
    return this.failure !== undefined;
  }

  request(message: Uint8Array): Promise<Uint8Array> {
    if (this.failure !== undefined) return Promise.reject(notSent(this.server, this.failure));
    if (this.waiting) return Promise.reject(new Error('a request is already in flight on this connection'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(`no answer within ${this.opts.requestTimeoutMs} ms`), this.opts.requestTimeoutMs);
      this.waiting = { resolve, reject, timer };
      this.socket.write(message);
    });
  }

  close(): void {
    this.failure ??= 'closed';
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    let frames: Uint8Array[];
    try {
      frames = this.framer.push(d);
    } catch (e) {
      this.fail(`unreadable response: ${(e as Error).message}`);
      return;
    }
    for (const frame of frames) {
      const w = this.waiting;
      this.waiting = undefined;
      if (w === undefined) {
        // An answer nobody asked for: the stream is out of step, so nothing after it can be trusted.
        this.fail('unsolicited response');
        return;
      }
      clearTimeout(w.timer);
      w.resolve(frame);
    }
  }

  private fail(cause: string): void {
    this.failure ??= cause;
    const w = this.waiting;
    this.waiting = undefined;
    if (w) {
      clearTimeout(w.timer);
      w.reject(fateUnknown(this.server, cause));
    }
    this.socket.destroy();
  }
}

/**
 * KMIP over HTTPS: each request a POST on a kept-alive connection of the channel's own agent
 * (one socket), so a channel maps onto one TLS connection as the TTLV transport's does.
 */
class HttpsChannel implements KmipChannel {
  private failure: string | undefined;

  private constructor(
    readonly server: ServerAddress,
    private readonly agent: https.Agent,
    private readonly opts: ChannelOptions,
  ) {}

  static connect(server: ServerAddress, opts: ChannelOptions): Promise<KmipChannel> {
    const agent = new https.Agent({ ...tlsOptions(server, opts), keepAlive: true, maxSockets: 1 });
    // Connecting now, not at the first request, so a dead server is found before a request is risked.
    return new Promise((resolve, reject) => {
      const s = tls.connect(tlsOptions(server, opts));
      const timer = setTimeout(() => {
        s.destroy();
        reject(notSent(server, `TLS connection not established within ${opts.connectTimeoutMs} ms`));
      }, opts.connectTimeoutMs);
      s.once('error', (e) => {
        clearTimeout(timer);
        s.destroy();
        agent.destroy();
        reject(notSent(server, e.message));
      });
      s.once('secureConnect', () => {
        clearTimeout(timer);
        s.end();
        resolve(new HttpsChannel(server, agent, opts));
      });
    });
  }

  get broken(): boolean {
    return this.failure !== undefined;
  }

  request(message: Uint8Array): Promise<Uint8Array> {
    if (this.failure !== undefined) return Promise.reject(notSent(this.server, this.failure));
    return new Promise((resolve, reject) => {
      let written = false;
      const fail = (cause: string) => {
        this.failure ??= cause;
        this.agent.destroy();
        reject(written ? fateUnknown(this.server, cause) : notSent(this.server, cause));
      };
      const req = https.request(
        {
          agent: this.agent,
          host: this.server.host,
          port: this.server.port,
          ...serverName(this.server, this.opts),
          method: 'POST',
          path: '/kmip',
          headers: { 'content-type': 'application/octet-stream', 'content-length': message.length },
          timeout: this.opts.requestTimeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let length = 0;
          res.on('data', (c: Buffer) => {
            length += c.length;
            if (length > this.opts.maxResponseBytes) {
              req.destroy();
              fail(`response longer than ${this.opts.maxResponseBytes} bytes`);
              return;
            }
            chunks.push(c);
          });
          res.on('end', () => {
            const body = Buffer.concat(chunks);
            if (res.statusCode === 200) return resolve(body);
            // The HTTPS transport refuses a request it could not read with a status and a text line;
            // it never reached the KMIP layer, so nothing was carried out.
            const cause = `HTTP ${res.statusCode}: ${body.toString('utf8', 0, Math.min(body.length, 200)).trim()}`;
            reject(notSent(this.server, cause));
          });
          res.on('error', (e) => fail(e.message));
        },
      );
      req.on('finish', () => (written = true));
      req.on('timeout', () => {
        req.destroy();
        fail(`no answer within ${this.opts.requestTimeoutMs} ms`);
      });
      req.on('error', (e) => fail(e.message));
      req.end(message);
    });
  }

  close(): void {
    this.failure ??= 'closed';
    this.agent.destroy();
  }
}
