/**
 * Development PKI: a private CA, a server certificate for localhost, a client certificate for an
 * ordinary identity (`client`) and one for the administrator (`admin`, the default of config
 * `adminIdentities`), made at first start or test time. Production deployments bring their own.
 *
 * Keys are EC P-256 from Node's crypto (fast; Python's ssl/OpenSSL, hence PyKMIP, handles them);
 * X.509 v3 certificates are DER-built with asn1js and signed with crypto.sign. Private keys are
 * written as PKCS#8 PEM with mode 0600.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import { keyIdentifier } from '../crypto/x509-issue';

export interface IssuedFiles {
  readonly certPath: string;
  readonly keyPath: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface DevPki {
  readonly dir: string;
  readonly caPath: string;
  readonly caKeyPath: string;
  readonly serverCertPath: string;
  readonly serverKeyPath: string;
  /** An ordinary identity: it sees and changes its own objects only. */
  readonly clientCertPath: string;
  readonly clientKeyPath: string;
  /** The administrator (CN `admin`): Import, Export, and every identity's objects. */
  readonly adminCertPath: string;
  readonly adminKeyPath: string;
}

/** Subject CN of the dev PKI's ordinary client certificate (client.pem). */
export const DEV_CLIENT_CN = 'client';
/** Subject CN of the dev PKI's administrator certificate (admin.pem): the default `adminIdentities`. */
export const DEV_ADMIN_CN = 'admin';

export interface ValidityOptions {
  readonly notBefore?: Date;
  readonly notAfter?: Date;
}

export interface CaOptions extends ValidityOptions {
  /** Subject CN (default "KMIP Dev CA"). */
  readonly commonName?: string;
}

export interface ServerCertOptions extends ValidityOptions {
  readonly commonName?: string;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** File names: `${fileBase}.pem` and `${fileBase}-key.pem` (default "server"). */
  readonly fileBase?: string;
}

export interface ClientCertOptions extends ValidityOptions {
  /** File names: `${fileBase}.pem` and `${fileBase}-key.pem` (default: the CN, made file-safe). */
  readonly fileBase?: string;
  /** Subject OUs (access policy groups from `ou`). */
  readonly organizationalUnits?: readonly string[];
  /** SAN URIs (access policy groups from `sanUri`, or `san:` role matchers). */
  readonly sanUris?: readonly string[];
}

const DAY_MS = 24 * 3600 * 1000;
/** Backdating absorbs clock skew between the machine that issues and the one that verifies. */
const BACKDATE_MS = 3600 * 1000;
const CA_LIFETIME_MS = 10 * 365 * DAY_MS;
const LEAF_LIFETIME_MS = 365 * DAY_MS;
/** Reissue leaf certificates this close to expiry. */
const RENEW_BEFORE_MS = 7 * DAY_MS;

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

const ORGANIZATION = 'KMIP Server Dev PKI';

// ---------------------------------------------------------------------------------------------
// Public API

/** Creates a CA (ca.pem, ca-key.pem) in `dir`, replacing any there. Tests use it for an untrusted CA. */
export function createCertificateAuthority(dir: string, options: CaOptions = {}): IssuedFiles {
  mkdirSync(dir, { recursive: true });
  const { publicKey, privateKey } = newKeyPair();
  const name = distinguishedName(options.commonName ?? 'KMIP Dev CA');
  const keyId = keyIdentifier(publicKey);
  const now = Date.now();
  const der = buildCertificate({
    issuer: name,
    subject: name,
    publicKey,
    signingKey: privateKey,
    notBefore: options.notBefore ?? new Date(now - BACKDATE_MS),
    notAfter: options.notAfter ?? new Date(now + CA_LIFETIME_MS),
    extensions: [
      extension(OID.basicConstraints, true, new asn1js.Sequence({ value: [new asn1js.Boolean({ value: true }), new asn1js.Integer({ value: 0 })] })),
      extension(OID.keyUsage, true, keyUsage(KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign)),
      extension(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: keyId })),
    ],
  });
  return writePair(dir, 'ca', der, privateKey);
}

/**
 * What `dir` holds of a CA: none (neither ca.pem nor ca-key.pem), a usable one, or one that
 * cannot issue (a file missing or unreadable, the key not the certificate's, or expired).
 */
export function certificateAuthorityIn(dir: string): 'none' | 'usable' | 'unusable' {
  const caPath = join(dir, 'ca.pem');
  const caKeyPath = join(dir, 'ca-key.pem');
  if (!existsSync(caPath) && !existsSync(caKeyPath)) return 'none';
  return pairUsable(caPath, caKeyPath, null) ? 'usable' : 'unusable';
}

/**
 * Makes `dir` hold a usable dev PKI, creating what is missing: a new CA if its certificate or key is
 * missing, invalid or expired (then new leaves too); leaf certificates if missing, expiring, or not
 * issued by the current CA.
 *
 * A client certificate issued again keeps the CN it had: a data dir from before admin.pem existed
 * has a client.pem with CN `admin`, and its holder stays the administrator (renewal changes no
 * one's identity, nor who owns their objects); only a missing or unreadable client.pem is issued
 * anew as `client`.
 */
export function ensureDevPki(dir: string): DevPki {
  mkdirSync(dir, { recursive: true });
  const pki: DevPki = {
    dir,
    caPath: join(dir, 'ca.pem'),
    caKeyPath: join(dir, 'ca-key.pem'),
    serverCertPath: join(dir, 'server.pem'),
    serverKeyPath: join(dir, 'server-key.pem'),
    clientCertPath: join(dir, 'client.pem'),
    clientKeyPath: join(dir, 'client-key.pem'),
    adminCertPath: join(dir, 'admin.pem'),
    adminKeyPath: join(dir, 'admin-key.pem'),
  };
  const caOk = pairUsable(pki.caPath, pki.caKeyPath, null);
  if (!caOk) createCertificateAuthority(dir);
  const ca = new X509Certificate(readFileSync(pki.caPath));
  // A server certificate from before it served as a client certificate too is issued again.
  if (!caOk || !pairUsable(pki.serverCertPath, pki.serverKeyPath, ca) || !hasPurpose(pki.serverCertPath, OID.clientAuth)) {
    issueServerCertificate(dir, dir, { fileBase: 'server' });
  }
  if (!caOk || !pairUsable(pki.clientCertPath, pki.clientKeyPath, ca)) {
    issueClientCertificate(dir, commonNameOf(pki.clientCertPath) ?? DEV_CLIENT_CN, dir, { fileBase: 'client' });
  }
  if (!caOk || !pairUsable(pki.adminCertPath, pki.adminKeyPath, ca)) {
    issueClientCertificate(dir, DEV_ADMIN_CN, dir, { fileBase: 'admin' });
  }
  return pki;
}

/**
 * A server certificate (EKU serverAuth and clientAuth) from the CA in `pkiDir`; default SAN
 * localhost, 127.0.0.1, ::1. clientAuth because the server also connects to clients' endpoints
 * with it (Notify and Put, src/notify/), and TLS peers check a client certificate's purpose.
 */
export function issueServerCertificate(pkiDir: string, outDir: string, options: ServerCertOptions = {}): IssuedFiles {
  const dnsNames = options.dnsNames ?? ['localhost'];
  const ipAddresses = options.ipAddresses ?? ['127.0.0.1', '::1'];
  return issueLeaf(pkiDir, outDir, options.fileBase ?? 'server', options.commonName ?? dnsNames[0] ?? 'kmip-server', options, [
    extension(
      OID.extKeyUsage,
      false,
      new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID.serverAuth }), new asn1js.ObjectIdentifier({ value: OID.clientAuth })] }),
    ),
    extension(OID.subjectAltName, false, subjectAltName(dnsNames, ipAddresses)),
  ]);
}

/** A client certificate (EKU clientAuth) with subject CN `cn` from the CA in `pkiDir`. */
export function issueClientCertificate(pkiDir: string, cn: string, outDir: string, options: ClientCertOptions = {}): IssuedFiles {
  if (cn === '') throw new Error('a client certificate needs a non-empty CN');
  const fileBase = options.fileBase ?? cn.replace(/[^A-Za-z0-9._-]/g, '_');
  const uris = options.sanUris ?? [];
  return issueLeaf(pkiDir, outDir, fileBase, cn, options, [
    extension(OID.extKeyUsage, false, new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID.clientAuth })] })),
    ...(uris.length > 0 ? [extension(OID.subjectAltName, false, subjectAltName([], [], uris))] : []),
  ], options.organizationalUnits ?? []);
}

// ---------------------------------------------------------------------------------------------
// Issuing

function issueLeaf(
  pkiDir: string,
  outDir: string,
  fileBase: string,
  commonName: string,
  validity: ValidityOptions,
  purpose: asn1js.Sequence[],
  organizationalUnits: readonly string[] = [],
): IssuedFiles {
  const caCert = new X509Certificate(readFileSync(join(pkiDir, 'ca.pem')));
  const caKey = createPrivateKey(readFileSync(join(pkiDir, 'ca-key.pem')));
  const { publicKey, privateKey } = newKeyPair();
  const now = Date.now();
  const der = buildCertificate({
    // Copied from the CA certificate, byte for byte, so chain building matches names exactly.
    issuer: subjectOf(caCert.raw),
    subject: distinguishedName(commonName, organizationalUnits),
    publicKey,
    signingKey: caKey,
    notBefore: validity.notBefore ?? new Date(now - BACKDATE_MS),
    notAfter: validity.notAfter ?? new Date(now + LEAF_LIFETIME_MS),
    extensions: [
      extension(OID.basicConstraints, true, new asn1js.Sequence({ value: [] })),
      extension(OID.keyUsage, true, keyUsage(KEY_USAGE.digitalSignature)),
      ...purpose,
      extension(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: keyIdentifier(publicKey) })),
      extension(
        OID.authorityKeyIdentifier,
        false,
        new asn1js.Sequence({
          value: [new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: keyIdentifier(caCert.publicKey) })],
        }),
      ),
    ],
  });
  mkdirSync(outDir, { recursive: true });
  return writePair(outDir, fileBase, der, privateKey);
}

interface CertificateSpec {
  readonly issuer: asn1js.BaseBlock;
  readonly subject: asn1js.BaseBlock;
  readonly publicKey: KeyObject;
  readonly signingKey: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: asn1js.Sequence[];
}

function buildCertificate(spec: CertificateSpec): Buffer {
  const algorithm = signatureAlgorithm(spec.signingKey);
  const spki = asn1js.fromBER(spec.publicKey.export({ type: 'spki', format: 'der' }));
  if (spki.offset === -1) throw new Error('cannot parse the public key');
  const tbs = new asn1js.Sequence({
    value: [
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Integer({ value: 2 })] }), // v3
      new asn1js.Integer({ valueHex: serialNumber() }),
      algorithm(),
      spec.issuer,
      new asn1js.Sequence({ value: [time(spec.notBefore), time(spec.notAfter)] }),
      spec.subject,
      spki.result,
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 3 }, value: [new asn1js.Sequence({ value: spec.extensions })] }),
    ],
  });
  const tbsDer = Buffer.from(tbs.toBER(false));
  const signature = sign('sha256', tbsDer, spec.signingKey);
  const cert = new asn1js.Sequence({
    value: [tbs, algorithm(), new asn1js.BitString({ valueHex: signature, unusedBits: 0 })],
  });
  return Buffer.from(cert.toBER(false));
}

/** AlgorithmIdentifier for the signing key; a fresh block each call (asn1js blocks have one parent). */
function signatureAlgorithm(key: KeyObject): () => asn1js.Sequence {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return () => new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID.ecdsaWithSha256 })] });
    case 'rsa':
      return () => new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID.sha256WithRsa }), new asn1js.Null()] });
    default:
      throw new Error(`unsupported CA key type ${String(key.asymmetricKeyType)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// ASN.1 pieces

function newKeyPair(): { publicKey: KeyObject; privateKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

function distinguishedName(commonName: string, organizationalUnits: readonly string[] = []): asn1js.Sequence {
  const rdn = (oid: string, value: string): asn1js.Set =>
    new asn1js.Set({
      value: [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: oid }), new asn1js.Utf8String({ value })] })],
    });
  const ous = organizationalUnits.map((ou) => rdn(OID.organizationalUnit, ou));
  return new asn1js.Sequence({ value: [rdn(OID.organization, ORGANIZATION), ...ous, rdn(OID.commonName, commonName)] });
}

/** The subject Name of a DER certificate, as a block to embed unchanged. */
function subjectOf(certDer: Buffer): asn1js.BaseBlock {
  const parsed = asn1js.fromBER(certDer);
  const cert = parsed.result;
  if (parsed.offset === -1 || !(cert instanceof asn1js.Sequence)) throw new Error('cannot parse the CA certificate');
  const tbs = cert.valueBlock.value[0];
  if (!(tbs instanceof asn1js.Sequence)) throw new Error('cannot parse the CA certificate');
  // TBSCertificate: [0] version, serial, signature, issuer, validity, subject, ...
  const subject = tbs.valueBlock.value[5];
  if (subject === undefined) throw new Error('the CA certificate has no subject');
  return subject as asn1js.BaseBlock;
}

/** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, always Z. */
function time(date: Date): asn1js.UTCTime | asn1js.GeneralizedTime {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new Error('certificate date out of range');
  return year < 2050 ? new asn1js.UTCTime({ value: digits.slice(2) }) : new asn1js.GeneralizedTime({ value: digits });
}

function serialNumber(): Buffer {
  const serial = randomBytes(16);
  // Positive and without a leading zero byte, so DER needs no padding.
  serial[0] = ((serial[0] as number) & 0x7f) | 0x40;
  return serial;
}

function extension(oid: string, critical: boolean, value: asn1js.BaseBlock): asn1js.Sequence {
  const parts: asn1js.BaseBlock[] = [new asn1js.ObjectIdentifier({ value: oid })];
  if (critical) parts.push(new asn1js.Boolean({ value: true })); // DER omits the FALSE default
  parts.push(new asn1js.OctetString({ valueHex: value.toBER(false) }));
  return new asn1js.Sequence({ value: parts });
}

/** Bit n of KeyUsage is the n-th bit from the most significant of the first byte. */
const KEY_USAGE = { digitalSignature: 1 << 0, keyCertSign: 1 << 5, cRLSign: 1 << 6 } as const;

function keyUsage(bits: number): asn1js.BitString {
  let byte = 0;
  let last = -1;
  for (let bit = 0; bit < 8; bit++) {
    if ((bits & (1 << bit)) !== 0) {
      byte |= 0x80 >> bit;
      last = bit;
    }
  }
  // DER: trailing zero bits are dropped, so the count of unused bits follows the last set bit.
  return new asn1js.BitString({ valueHex: new Uint8Array([byte]), unusedBits: 7 - last });
}

function subjectAltName(dnsNames: readonly string[], ipAddresses: readonly string[], uris: readonly string[] = []): asn1js.Sequence {
  const names: asn1js.BaseBlock[] = [];
  for (const dns of dnsNames) {
    names.push(new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 2 }, valueHex: Buffer.from(dns, 'ascii') }));
  }
  for (const ip of ipAddresses) {
    names.push(new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 7 }, valueHex: ipBytes(ip) }));
  }
  for (const uri of uris) {
    names.push(new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 6 }, valueHex: Buffer.from(uri, 'ascii') }));
  }
  return new asn1js.Sequence({ value: names });
}

function ipBytes(ip: string): Uint8Array {
  if (isIPv4(ip)) return Uint8Array.from(ip.split('.').map(Number));
  if (!isIPv6(ip) || ip.includes('.')) throw new Error(`unsupported IP address ${ip}`);
  const [head = '', tail] = ip.split('::');
  const groups = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Files

function pem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function writePair(dir: string, base: string, certDer: Buffer, key: KeyObject): IssuedFiles {
  const certPath = join(dir, `${base}.pem`);
  const keyPath = join(dir, `${base}-key.pem`);
  const certPem = pem(certDer);
  const keyPem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
  writeAtomically(keyPath, keyPem, 0o600);
  writeAtomically(certPath, certPem, 0o644);
  return { certPath, keyPath, certPem, keyPem };
}

/**
 * Written beside and renamed over: a reader never sees half a file, and the mode holds from the
 * start. The process umask narrows it (the server's makes certificates in its data dir 0600 too;
 * `pki client` run by an operator leaves them readable to hand out); a key is never wider than 0600.
 */
function writeAtomically(path: string, data: string, mode: number): void {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temp, data, { mode, flag: 'wx' });
  if (mode === 0o600) chmodSync(temp, mode);
  renameSync(temp, path);
}

/** The subject CN of the certificate at `certPath`; undefined when there is none or it cannot be read. */
export function commonNameOf(certPath: string): string | undefined {
  try {
    const subject = new X509Certificate(readFileSync(certPath)).subject;
    const cn = subject.split('\n').find((line) => line.startsWith('CN='));
    return cn === undefined || cn.length === 3 ? undefined : cn.slice(3);
  } catch {
    return undefined;
  }
}

/** Whether the certificate's extended key usage includes `oid` (Node calls that list `keyUsage`). */
function hasPurpose(certPath: string, oid: string): boolean {
  return new X509Certificate(readFileSync(certPath)).keyUsage?.includes(oid) ?? false;
}

/** The certificate parses, is valid for a while yet, matches its key and (for leaves) comes from `ca`. */
function pairUsable(certPath: string, keyPath: string, ca: X509Certificate | null): boolean {
  if (!existsSync(certPath) || !existsSync(keyPath)) return false;
  try {
    const cert = new X509Certificate(readFileSync(certPath));
    const key = createPrivateKey(readFileSync(keyPath));
    if (!cert.checkPrivateKey(key)) return false;
    const now = Date.now();
    if (Date.parse(cert.validFrom) > now || Date.parse(cert.validTo) - now < (ca === null ? 0 : RENEW_BEFORE_MS)) return false;
    if (ca !== null && !(cert.checkIssued(ca) && cert.verify(ca.publicKey))) return false;
    return true;
  } catch {
    return false;
  }
}
