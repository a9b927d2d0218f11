/**
 * What both transports (TLS on 5696, HTTPS) do with a finished handshake: the secure context they
 * serve, and the client identity from the verified peer certificate, or the audited reason for
 * refusing it. One place, so the two ports can never disagree about who a client is.
 */
import { createHash } from 'node:crypto';
import type tls from 'node:tls';
import type { ClientIdentity } from '../objects/context';
import { admitClientCertificate } from '../pki/client-certificate';
import type { CallerCertificate } from '../access/policy';

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

function fingerprint(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex');
}

/**
 * The client a finished handshake authenticated (the certificate verified against the CA and CRLs
 * by OpenSSL, EKU clientAuth when required, an identity in it), or why it is refused.
 */
export function peerIdentity(socket: tls.TLSSocket, peer: string, opts: PeerIdentityOptions): { client: ClientIdentity } | { refused: PeerRefusal } {
  const cert = socket.getPeerCertificate();
  const fields = cert && cert.raw ? cert : undefined;
  // The same decision, in the same words, as `kmip-server doctor` (pki/client-certificate.ts).
  const verdict = admitClientCertificate(fields, socket.authorized ? undefined : String(socket.authorizationError), {
    identityFrom: opts.identityFrom,
    adminIdentities: opts.admins,
    requireClientAuthEku: opts.requireClientAuthEku,
  });
  if (!verdict.ok) {
    // A revoked certificate was issued by a trusted CA, so who holds it is worth recording.
    const holder = verdict.revoked && fields ? { client: verdict.identity, certificateFingerprint: fingerprint(fields.raw) } : {};
    return { refused: { ...holder, reason: verdict.reason } };
  }
  const print = fingerprint(fields!.raw);
  return { client: { name: verdict.identity, certificateFingerprint: print, peer, isAdmin: verdict.isAdmin, certificate: certificateFacts(fields!, print) } };
}

/** What the access policy matches roles and groups on: CN, OUs, SANs (as `TYPE:value`), fingerprint. */
export function certificateFacts(cert: tls.PeerCertificate, print: string): CallerCertificate {
  const subject = cert.subject as unknown as Readonly<Record<string, string | string[] | undefined>> | undefined;
  const list = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  const cn = list(subject?.['CN'])[0];
  // Node prints SANs as "DNS:a, URI:urn:b"; a value holding ", " is quoted by Node and rare in practice.
  const sans = (cert.subjectaltname ?? '').split(', ').map((s) => s.trim()).filter((s) => s.length > 0);
  return { ...(cn !== undefined ? { cn } : {}), ous: list(subject?.['OU']), sans, fingerprint: print };
}

/** The audit reason for a handshake that failed (Node's tlsClientError). */
export function handshakeFailure(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'CERT_REVOKED' || /certificate revoked/i.test(err.message) ? 'certificate revoked' : err.message;
}
