/**
 * What both transports (TLS on 5696, HTTPS) do with a finished handshake: the secure context they
 * serve, and the client identity from the verified peer certificate, or the audited reason for
 * refusing it. One place, so the two ports can never disagree about who a client is.
 */
import { createHash } from 'node:crypto';
import type tls from 'node:tls';
import type { ClientIdentity } from '../objects/context';

const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';

/** What a reload replaces; everything else (suites, versions) stays as started. */
export interface TlsReload {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly ca: Buffer;
  readonly crl: readonly string[];
}

/**
 * The options a secure context is built from, kept whole (setSecureContext replaces them all):
 * TLS 1.2+, the configured CA and CRLs, the configured suites.
 */
export function secureContextOptions(m: TlsReload, ciphers: string | undefined): tls.SecureContextOptions {
  return {
    key: m.key,
    cert: m.cert,
    ca: m.ca,
    ...(m.crl.length > 0 ? { crl: [...m.crl] } : {}),
    minVersion: 'TLSv1.2',
    ...(ciphers !== undefined ? { ciphers } : {}),
    // A list naming no TLS 1.3 suite (TLS_...) means TLS 1.2 only: Node would otherwise still
    // negotiate TLS 1.3 with its default suites, ones the operator did not list.
    ...(ciphers !== undefined && !ciphers.split(':').some((c) => c.startsWith('TLS_')) ? { maxVersion: 'TLSv1.2' as const } : {}),
    // Session resumption (tickets) saves a full handshake for reconnecting clients.
    sessionTimeout: 300,
  };
}

export interface PeerIdentityOptions {
  /** Identities with access to every object. */
  readonly admins: ReadonlySet<string>;
  /** Where the identity comes from: the subject CN (default) or the first DNS/email SAN. */
  readonly identityFrom: 'cn' | 'san';
  /** Refuse a client certificate whose Extended Key Usage does not list clientAuth (or that has none). */
  readonly requireClientAuthEku?: boolean;
}

/** A refused peer: the audit record's reason, and who holds the certificate when that is worth recording. */
export interface PeerRefusal {
  readonly reason: string;
  readonly client?: string;
  readonly certificateFingerprint?: string;
}

export function identityOf(cert: tls.PeerCertificate, from: 'cn' | 'san'): string | undefined {
  if (from === 'san' && cert.subjectaltname) {
    const first = cert.subjectaltname.split(',').map((s) => s.trim())[0];
    const colon = first?.indexOf(':') ?? -1;
    if (first && colon > 0) return first.slice(colon + 1);
  }
  const cn = cert.subject?.CN;
  return Array.isArray(cn) ? cn[0] : cn;
}

/** The refusal reason for OpenSSL's verification error code (Node's authorizationError). */
function verifyFailure(code: string): string {
  return code === 'CERT_REVOKED' ? 'certificate revoked' : `client certificate rejected: ${code}`;
}

function fingerprint(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex');
}

/**
 * The client a finished handshake authenticated (the certificate verified against the CA and CRLs
 * by OpenSSL, EKU clientAuth when required, an identity in it), or why it is refused.
 */
export function peerIdentity(socket: tls.TLSSocket, peer: string, opts: PeerIdentityOptions): { client: ClientIdentity } | { refused: PeerRefusal } {
  const cert = socket.getPeerCertificate();
  if (!socket.authorized || !cert || !cert.raw) {
    const failure = String(socket.authorizationError);
    // A revoked certificate was issued by a trusted CA, so who holds it is worth recording.
    const holder = failure === 'CERT_REVOKED' && cert?.raw ? { client: identityOf(cert, opts.identityFrom), certificateFingerprint: fingerprint(cert.raw) } : {};
    return { refused: { ...holder, reason: cert && cert.raw ? verifyFailure(failure) : 'no client certificate' } };
  }
  // OpenSSL already refuses an EKU that leaves out clientAuth; this also refuses a missing EKU.
  if (opts.requireClientAuthEku && !(cert.ext_key_usage ?? []).includes(CLIENT_AUTH_EKU)) {
    return { refused: { reason: 'client certificate has no Extended Key Usage clientAuth' } };
  }
  const name = identityOf(cert, opts.identityFrom);
  if (!name) return { refused: { reason: 'certificate has no identity' } };
  return { client: { name, certificateFingerprint: fingerprint(cert.raw), peer, isAdmin: opts.admins.has(name) } };
}

/** The audit reason for a handshake that failed (Node's tlsClientError). */
export function handshakeFailure(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'CERT_REVOKED' || /certificate revoked/i.test(err.message) ? 'certificate revoked' : err.message;
}
