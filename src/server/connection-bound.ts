/**
 * The connection bound and the handshake refusals both transports (TLS on 5696, HTTPS) keep the
 * same way, so neither can be the easier one to flood.
 *
 * The limit is kept here, not by Node's server.maxConnections (which silently drops the newcomer):
 * thousands of idle sockets that never begin a handshake must not lock out a client with a
 * certificate. At the limit, the oldest connection that has not sent a byte is closed for the
 * newcomer (or the newcomer is refused if there is none); authenticated and mid-handshake
 * connections are never closed for it. Each refusal is audited.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type tls from 'node:tls';
import type { AuditSink } from '../audit/audit-log';
import { handshakeFailure } from './peer-identity';

export interface HandshakeGuard {
  /** A handshake finished (whatever its outcome): the connection no longer counts as handshaking. */
  handshakeDone(peer: string): void;
}

/**
 * Installs the `connection` and `tlsClientError` handlers on `server`. `authenticated` counts the
 * listener's open authenticated connections, which count against `maxConnections` too.
 */
export function guardHandshakes(server: tls.Server, maxConnections: number, authenticated: () => number, audit: AuditSink): HandshakeGuard {
  /** TCP connections whose TLS handshake has not completed, by peer, oldest first. */
  const handshaking = new Map<string, Socket>();
  const dropped = new WeakSet<object>();
  server.on('connection', (tcp: Socket) => {
    const peer = `${tcp.remoteAddress}:${tcp.remotePort}`;
    handshaking.set(peer, tcp);
    tcp.once('close', () => {
      if (handshaking.get(peer) === tcp) handshaking.delete(peer);
    });
    if (handshaking.size + authenticated() <= maxConnections) return;
    let victim: [string, Socket] = [peer, tcp];
    for (const entry of handshaking) {
      if (entry[1].bytesRead === 0) {
        victim = entry;
        break;
      }
    }
    handshaking.delete(victim[0]);
    dropped.add(victim[1]);
    audit.record({
      event: 'connection-rejected',
      correlationId: randomUUID(),
      peer: victim[0],
      reason: victim[1] === tcp ? 'connection limit reached' : 'connection limit reached: closed an idle connection that sent nothing',
    });
    victim[1].destroy();
  });

  server.on('tlsClientError', (err, socket) => {
    // A connection closed for the limit above was audited there (Node keeps the TCP socket under
    // a server-side TLS socket as `_parent`).
    if (!dropped.has((socket as unknown as { _parent?: object })._parent ?? socket)) {
      audit.record({ event: 'connection-rejected', correlationId: randomUUID(), peer: `${socket.remoteAddress}:${socket.remotePort}`, reason: handshakeFailure(err) });
    }
    // With a tlsClientError listener, Node leaves closing the socket to us.
    socket.destroy();
  });

  return { handshakeDone: (peer) => void handshaking.delete(peer) };
}
