/**
 * The mutual-TLS listener (KMIP port 5696). TLS 1.2+ only; the client must present a certificate
 * the configured CA signed. Each connection frames messages with the sans-io framer and answers
 * them strictly in order.
 */
import { randomUUID } from 'node:crypto';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { TtlvFramer } from '../../ttlv/framer';
import { TtlvError } from '../../ttlv/errors';
import { Tag } from '../spec/generated/tags';
import type { ClientIdentity } from '../objects/context';
import { handleMessage, type ServerCore } from './handle-message';
import { connectionDemand } from './loop-demand';
import { peerIdentity, secureContextOptions, type TlsReload } from './peer-identity';
import { guardHandshakes } from './connection-bound';
import { listenOn } from './listening';

export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly ca: Buffer;
  /** PEM CRLs checked at each handshake (empty or absent: no revocation check). */
  readonly crl?: readonly string[];
  /** Identities with access to every object. */
  readonly adminIdentities: readonly string[];
  /** Where the identity comes from: the subject CN (default) or the first DNS/email SAN. */
  readonly identityFrom: 'cn' | 'san';
  /** TLS 1.2/1.3 cipher suites (Node/OpenSSL list); undefined: Node's defaults. */
  readonly ciphers?: string;
  /** Refuse a client certificate whose Extended Key Usage does not list clientAuth (or that has none). */
  readonly requireClientAuthEku?: boolean;
  /**
   * A connection that sends nothing for this long is closed; the clock does not run out while a
   * request of the connection is still being worked on (a slow SLH-DSA signature), only after.
   */
  readonly idleTimeoutMs: number;
  /** A TLS handshake must complete within this. */
  readonly handshakeTimeoutMs: number;
  /** A message, once begun, must arrive whole within this (a client trickling bytes is cut off). */
  readonly messageTimeoutMs?: number;
  /**
   * Open connections at most (default 4096). At the limit a new connection makes room by closing
   * the oldest one that has not sent a byte yet (the newcomer itself if there is none).
   */
  readonly maxConnections?: number;
  /**
   * Open connections one identity may hold at most (default a quarter of maxConnections), so one
   * certificate cannot take every slot and lock the others out. A connection past it is refused
   * after the handshake, audited with the identity.
   */
  readonly maxConnectionsPerIdentity?: number;
  /** Told when an authenticated connection opens and closes (the server's metrics). */
  readonly connections?: ConnectionObserver;
}

/** Authenticated connections as they open and close, by transport. */
export interface ConnectionObserver {
  opened(transport: 'ttlv' | 'https'): void;
  closed(transport: 'ttlv' | 'https'): void;
}

/**
 * Open connections at most, by default: thousands of clients on one process, each connection
 * holding a TLS session and a framer's buffer; past it the oldest idle one makes room.
 */
export const DEFAULT_MAX_CONNECTIONS = 4096;

/** A message, once begun, must arrive whole within this by default: a client trickling bytes holds a slot no longer. */
export const DEFAULT_MESSAGE_TIMEOUT_MS = 30_000;

/** Requests read ahead of their answers per connection; past this the socket stops reading. */
const MAX_PIPELINED = 32;

export type { TlsReload };

export interface RunningListener {
  readonly address: AddressInfo;
  /**
   * Serves new handshakes with this material; open connections keep theirs. Throws, changing
   * nothing, when OpenSSL refuses it. The new context has new session ticket keys, so no session
   * from before (a client revoked since) resumes without a full handshake and its checks.
   */
  reloadTls(material: TlsReload): void;
  /** Stops accepting, lets in-flight requests finish, then closes every connection. */
  close(): Promise<void>;
}

export function startListener(core: ServerCore, opts: ListenerOptions): Promise<RunningListener> {
  const admins = new Set(opts.adminIdentities);
  const sockets = new Set<tls.TLSSocket>();
  const inFlight = new Set<Promise<void>>();

  const server = tls.createServer({
    ...secureContextOptions({ key: opts.key, cert: opts.cert, ca: opts.ca, crl: opts.crl ?? [] }, opts.ciphers),
    requestCert: true,
    // Verified below so that a rejected handshake can be audited with its reason.
    rejectUnauthorized: false,
    handshakeTimeout: opts.handshakeTimeoutMs,
    // Keep-alive probes notice peers that vanished without closing.
    keepAlive: true,
  });

  // Bounds on connections and audited handshake refusals, as the HTTPS transport keeps them (connection-bound.ts).
  const maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const maxPerIdentity = opts.maxConnectionsPerIdentity ?? Math.max(1, Math.floor(maxConnections / 4));
  /** Authenticated connections per identity. */
  const perIdentity = new Map<string, number>();
  const guard = guardHandshakes(server, maxConnections, () => sockets.size, core.audit);

  server.on('secureConnection', (socket) => {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    guard.handshakeDone(peer);
    const verified = peerIdentity(socket, peer, { admins, identityFrom: opts.identityFrom, requireClientAuthEku: opts.requireClientAuthEku });
    if ('refused' in verified) {
      core.audit.record({ event: 'connection-rejected', correlationId: randomUUID(), ...verified.refused, peer });
      socket.destroy();
      return;
    }
    const client = verified.client;
    const name = client.name;
    const held = perIdentity.get(name) ?? 0;
    if (held >= maxPerIdentity) {
      core.audit.record({
        event: 'connection-rejected',
        correlationId: randomUUID(),
        client: name,
        peer,
        reason: `per-identity connection limit reached (${maxPerIdentity} open connections for ${name})`,
      });
      socket.destroy();
      return;
    }
    perIdentity.set(name, held + 1);
    sockets.add(socket);
    opts.connections?.opened('ttlv');
    socket.on('close', () => {
      sockets.delete(socket);
      opts.connections?.closed('ttlv');
      const n = (perIdentity.get(name) ?? 1) - 1;
      if (n > 0) perIdentity.set(name, n);
      else perIdentity.delete(name);
    });
    socket.on('error', () => socket.destroy());
    serveConnection(socket, client);
  });

  function serveConnection(socket: tls.TLSSocket, client: ClientIdentity): void {
    const framer = new TtlvFramer({ maxMessageBytes: core.limits.maxMessageBytes, expectTag: Tag.RequestMessage });
    const messageTimeoutMs = opts.messageTimeoutMs ?? DEFAULT_MESSAGE_TIMEOUT_MS;
    // Answers go out in request order: each message waits for the one before it.
    let chain: Promise<void> = Promise.resolve();
    let pending = 0;
    // Free to send while no answer is owed (loop-demand.ts).
    const demand = connectionDemand();
    demand.mayRequest(true);
    let partialTimer: NodeJS.Timeout | undefined;
    const reject = (reason: string) => {
      core.audit.record({ event: 'message-rejected', correlationId: randomUUID(), client: client.name, peer: client.peer, reason });
      socket.destroy();
    };
    // The message timeout is the client's clock: it runs while part of a message waits and we are
    // reading, never while we ourselves stopped reading (back-pressure from a long pipeline).
    const stopPartialTimer = () => {
      clearTimeout(partialTimer);
      partialTimer = undefined;
    };
    const startPartialTimer = () => {
      if (partialTimer === undefined && framer.bufferedBytes > 0 && !socket.isPaused()) {
        partialTimer = setTimeout(() => reject('message not completed in time'), messageTimeoutMs);
      }
    };
    socket.on('close', () => {
      stopPartialTimer();
      demand.mayRequest(false);
    });
    // Idle means the client owes us nothing and we owe it nothing: while an answer is being made
    // the connection is busy, however long that takes; the clock restarts when the last answer is out.
    socket.setTimeout(opts.idleTimeoutMs);
    socket.on('timeout', () => {
      if (pending === 0) socket.destroy();
    });
    socket.on('data', (chunk: Buffer) => {
      let frames: Uint8Array[];
      try {
        frames = framer.push(chunk);
      } catch (e) {
        // A bad header or an over-size length: the stream cannot be resynchronised.
        reject(e instanceof TtlvError ? e.code : 'framing error');
        return;
      }
      // A partial message starts the clock; a whole one stops it.
      if (framer.bufferedBytes === 0) stopPartialTimer();
      else startPartialTimer();
      for (const frame of frames) {
        pending++;
        demand.mayRequest(false);
        if (pending >= MAX_PIPELINED) {
          socket.pause();
          stopPartialTimer();
        }
        const work = chain.then(async () => {
          const response = await handleMessage(frame, { client }, core);
          // No answer before the request's audit record is on disk: an acknowledged request always
          // has its record, even after a crash. If it can never be written, the connection closes
          // unanswered (the rejection below).
          await core.audit.durable();
          if (!socket.destroyed) socket.write(response);
        });
        chain = work.then(
          () => {
            pending--;
            if (pending === 0 && !socket.destroyed) {
              socket.setTimeout(opts.idleTimeoutMs);
              demand.mayRequest(true);
            }
            if (pending < MAX_PIPELINED / 2 && socket.isPaused()) {
              socket.resume();
              startPartialTimer();
            }
          },
          () => {
            socket.destroy();
          },
        );
        const tracked = chain;
        inFlight.add(tracked);
        void tracked.finally(() => inFlight.delete(tracked));
      }
    });
  }

  return listenOn(server, opts, { inFlight, sockets });
}
