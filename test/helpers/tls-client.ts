/** A minimal KMIP-over-mTLS client for tests: one request at a time on a persistent connection. */
import tls from 'node:tls';
import { TtlvFramer } from '../../ttlv/framer';

export class KmipTlsClient {
  private readonly framer = new TtlvFramer({ maxMessageBytes: 1 << 20 });
  private waiting: { resolve: (b: Uint8Array) => void; reject: (e: Error) => void } | undefined;
  private closedError: Error | undefined;

  private constructor(private readonly socket: tls.TLSSocket) {
    socket.on('data', (d: Buffer) => {
      for (const frame of this.framer.push(d)) {
        const w = this.waiting;
        this.waiting = undefined;
        w?.resolve(frame);
      }
    });
    const fail = (e: Error) => {
      this.closedError = e;
      const w = this.waiting;
      this.waiting = undefined;
      w?.reject(e);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  static connect(opts: { port: number; ca: Buffer; cert: Buffer; key: Buffer; host?: string }): Promise<KmipTlsClient> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: opts.host ?? '127.0.0.1', port: opts.port, servername: 'localhost', ca: opts.ca, cert: opts.cert, key: opts.key });
      s.once('secureConnect', () => resolve(new KmipTlsClient(s)));
      s.once('error', reject);
    });
  }

  request(message: Uint8Array): Promise<Uint8Array> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(message);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}
