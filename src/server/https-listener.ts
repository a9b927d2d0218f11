/**
 * KMIP over HTTPS (KMIP Additional Message Encodings 1.0, the HTTPS profile): `POST /kmip` whose body
 * is one request message in binary TTLV (`application/octet-stream`), KMIP XML (`text/xml`) or KMIP
 * JSON (`application/json`), answered in the same encoding with 200. The text encodings are turned
 * into the same tree first, and every message goes through the same `handleMessage` as port 5696.
 *
 * Same rules as the TLS listener: mutual TLS 1.2+ against the configured CA and CRLs, the identity
 * from the verified certificate (peer-identity.ts), every refusal audited, a body above the message
 * limit refused before it is buffered (by its Content-Length, and while it streams), a request that
 * must arrive whole within `messageTimeoutMs` (cut off with 408 and audited, as 5696 audits a message
 * cut off), idle and handshake timeouts, the connection bounds.
 *
 * The profile fixes the method, the path and the content types but names no HTTP status for a
 * request outside them, so HTTP's own apply: 404 (another path), 405 with `Allow: POST` (another
 * method), 415 (another content type), 413 (a body above the limit). A body that arrives whole
 * but cannot be read is a KMIP matter: 200 with an Invalid Message response in the request's
 * encoding, as port 5696 answers an undecodable message.
 */
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import { decodeTtlv } from '../../ttlv/decode';
import { encodeTtlv } from '../../ttlv/encode';
import { parseKmipJson, renderKmipJson } from '../../ttlv/json';
import { parseKmipXml, renderKmipXml } from '../../ttlv/xml';
import type { TtlvItem } from '../../ttlv/types';
import { kmipDictionary } from '../spec/dictionary';
import type { ClientIdentity } from '../objects/context';
import { handleMessage, invalidMessageResponse, type ServerCore, type Session } from './handle-message';
import { connectionDemand } from './loop-demand';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_MESSAGE_TIMEOUT_MS, type ListenerOptions, type RunningListener } from './listener';
import { peerIdentity, secureContextOptions } from './peer-identity';
import { guardHandshakes } from './connection-bound';
import { listenOn } from './listening';

/** The request URI of the profile. */
export const KMIP_PATH = '/kmip';

export type HttpEncoding = 'ttlv' | 'xml' | 'json';

/** The content type each encoding is answered with (the profile's names). */
export const CONTENT_TYPES: Readonly<Record<HttpEncoding, string>> = {
  ttlv: 'application/octet-stream',
  xml: 'text/xml',
  json: 'application/json',
};

/** Lenient in: `application/xml` is read as KMIP XML too (answered as text/xml). */
const ACCEPTED: Readonly<Record<string, HttpEncoding>> = {
  'application/octet-stream': 'ttlv',
  'text/xml': 'xml',
  'application/xml': 'xml',
  'application/json': 'json',
};

/**
 * A text body may be this many times the message limit: KMIP XML and JSON spell each item's tag
 * and type out, several times the bytes of the same message in TTLV (which must still fit the
 * limit once converted; handleMessage checks it).
 */
const TEXT_BODY_FACTOR = 4;

/** The encoding a Content-Type header names, or undefined for one the profile does not define. */
function encodingOf(contentType: string | undefined): HttpEncoding | undefined {
  if (contentType === undefined) return undefined;
  const media = contentType.split(';')[0]!.trim().toLowerCase();
  return ACCEPTED[media];
}

/** The largest body accepted in an encoding. */
function bodyLimit(encoding: HttpEncoding, maxMessageBytes: number): number {
  return encoding === 'ttlv' ? maxMessageBytes : maxMessageBytes * TEXT_BODY_FACTOR;
}

function render(tree: TtlvItem, encoding: 'xml' | 'json'): Buffer {
  return Buffer.from(encoding === 'xml' ? renderKmipXml(tree, kmipDictionary) : renderKmipJson(tree, kmipDictionary, { indent: 2 }), 'utf8');
}

/**
 * One HTTP body in, the response body out, in the same encoding: the pure part of the transport,
 * which the conformance runner also calls in process. A text body that does not read as a KMIP
 * message gets Invalid Message in its encoding.
 */
export async function answerHttpBody(body: Uint8Array, encoding: HttpEncoding, session: Session, core: ServerCore): Promise<Uint8Array> {
  if (encoding === 'ttlv') return handleMessage(body, session, core);
  let request: Uint8Array;
  try {
    const text = Buffer.from(body).toString('utf8');
    const tree = encoding === 'xml' ? parseKmipXml(text, kmipDictionary) : parseKmipJson(text, kmipDictionary);
    request = encodeTtlv(tree);
  } catch (e) {
    const what = e instanceof Error ? e.message : String(e);
    return render(decodeTtlv(invalidMessageResponse(session, core, `the ${encoding === 'xml' ? 'KMIP XML' : 'KMIP JSON'} body cannot be read: ${what}`)), encoding);
  }
  const response = await handleMessage(request, session, core);
  return render(decodeTtlv(response, { maxMessageBytes: response.length }), encoding);
}

export type HttpsListenerOptions = ListenerOptions;

/** An HTTP refusal: its status, the audit reason, extra headers. */
interface Refusal {
  readonly status: number;
  readonly reason: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export function startHttpsListener(core: ServerCore, opts: HttpsListenerOptions): Promise<RunningListener> {
  const admins = new Set(opts.adminIdentities);
  const clients = new WeakMap<Socket, ClientIdentity>();
  const sockets = new Set<tls.TLSSocket>();
  const inFlight = new Set<Promise<void>>();
  const maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const maxPerIdentity = opts.maxConnectionsPerIdentity ?? Math.max(1, Math.floor(maxConnections / 4));
  const perIdentity = new Map<string, number>();
  const audit = (rec: { event: 'connection-rejected' | 'message-rejected'; peer: string; reason: string; client?: string; certificateFingerprint?: string }): void =>
    core.audit.record({ correlationId: randomUUID(), ...rec });

  const server = https.createServer(
    {
      ...secureContextOptions({ key: opts.key, cert: opts.cert, ca: opts.ca, crl: opts.crl ?? [] }, opts.ciphers),
      requestCert: true,
      // Verified in secureConnection so that a rejected handshake is audited with its reason.
      rejectUnauthorized: false,
      handshakeTimeout: opts.handshakeTimeoutMs,
      keepAlive: true,
      // Node checks the request timeouts below this often (30 s by default): often enough for the limit.
      connectionsCheckingInterval: Math.max(100, Math.min(30_000, Math.floor((opts.messageTimeoutMs ?? DEFAULT_MESSAGE_TIMEOUT_MS) / 4))),
    },
    (req, res) => serve(req, res),
  );
  const messageTimeoutMs = opts.messageTimeoutMs ?? DEFAULT_MESSAGE_TIMEOUT_MS;
  // A request (head and body) must arrive whole within the message timeout; an idle connection closes.
  server.headersTimeout = messageTimeoutMs;
  server.requestTimeout = messageTimeoutMs;
  server.keepAliveTimeout = opts.idleTimeoutMs;
  server.timeout = opts.idleTimeoutMs;

  // The same bound on connections and audited handshake refusals as the TLS listener (connection-bound.ts).
  const guard = guardHandshakes(server, maxConnections, () => sockets.size, core.audit);

  /** Plaintext bytes read from each connection when its last answer went out: more since is a begun request. */
  const readWhenWhole = new WeakMap<Socket, number>();
  /** The response of the request each connection is reading, until it is sent. */
  const answering = new WeakMap<Socket, ServerResponse>();
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // A request whose head arrived is being read; bytes since the last answer are a head begun.
    const begun = answering.has(socket) || socket.bytesRead > (readWhenWhole.get(socket) ?? 0);
    const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    const malformed = err.code?.startsWith('HPE_') === true;
    // Node's statuses: 431 for a head above its size limit, 400 for anything else it cannot parse.
    const status = timedOut ? '408 Request Timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
    const client = clients.get(socket);
    // Audited as port 5696 audits a message cut off or unframeable. Node's request timer also
    // fires on a connection that has sent nothing since its handshake: closed unaudited, as idle.
    if (client && ((timedOut && begun) || malformed)) {
      const reason = timedOut ? 'message not completed in time' : `HTTP ${status.slice(0, 3)}: malformed HTTP request (${err.code})`;
      audit({ event: 'message-rejected', client: client.name, certificateFingerprint: client.certificateFingerprint, peer: client.peer ?? '', reason });
    }
    // With a clientError listener the answer is ours to give, as Node would: unless one is under way.
    if ((timedOut || malformed) && socket.writable && answering.get(socket)?.headersSent !== true) {
      socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
    }
    socket.destroy();
  });

  server.on('secureConnection', (socket: tls.TLSSocket) => {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    guard.handshakeDone(peer);
    const verified = peerIdentity(socket, peer, { admins, identityFrom: opts.identityFrom, requireClientAuthEku: opts.requireClientAuthEku });
    if ('refused' in verified) {
      audit({ event: 'connection-rejected', ...verified.refused, peer });
      socket.destroy();
      return;
    }
    const name = verified.client.name;
    const held = perIdentity.get(name) ?? 0;
    if (held >= maxPerIdentity) {
      audit({ event: 'connection-rejected', client: name, peer, reason: `per-identity connection limit reached (${maxPerIdentity} open connections for ${name})` });
      socket.destroy();
      return;
    }
    perIdentity.set(name, held + 1);
    clients.set(socket, verified.client);
    sockets.add(socket);
    opts.connections?.opened('https');
    // Counted as free to send for as long as it is open (HTTP keep-alive): the audit trail never
    // syncs on the event loop while an HTTPS client is connected (loop-demand.ts).
    const demand = connectionDemand();
    demand.mayRequest(true);
    socket.on('close', () => {
      demand.mayRequest(false);
      sockets.delete(socket);
      opts.connections?.closed('https');
      const n = (perIdentity.get(name) ?? 1) - 1;
      if (n > 0) perIdentity.set(name, n);
      else perIdentity.delete(name);
    });
  });

  function refuse(req: IncomingMessage, res: ServerResponse, client: ClientIdentity, r: Refusal, close: boolean): void {
    audit({ event: 'message-rejected', client: client.name, certificateFingerprint: client.certificateFingerprint, peer: client.peer ?? '', reason: `HTTP ${r.status}: ${r.reason}` });
    const text = `${r.reason}\n`;
    res.writeHead(r.status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      ...(close ? { Connection: 'close' } : {}),
      ...r.headers,
    });
    res.end(text);
    // A body not read (too large, or not ours to read) must not be parsed as the next request.
    if (close) res.once('finish', () => req.socket.destroy());
  }

  function serve(req: IncomingMessage, res: ServerResponse): void {
    const client = clients.get(req.socket);
    if (!client) {
      req.socket.destroy();
      return;
    }
    answering.set(req.socket, res);
    // A pipelined request's response may have taken the place already.
    res.once('close', () => answering.get(req.socket) === res && answering.delete(req.socket));
    // Answered, the request was whole; bytes read after it belong to the next one.
    res.once('finish', () => readWhenWhole.set(req.socket, req.socket.bytesRead));
    const bodyExpected = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    const path = (req.url ?? '').split('?')[0];
    if (path !== KMIP_PATH) return refuse(req, res, client, { status: 404, reason: `no such resource ${JSON.stringify(path)}: KMIP is served at POST ${KMIP_PATH}` }, bodyExpected);
    if (req.method !== 'POST') return refuse(req, res, client, { status: 405, reason: `method ${req.method} not allowed: KMIP requests are POST ${KMIP_PATH}`, headers: { Allow: 'POST' } }, bodyExpected);
    const encoding = encodingOf(req.headers['content-type']);
    if (!encoding) {
      return refuse(req, res, client, { status: 415, reason: `content type ${JSON.stringify(req.headers['content-type'] ?? '')} not supported: send ${Object.values(CONTENT_TYPES).join(', ')}` }, bodyExpected);
    }
    const limit = bodyLimit(encoding, core.limits.maxMessageBytes);
    const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
    if (declared !== undefined && declared > limit) {
      return refuse(req, res, client, { status: 413, reason: `body of ${declared} bytes is above the limit of ${limit}` }, true);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > limit) {
        refused = true;
        chunks.length = 0;
        req.pause();
        refuse(req, res, client, { status: 413, reason: `body above the limit of ${limit} bytes` }, true);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      const work = (async () => {
        const answer = await answerHttpBody(Buffer.concat(chunks, size), encoding, { client }, core);
        // No answer before the request's audit record is on disk, as on port 5696.
        await core.audit.durable();
        if (res.destroyed) return;
        res.writeHead(200, {
          'Content-Type': CONTENT_TYPES[encoding],
          'Content-Length': answer.length,
          'Cache-Control': 'no-cache',
          Pragma: 'no-cache',
        });
        res.end(answer);
      })().catch(() => {
        req.socket.destroy();
      });
      inFlight.add(work);
      void work.finally(() => inFlight.delete(work));
    });
  }

  return listenOn(server, opts, { inFlight, sockets }, {
    // Keep-alive connections between requests close now; any left close after the grace.
    ending: () => server.closeIdleConnections(),
    forcing: () => server.closeAllConnections(),
  });
}
