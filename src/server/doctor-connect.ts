/**
 * `kmip-server doctor --connect HOST:PORT`: a real TLS handshake with the client's certificate and
 * a KMIP Query, one line per step, explaining a failure the way an operator can act on it
 * (protocol version, no shared cipher, the server refusing our certificate, the server's
 * certificate not matching the host or not signed by the CA we trust, the Query's KMIP result).
 */
import { isIP } from 'node:net';
import tls from 'node:tls';
import { TtlvFramer } from '../../ttlv/framer';
import { decodeTtlv } from '../../ttlv/decode';
import { encodeTtlv } from '../../ttlv/encode';
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation, QueryFunction, ResultReason, ResultStatus } from '../spec/generated/enums';
import { encodeRequestMessage, readResponseMessage } from '../kmip/message';

export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer;
  /** Bound on the whole exchange. */
  readonly timeoutMs?: number;
  /** Local checks of our own certificate, to explain a refusal that came without an alert. */
  readonly ownCertificateProblems?: readonly string[];
}

export interface ConnectReport {
  readonly lines: readonly string[];
  readonly ok: boolean;
}

const QUERY_VERSION = { major: 1, minor: 4 } as const;

function nameOf(table: Readonly<Record<string, number>>, value: number | undefined): string {
  return Object.entries(table).find(([, v]) => v === value)?.[0] ?? String(value);
}

/** The explanation of a TLS error on our side of the handshake. */
function explainTlsError(err: NodeJS.ErrnoException & { reason?: string }, opts: { host: string; handshakeDone: boolean; ownCertificateProblems?: readonly string[] }): string {
  const code = err.code ?? '';
  const own = opts.ownCertificateProblems && opts.ownCertificateProblems.length > 0 ? ` (our certificate: ${opts.ownCertificateProblems.join('; ')})` : '';
  if (code === 'ECONNREFUSED') return `FAIL connect: nothing listens at ${opts.host}: check the host and port (the server's --listen)`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `FAIL connect: ${opts.host} does not resolve: check the host name`;
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `FAIL connect: ${opts.host} unreachable (${code}): check the address and any firewall`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `FAIL server certificate: does not name ${opts.host} (${err.reason ?? err.message}): connect with a name or address the certificate lists, or reissue the server certificate with it in subjectAltName`;
  }
  if (['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_SIGNATURE_FAILURE'].includes(code)) {
    return `FAIL server certificate: unknown CA (${code}): pass the CA that signed the server's certificate with --ca (the data dir's pki/ca.pem for the dev PKI)`;
  }
  if (code === 'CERT_HAS_EXPIRED') return 'FAIL server certificate: expired (CERT_HAS_EXPIRED): renew the server certificate and send the server SIGHUP';
  if (code === 'CERT_NOT_YET_VALID') return "FAIL server certificate: not yet valid (CERT_NOT_YET_VALID): check this machine's clock and the server's";
  if (/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|VERSION_TOO_LOW|VERSION_TOO_HIGH/.test(code)) {
    // Node's own limits, which --tls-min-v1.x / --tls-max-v1.x (or NODE_OPTIONS) may have narrowed.
    const offered = tls.DEFAULT_MIN_VERSION === tls.DEFAULT_MAX_VERSION ? `${tls.DEFAULT_MIN_VERSION} only` : `${tls.DEFAULT_MIN_VERSION} to ${tls.DEFAULT_MAX_VERSION}`;
    return `FAIL handshake: no TLS protocol version in common (${code}): this client offered ${offered}; kmip-server speaks TLS 1.2 and 1.3: allow both on each side (the server's own TLS settings, and Node's --tls-min-v1.2 --tls-max-v1.3 here)`;
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' || code === 'ERR_SSL_HTTP_REQUEST') {
    return `FAIL handshake: the other end does not speak TLS (${code}): is ${opts.host} the KMIP port (5696)?`;
  }
  if (/NO_SHARED_CIPHER|NO_CIPHERS|HANDSHAKE_FAILURE|INSUFFICIENT_SECURITY/.test(code)) {
    return `FAIL handshake: no cipher suite in common (${code}): compare the server's tls.ciphers with the client's; the server wants TLS 1.2+ with ECDHE and AES-GCM or ChaCha20`;
  }
  if (/ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN|CERTIFICATE_REQUIRED|UNSUPPORTED_CERTIFICATE|CERTIFICATE_REVOKED|CERTIFICATE_EXPIRED|ACCESS_DENIED|DECRYPT_ERROR)/.test(code)) {
    return `FAIL handshake: the server refused our certificate (${code})${own}: run kmip-server doctor --cert FILE on the server's side for its reason`;
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return opts.handshakeDone
      ? `FAIL query: the server closed the connection after the handshake without answering: it refused our certificate${own}; its audit trail (connection-rejected) says why, or run kmip-server doctor --cert FILE with the server's config`
      : `FAIL handshake: the connection was reset during the handshake (${code})${own}`;
  }
  return `FAIL ${opts.handshakeDone ? 'query' : 'handshake'}: ${err.message}${code ? ` (${code})` : ''}${own}`;
}

/** Connects, sends a Query (Query Operations) and reports each step. */
export function connectAndQuery(opts: ConnectOptions): Promise<ConnectReport> {
  const where = `${opts.host}:${opts.port}`;
  const lines: string[] = [];
  return new Promise((resolve) => {
    let handshakeDone = false;
    let settled = false;
    const finish = (ok: boolean, last?: string) => {
      if (settled) return;
      settled = true;
      if (last) lines.push(last);
      clearTimeout(timer);
      socket.destroy();
      resolve({ lines, ok });
    };
    const socket = tls.connect({
      host: opts.host,
      port: opts.port,
      cert: opts.cert,
      key: opts.key,
      ca: opts.ca,
      ...(isIP(opts.host) === 0 ? { servername: opts.host } : {}),
    });
    const timer = setTimeout(
      () => finish(false, `FAIL ${handshakeDone ? 'query' : 'handshake'}: no answer from ${where} within ${(opts.timeoutMs ?? 30_000) / 1000} s`),
      opts.timeoutMs ?? 30_000,
    );
    socket.on('error', (err) => finish(false, explainTlsError(err, { host: where, handshakeDone, ...(opts.ownCertificateProblems ? { ownCertificateProblems: opts.ownCertificateProblems } : {}) })));
    socket.on('close', () =>
      finish(
        false,
        handshakeDone
          ? explainTlsError(Object.assign(new Error('closed'), { code: 'ECONNRESET' }), { host: where, handshakeDone, ...(opts.ownCertificateProblems ? { ownCertificateProblems: opts.ownCertificateProblems } : {}) })
          : `FAIL handshake: ${where} closed the connection during the handshake`,
      ),
    );
    socket.once('secureConnect', () => {
      handshakeDone = true;
      const peer = socket.getPeerCertificate();
      const cn = peer.subject?.CN;
      lines.push(`ok   handshake: ${socket.getProtocol()}, ${socket.getCipher().standardName}`);
      lines.push(`ok   server certificate: ${Array.isArray(cn) ? cn[0] : (cn ?? '(no CN)')}, trusted and valid for ${opts.host}`);
      const request = encodeRequestMessage({ version: QUERY_VERSION, timeStamp: BigInt(Math.floor(Date.now() / 1000)) }, [
        { operation: Operation.Query, payload: [ttlv.enumeration(Tag.QueryFunction, QueryFunction.QueryOperations), ttlv.enumeration(Tag.QueryFunction, QueryFunction.QueryObjects)] },
      ]);
      const framer = new TtlvFramer({ maxMessageBytes: 1 << 20 });
      socket.on('data', (chunk: Buffer) => {
        let frames: Uint8Array[];
        try {
          frames = framer.push(chunk);
        } catch (e) {
          finish(false, `FAIL query: the answer is not KMIP TTLV (${(e as Error).message}): is ${where} a KMIP server?`);
          return;
        }
        const frame = frames[0];
        if (!frame) return;
        try {
          const response = readResponseMessage(decodeTtlv(frame));
          const item = response.items[0];
          if (!item) return finish(false, 'FAIL query: the response has no batch item');
          if (item.status === ResultStatus.Success) {
            const ops = (item.payload ?? []).filter((i) => i.tag === Tag.Operation).length;
            return finish(true, `ok   query: answered in KMIP ${response.version.major}.${response.version.minor} (${ops} operations offered)`);
          }
          finish(false, `FAIL query: ${nameOf(ResultStatus, item.status)} ${nameOf(ResultReason, item.reason)}${item.message ? `: ${item.message}` : ''}`);
        } catch (e) {
          finish(false, `FAIL query: the answer does not read as a KMIP Response Message (${(e as Error).message})`);
        }
      });
      socket.write(encodeTtlv(request));
    });
  });
}
