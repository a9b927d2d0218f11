/**
 * What the listener does with a client certificate, in one place: the listener (after OpenSSL has
 * verified the chain in the handshake) and `kmip-server doctor` (which reproduces that verification
 * from the files) both decide with `admitClientCertificate`, so they give the same answer in the
 * same words. `chainChecks` is doctor's reading of what OpenSSL checks in the handshake (issuer,
 * signature, purpose, path length, revocation, validity), as OpenSSL's error codes.
 */
import { X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { signedBy, type ParsedCrl } from './tls-material';

export const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';

/** The parts of a peer certificate the decision reads (Node's PeerCertificate and X509Certificate.toLegacyObject() both have them). */
export interface CertificateFields {
  readonly subject?: Readonly<Record<string, string | string[] | undefined>>;
  readonly subjectaltname?: string;
  readonly ext_key_usage?: readonly string[];
}

export interface AdmissionPolicy {
  readonly identityFrom: 'cn' | 'san';
  readonly adminIdentities: ReadonlySet<string> | readonly string[];
  /** Refuse a certificate whose Extended Key Usage does not list clientAuth (or that has none). */
  readonly requireClientAuthEku?: boolean;
}

export type Admission =
  | { readonly ok: true; readonly identity: string; readonly isAdmin: boolean }
  /** `revoked`: a trusted CA issued it, so its holder (`identity`) is worth recording. */
  | { readonly ok: false; readonly reason: string; readonly revoked?: boolean; readonly identity?: string };

/** The identity a certificate maps to: the subject CN, or with `san` the first SAN (falling back to the CN). */
export function identityOf(cert: CertificateFields, from: 'cn' | 'san'): string | undefined {
  if (from === 'san' && cert.subjectaltname) {
    const first = cert.subjectaltname.split(',').map((s) => s.trim())[0];
    const colon = first?.indexOf(':') ?? -1;
    if (first && colon > 0) return first.slice(colon + 1);
  }
  const cn = cert.subject?.['CN'];
  return Array.isArray(cn) ? cn[0] : cn;
}

/** The refusal reason for OpenSSL's verification error code (Node's authorizationError). */
function verifyFailure(code: string): string {
  return code === 'CERT_REVOKED' ? 'certificate revoked' : `client certificate rejected: ${code}`;
}

// Exported for the server's metrics, which label refusals by them (server/metrics.ts).
export const NO_CLIENT_CERTIFICATE = 'no client certificate';
export const NO_CLIENT_AUTH_EKU = 'client certificate has no Extended Key Usage clientAuth';
export const NO_IDENTITY = 'certificate has no identity';

/**
 * The listener's decision on a handshake's client certificate. `cert` undefined: none was sent;
 * `chainError` the OpenSSL verification error code (undefined: the chain verified).
 */
export function admitClientCertificate(cert: CertificateFields | undefined, chainError: string | undefined, policy: AdmissionPolicy): Admission {
  if (!cert) return { ok: false, reason: NO_CLIENT_CERTIFICATE };
  if (chainError !== undefined) {
    // A revoked certificate was issued by a trusted CA, so who holds it is worth recording.
    if (chainError === 'CERT_REVOKED') return { ok: false, reason: verifyFailure(chainError), revoked: true, identity: identityOf(cert, policy.identityFrom) };
    return { ok: false, reason: verifyFailure(chainError) };
  }
  // OpenSSL already refuses an EKU that leaves out clientAuth; this also refuses a missing EKU.
  if (policy.requireClientAuthEku && !(cert.ext_key_usage ?? []).includes(CLIENT_AUTH_EKU)) return { ok: false, reason: NO_CLIENT_AUTH_EKU };
  const identity = identityOf(cert, policy.identityFrom);
  if (!identity) return { ok: false, reason: NO_IDENTITY };
  const admins = policy.adminIdentities;
  const isAdmin = Array.isArray(admins) ? admins.includes(identity) : (admins as ReadonlySet<string>).has(identity);
  return { ok: true, identity, isAdmin };
}

// ---------------------------------------------------------------------------------------------
// The handshake's chain verification, read from files (doctor)

/** One check of the chain as OpenSSL makes it; `code` is OpenSSL's error code when it fails. */
export interface ChainCheck {
  readonly check: 'chain' | 'validity' | 'key usage' | 'EKU' | 'path length' | 'revocation';
  readonly ok: boolean;
  readonly detail: string;
  readonly code?: string;
}

export interface ChainInput {
  /** The client's certificate, then any intermediates it sends. */
  readonly chain: readonly X509Certificate[];
  /** The trusted CAs (the listener's `ca`). */
  readonly cas: readonly X509Certificate[];
  /** The listener's CRLs (OpenSSL then checks revocation of the client certificate). */
  readonly crls: readonly ParsedCrl[];
  readonly now?: Date;
}

function parsed(cert: X509Certificate): pkijs.Certificate {
  return new pkijs.Certificate({ schema: asn1js.fromBER(cert.raw).result });
}

function nameDer(name: pkijs.RelativeDistinguishedNames): Buffer {
  return Buffer.from(name.toSchema().toBER(false));
}

/** Basic Constraints: whether a CA, and how many intermediate CAs it allows below it (undefined: any). */
function basicConstraints(cert: X509Certificate): { ca: boolean; pathLength: number | undefined } {
  const ext = parsed(cert).extensions?.find((e) => e.extnID === '2.5.29.19');
  if (!ext) return { ca: false, pathLength: undefined };
  const bc = new pkijs.BasicConstraints({ schema: asn1js.fromBER(ext.extnValue.valueBlock.valueHexView).result });
  const len = bc.pathLenConstraint;
  return { ca: bc.cA === true, pathLength: len === undefined ? undefined : typeof len === 'number' ? len : len.valueBlock.valueDec };
}

/**
 * With intermediates: each CA above the client must be a CA, and allow as many intermediate CAs
 * below it as the chain has (its path length). Undefined for a client its trusted CA issued directly.
 */
function pathCheck(path: readonly X509Certificate[], anchor: X509Certificate): ChainCheck | undefined {
  if (path.length < 2) return undefined;
  const cas = [...path.slice(1), anchor];
  for (let i = 0; i < cas.length; i++) {
    const bc = basicConstraints(cas[i]!);
    if (!bc.ca && i < cas.length - 1) {
      return { check: 'path length', ok: false, detail: `the intermediate "${oneLine(cas[i]!.subject)}" is not a CA certificate`, code: 'INVALID_CA' };
    }
    // Below the CA at i are i intermediate CAs (the client itself does not count).
    if (bc.pathLength !== undefined && bc.pathLength < i) {
      return {
        check: 'path length',
        ok: false,
        detail: `the CA "${oneLine(cas[i]!.subject)}" allows ${bc.pathLength} intermediate CA(s) below it (pathlen), the chain has ${i}`,
        code: 'PATH_LENGTH_EXCEEDED',
      };
    }
  }
  return { check: 'path length', ok: true, detail: `${cas.length - 1} intermediate(s), within every CA's path length` };
}

/** Key Usage bits, or undefined when the extension is absent. */
function keyUsageBits(cert: pkijs.Certificate): { digitalSignature: boolean; keyAgreement: boolean; names: string[] } | undefined {
  const ext = cert.extensions?.find((e) => e.extnID === '2.5.29.15');
  if (!ext) return undefined;
  const bits = asn1js.fromBER(ext.extnValue.valueBlock.valueHexView).result as asn1js.BitString;
  const bytes = new Uint8Array(bits.valueBlock.valueHexView);
  const bit = (n: number) => ((bytes[n >> 3] ?? 0) & (0x80 >> (n & 7))) !== 0;
  const all = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'];
  return { digitalSignature: bit(0), keyAgreement: bit(4), names: all.filter((_, i) => bit(i)) };
}

/**
 * The checks OpenSSL makes of a client chain in the handshake, each with its outcome, in OpenSSL's
 * order (so the first failure is the code the listener would see).
 */
export function chainChecks(input: ChainInput): ChainCheck[] {
  const now = input.now ?? new Date();
  const leaf = input.chain[0]!;
  const checks: ChainCheck[] = [];
  // The chain: each certificate's issuer among the intermediates sent or the trusted CAs, signature verified.
  let current = leaf;
  let anchor: X509Certificate | undefined;
  let chainCode: string | undefined;
  let chainDetail = '';
  const path: X509Certificate[] = [leaf];
  for (let depth = 0; depth < 10 && !anchor && !chainCode; depth++) {
    const trusted = input.cas.find((ca) => current.checkIssued(ca));
    if (trusted) {
      if (!current.verify(trusted.publicKey)) {
        chainCode = 'CERT_SIGNATURE_FAILURE';
        chainDetail = `the signature does not verify with the CA "${oneLine(trusted.subject)}" of the same name (a CA made anew?)`;
      } else anchor = trusted;
      break;
    }
    const next = input.chain.slice(1).find((c) => current.checkIssued(c) && !path.includes(c));
    if (!next || !current.verify(next.publicKey)) {
      // OpenSSL's words: the leaf's own issuer missing, or one further up.
      chainCode = path.length === 1 ? 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' : 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY';
      chainDetail = `issued by "${oneLine(current.issuer)}", which is not a trusted CA`;
      break;
    }
    path.push(next);
    current = next;
  }
  checks.push(
    chainCode
      ? { check: 'chain', ok: false, detail: chainDetail, code: chainCode }
      : { check: 'chain', ok: true, detail: `issued by trusted CA "${oneLine(anchor!.subject)}"${path.length > 1 ? ` through ${path.length - 1} intermediate(s)` : ''}` },
  );
  // Purpose (sslclient): Key Usage, if present, allows digitalSignature or keyAgreement; an EKU, if present, lists clientAuth.
  const p = parsed(leaf);
  const ku = keyUsageBits(p);
  checks.push(
    ku === undefined
      ? { check: 'key usage', ok: true, detail: 'none stated (any use)' }
      : ku.digitalSignature || ku.keyAgreement
        ? { check: 'key usage', ok: true, detail: ku.names.join(', ') }
        : { check: 'key usage', ok: false, detail: `${ku.names.join(', ') || 'no usage'}: lacks digitalSignature`, code: 'INVALID_PURPOSE' },
  );
  const ekus = leaf.toLegacyObject().ext_key_usage;
  checks.push(
    ekus === undefined
      ? { check: 'EKU', ok: true, detail: 'none stated (any use)' }
      : ekus.includes(CLIENT_AUTH_EKU)
        ? { check: 'EKU', ok: true, detail: 'clientAuth' }
        : { check: 'EKU', ok: false, detail: `lacks clientAuth (has ${ekus.map(ekuName).join(', ') || 'none'})`, code: 'INVALID_PURPOSE' },
  );
  const pathLength = anchor ? pathCheck(path, anchor) : undefined;
  if (pathLength) checks.push(pathLength);
  // Revocation: with CRLs configured, OpenSSL needs a current one from the certificate's issuer.
  if (input.crls.length === 0) checks.push({ check: 'revocation', ok: true, detail: 'no CRL configured: not checked' });
  else {
    const issuer = nameDer(p.issuer);
    const named = input.crls.filter((c) => c.issuerDer.equals(issuer));
    // OpenSSL takes the CRL its issuer signed (one from a CA of the same name does not count).
    const issuerCert = path.length > 1 ? path[1] : anchor;
    const mine = issuerCert ? named.filter((c) => signedBy(c, issuerCert.publicKey) !== false) : named;
    const serial = Buffer.from(p.serialNumber.valueBlock.valueHexView).toString('hex');
    if (named.length > 0 && mine.length === 0) checks.push({ check: 'revocation', ok: false, detail: "the CRL naming its CA is not signed by that CA", code: 'CRL_SIGNATURE_FAILURE' });
    else if (mine.length === 0) checks.push({ check: 'revocation', ok: false, detail: 'no CRL of its issuer among the configured CRLs', code: 'UNABLE_TO_GET_CRL' });
    else if (mine.some((c) => (c.list.revokedCertificates ?? []).some((r) => Buffer.from(r.userCertificate.valueBlock.valueHexView).toString('hex') === serial))) {
      checks.push({ check: 'revocation', ok: false, detail: `serial ${serial.toUpperCase()} is on its CA's CRL`, code: 'CERT_REVOKED' });
    } else if (mine.every((c) => c.nextUpdate !== undefined && c.nextUpdate.getTime() < now.getTime())) {
      checks.push({ check: 'revocation', ok: false, detail: `its CA's CRL is past its next update (${mine[0]!.nextUpdate!.toISOString()})`, code: 'CRL_HAS_EXPIRED' });
    } else checks.push({ check: 'revocation', ok: true, detail: `not on its CA's CRL` });
  }
  // Validity, of the client certificate and of the chain above it.
  const late = [...path, ...(anchor ? [anchor] : [])];
  const notYet = late.find((c) => new Date(c.validFrom).getTime() > now.getTime());
  const expired = late.find((c) => new Date(c.validTo).getTime() < now.getTime());
  const whose = (c: X509Certificate) => (c === leaf ? '' : ` (the CA "${oneLine(c.subject)}")`);
  checks.push(
    notYet
      ? { check: 'validity', ok: false, detail: `not valid before ${iso(notYet.validFrom)}${whose(notYet)}`, code: 'CERT_NOT_YET_VALID' }
      : expired
        ? { check: 'validity', ok: false, detail: `expired ${iso(expired.validTo)}${whose(expired)}`, code: 'CERT_HAS_EXPIRED' }
        : { check: 'validity', ok: true, detail: `${iso(leaf.validFrom)} to ${iso(leaf.validTo)}` },
  );
  return checks;
}

/** A chain OpenSSL cannot build: verification stops there. */
const CHAIN_NOT_BUILT: ReadonlySet<string | undefined> = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);

/**
 * The OpenSSL code the handshake reports (undefined: verified). The listener's verify callback lets
 * OpenSSL go on past each failure, so it reports the last one, in the order the checks are listed;
 * except for a chain it cannot build, where it stops.
 */
export function chainError(checks: readonly ChainCheck[]): string | undefined {
  const failing = checks.filter((c) => !c.ok);
  return (failing.find((c) => CHAIN_NOT_BUILT.has(c.code)) ?? failing[failing.length - 1])?.code;
}

function oneLine(dn: string): string {
  return dn.split('\n').join(', ');
}

function iso(d: string): string {
  return new Date(d).toISOString();
}

const EKU_NAMES: Readonly<Record<string, string>> = {
  '1.3.6.1.5.5.7.3.1': 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};

function ekuName(oid: string): string {
  return EKU_NAMES[oid] ?? oid;
}
