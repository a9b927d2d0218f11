/**
 * A client's notification endpoint, as a test runs it: a mutual-TLS listener (TLS 1.2+, a
 * certificate from the test's CA, the server's certificate required and verified) that reads the
 * Request Messages the server sends with the project's framer and reader, keeps them, and answers
 * each with a Success Response Message with an empty payload.
 */
import net from 'node:net';
import tls from 'node:tls';
import { decodeTtlv } from '../../ttlv/decode';
import { encodeTtlv } from '../../ttlv/encode';
import { TtlvFramer } from '../../ttlv/framer';
import type { TtlvStructure } from '../../ttlv/types';
import { Tag } from '../../src/spec/generated/tags';
import { ResultStatus } from '../../src/spec/generated/enums';
import { encodeResponseItem, encodeResponseMessage, readRequestMessage } from '../../src/kmip/message';
import type { ProtocolVersion } from '../../src/spec/versions';

export interface ReceivedMessage {
  readonly version: ProtocolVersion;
  readonly batchCount: number;
  readonly operation: number;
  readonly payload: TtlvStructure;
  /** Subject CN of the certificate the sender presented. */
  readonly peerCn: string | undefined;
}

export interface EndpointCredentials {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly ca: Buffer;
  /** Take any client certificate (an endpoint that would accept whatever connects). */
  readonly anyClient?: boolean;
}

export class TestEndpoint {
  readonly received: ReceivedMessage[] = [];
  /** How long each answer takes (a slow client). */
  answerDelayMs = 0;
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;
  private listeners: Array<() => void> = [];

  private constructor(
    private readonly creds: EndpointCredentials,
    public port: number,
  ) {}

  /** Connections open to this endpoint now (a black hole's included). */
  get openConnections(): number {
    return this.sockets.size;
  }

  /** Listens on 127.0.0.1 (`port` 0: any free port). */
  static async start(creds: EndpointCredentials, port = 0): Promise<TestEndpoint> {
    const e = new TestEndpoint(creds, port);
    await e.listenTls();
    return e;
  }

  async listenTls(): Promise<void> {
    const server = tls.createServer({
      key: this.creds.key,
      cert: this.creds.cert,
      ca: this.creds.ca,
      requestCert: true,
      rejectUnauthorized: this.creds.anyClient !== true,
      minVersion: 'TLSv1.2',
    });
    server.on('secureConnection', (socket) => this.serve(socket));
    await this.listen(server);
  }

  /** Accepts TCP connections and never says a word: an endpoint that hangs. */
  async listenBlackHole(): Promise<void> {
    await this.listen(net.createServer(() => undefined));
  }

  /** Stops listening and cuts every connection. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear(); // counted as gone at once, not when their close events come
    await closed;
  }

  /** The first message (already received or still to come) that `match` accepts. */
  waitFor(match: (m: ReceivedMessage) => boolean, timeoutMs = 30_000): Promise<ReceivedMessage> {
    const found = this.received.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== check);
        reject(new Error(`no matching message within ${timeoutMs} ms (received ${this.received.length})`));
      }, timeoutMs);
      const check = () => {
        const m = this.received.find(match);
        if (!m) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== check);
        resolve(m);
      };
      this.listeners.push(check);
    });
  }

  private async listen(server: net.Server): Promise<void> {
    server.on('connection', (s: net.Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => s.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  private serve(socket: tls.TLSSocket): void {
    const peerCn = socket.getPeerCertificate().subject?.CN;
    const framer = new TtlvFramer({ maxMessageBytes: 1 << 20, expectTag: Tag.RequestMessage });
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      for (const frame of framer.push(chunk)) {
        const request = readRequestMessage(decodeTtlv(frame));
        const item = request.items[0]!;
        this.received.push({
          version: request.header.version,
          batchCount: request.header.batchCount,
          operation: item.operation,
          payload: item.payload,
          peerCn: Array.isArray(peerCn) ? peerCn[0] : peerCn,
        });
        const answer = encodeResponseItem({ operation: item.operation, status: ResultStatus.Success, payload: [] });
        const bytes = encodeTtlv(encodeResponseMessage({ version: request.header.version, timeStamp: BigInt(Math.floor(Date.now() / 1000)) }, [answer]));
        setTimeout(() => socket.write(bytes), this.answerDelayMs);
        for (const l of [...this.listeners]) l();
      }
    });
  }
}
