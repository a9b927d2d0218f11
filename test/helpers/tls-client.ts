/** A KMIP-over-mTLS connection for tests: one of the client library's channels, one request at a time. */
import { openChannel, type KmipChannel } from '../../src/client';

/** Bounds on a hang only: a test that waits on the server waits for as long as the test allows. */
const CONNECT_TIMEOUT_MS = 60_000;
const REQUEST_TIMEOUT_MS = 600_000;

export class KmipTlsClient {
  private constructor(private readonly channel: KmipChannel) {}

  static async connect(opts: { port: number; ca: Buffer; cert: Buffer; key: Buffer; host?: string }): Promise<KmipTlsClient> {
    const channel = await openChannel(
      'tls',
      { host: opts.host ?? '127.0.0.1', port: opts.port },
      {
        servername: 'localhost',
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        requestTimeoutMs: REQUEST_TIMEOUT_MS,
        maxResponseBytes: 1 << 20,
      },
    );
    return new KmipTlsClient(channel);
  }

  request(message: Uint8Array): Promise<Uint8Array> {
    return this.channel.request(message);
  }

  close(): void {
    this.channel.close();
  }
}
