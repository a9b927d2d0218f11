/**
 * One persistent mutual-TLS KMIP connection with one request in flight at a time, as a storage
 * array or a PyKMIP client uses it: one of the client library's TLS channels. Concurrency comes
 * from many connections, not pipelining.
 */
import { openChannel, type KmipChannel } from '../../src/client';

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
  private constructor(private readonly channel: KmipChannel) {}

  static async connect(t: TargetOptions): Promise<KmipConnection> {
    const channel = await openChannel(
      'tls',
      { host: t.host, port: t.port },
      {
        servername: t.servername,
        ca: t.ca,
        cert: t.cert,
        key: t.key,
        connectTimeoutMs: t.requestTimeoutMs,
        requestTimeoutMs: t.requestTimeoutMs,
        maxResponseBytes: 4 << 20,
      },
    );
    return new KmipConnection(channel);
  }

  get broken(): boolean {
    return this.channel.broken;
  }

  request(message: Uint8Array): Promise<Uint8Array> {
    return this.channel.request(message);
  }

  close(): void {
    this.channel.close();
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
