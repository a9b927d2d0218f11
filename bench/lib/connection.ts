/**
 * One persistent mutual-TLS KMIP connection with one request in flight at a time, as a storage
 * array or a PyKMIP client uses it. Concurrency comes from many connections, not pipelining.
 */
import tls from 'node:tls';
import { TtlvFramer } from '../../ttlv/framer';

export interface TargetOptions {
  readonly host: string;
  readonly port: number;
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Name checked against the server certificate (the dev PKI issues for localhost). */
  readonly servername: string;
  /** A request unanswered for this long fails and closes its connection. */
  readonly requestTimeoutMs: number;
}

export class KmipConnection {
  private readonly framer = new TtlvFramer({ maxMessageBytes: 4 << 20 });
  private waiting: { resolve: (b: Uint8Array) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  private failure: Error | undefined;

  private constructor(
    private readonly socket: tls.TLSSocket,
    private readonly timeoutMs: number,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      let frames: Uint8Array[];
      try {
        frames = this.framer.push(d);
      } catch (e) {
        this.fail(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      for (const frame of frames) {
        const w = this.waiting;
        this.waiting = undefined;
        if (w) {
          clearTimeout(w.timer);
          w.resolve(frame);
        }
      }
    });
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('connection closed by the server')));
  }

  static connect(t: TargetOptions): Promise<KmipConnection> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: t.host, port: t.port, servername: t.servername, ca: t.ca, cert: t.cert, key: t.key });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`TLS connection to ${t.host}:${t.port} not established within ${t.requestTimeoutMs} ms`));
      }, t.requestTimeoutMs);
      s.once('secureConnect', () => {
        clearTimeout(timer);
        s.removeListener('error', reject);
        resolve(new KmipConnection(s, t.requestTimeoutMs));
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  get broken(): boolean {
    return this.failure !== undefined;
  }

  request(message: Uint8Array): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiting) return Promise.reject(new Error('a request is already in flight on this connection'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.waiting = { resolve, reject, timer };
      this.socket.write(message);
    });
  }

  close(): void {
    this.failure ??= new Error('closed');
    this.socket.destroy();
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const w = this.waiting;
    this.waiting = undefined;
    if (w) {
      clearTimeout(w.timer);
      w.reject(e);
    }
    this.socket.destroy();
  }
}

/** Opens `n` connections, at most `parallel` handshakes at a time (PyKMIP listens with a backlog of 5). */
export async function openConnections(t: TargetOptions, n: number, parallel = 16): Promise<KmipConnection[]> {
  const out: KmipConnection[] = [];
  let next = 0;
  const opened: KmipConnection[] = [];
  try {
    await Promise.all(
      Array.from({ length: Math.min(parallel, n) }, async () => {
        while (next < n) {
          const i = next++;
          const c = await KmipConnection.connect(t);
          opened.push(c);
          out[i] = c;
        }
      }),
    );
  } catch (e) {
    for (const c of opened) c.close();
    throw e;
  }
  return out;
}
