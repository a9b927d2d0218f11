/**
 * One mutual-TLS connection from the server to a client's endpoint: TLS 1.2+, the server's own
 * certificate and key as client credentials, the configured CA as the only trust, the endpoint's
 * certificate checked against its address. One message at a time, each answered within a time
 * limit; answers are framed with the same framer the listener uses.
 */
import net from 'node:net';
import tls from 'node:tls';
import { TtlvFramer } from '../../ttlv/framer';
import { Tag } from '../spec/generated/tags';

export interface EndpointTls {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly ca: Buffer;
}

/** Where a delivery failed: before the message left (it can be sent again as is) or after. */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  constructor(
    readonly phase: 'connect' | 'answer',
    message: string,
  ) {
    super(message);
  }
}

export class EndpointConnection {
  private readonly framer: TtlvFramer;
  private waiting: { resolve: (b: Uint8Array) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  private failure: Error | undefined;

  private constructor(
    private readonly socket: tls.TLSSocket,
    maxMessageBytes: number,
  ) {
    this.framer = new TtlvFramer({ maxMessageBytes, expectTag: Tag.ResponseMessage });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.fail(e));
    socket.on('close', () => this.fail(new Error('the endpoint closed the connection')));
  }

  static connect(
    host: string,
    port: number,
    creds: EndpointTls,
    timeoutMs: number,
    maxMessageBytes: number,
    signal?: AbortSignal,
  ): Promise<EndpointConnection> {
    if (signal?.aborted) return Promise.reject(new DeliveryError('connect', 'the server is stopping'));
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host,
        port,
        key: creds.key,
        cert: creds.cert,
        ca: creds.ca,
        minVersion: 'TLSv1.2',
        // SNI carries host names only; an IP address is still checked against the certificate's SANs.
        servername: net.isIP(host) === 0 ? host : undefined,
      });
      const timer = setTimeout(() => socket.destroy(new Error(`no TLS connection within ${timeoutMs} ms`)), timeoutMs);
      const abort = () => socket.destroy(new Error('the server is stopping'));
      signal?.addEventListener('abort', abort, { once: true });
      const failed = (e: Error) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', abort);
        reject(new DeliveryError('connect', e.message));
      };
      // `on`, not `once`: a second error after the first must not go unhandled.
      socket.on('error', failed);
      const closed = () => failed(new Error('the connection closed before TLS was established'));
      socket.once('close', closed);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', abort);
        socket.off('error', failed);
        socket.off('close', closed);
        socket.setKeepAlive(true);
        resolve(new EndpointConnection(socket, maxMessageBytes));
      });
    });
  }

  get usable(): boolean {
    return this.failure === undefined && !this.socket.destroyed;
  }

  /** Sends one message and resolves with the endpoint's answer (the whole framed message). */
  request(message: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(new DeliveryError('connect', this.failure.message));
    if (this.waiting) return Promise.reject(new Error('a message is already waiting for its answer'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      this.waiting = { resolve, reject, timer };
      this.socket.write(message);
    });
  }

  /** Closes the connection; a message waiting for its answer fails with `reason`. */
  destroy(reason: Error = new Error('connection closed by the server')): void {
    this.fail(reason);
    this.socket.destroy();
  }

  /** Ends the connection politely (idle, or the server stopping). */
  end(): void {
    this.failure ??= new Error('connection closed by the server');
    this.socket.end();
    // A peer that never answers the close does not keep the socket.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private onData(chunk: Buffer): void {
    let frames: Uint8Array[];
    try {
      frames = this.framer.push(chunk);
    } catch (e) {
      this.destroy(new Error(`the endpoint sent a malformed message: ${(e as Error).message}`));
      return;
    }
    for (const frame of frames) {
      const w = this.waiting;
      // An answer nobody asked for: the stream is out of step and cannot be trusted.
      if (!w) {
        this.destroy(new Error('the endpoint sent a message that answers nothing'));
        return;
      }
      this.waiting = undefined;
      clearTimeout(w.timer);
      w.resolve(frame);
    }
  }

  private fail(e: Error): void {
    this.failure ??= e;
    const w = this.waiting;
    this.waiting = undefined;
    if (w) {
      clearTimeout(w.timer);
      w.reject(new DeliveryError('answer', e.message));
    }
  }
}
