/**
 * Revocation for the development PKI: `kmip-server pki revoke --cert FILE` adds the certificate's
 * serial to `<dataDir>/pki/crl.pem`, a v2 CRL signed by the dev CA (pkijs builds and signs it over
 * Node's WebCrypto). A server on the dev PKI checks that CRL at every handshake once it exists,
 * read at start and again on SIGHUP.
 *
 * The CRL's next update is the CA's own expiry: the dev CA publishes a new list only when a
 * certificate is revoked, and OpenSSL refuses every client while a CRL is past its next update.
 */
import { X509Certificate, createPrivateKey, webcrypto } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { readCrlFile } from './tls-material';

const ENGINE = new pkijs.CryptoEngine({ name: 'node-webcrypto', crypto: webcrypto as unknown as pkijs.CryptoEngineParameters['crypto'] });

const OID = {
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  crlNumber: '2.5.29.20',
} as const;

/** Absorbs clock skew between the machine that signs and the one that checks (as the dev PKI's certificates do). */
const BACKDATE_MS = 3600 * 1000;

export function devCrlPath(pkiDir: string): string {
  return join(pkiDir, 'crl.pem');
}

export interface Revocation {
  readonly crlPath: string;
  /** The revoked certificate's serial, hex as OpenSSL prints it. */
  readonly serial: string;
  /** Serials the CRL lists now. */
  readonly revoked: number;
  /** The serial was listed already (the CRL is signed again all the same). */
  readonly already: boolean;
}

/** RFC 5280: UTCTime through 2049, GeneralizedTime from 2050. */
function time(date: Date): pkijs.Time {
  return new pkijs.Time({ type: date.getUTCFullYear() < 2050 ? pkijs.TimeType.UTCTime : pkijs.TimeType.GeneralizedTime, value: date });
}

function serialHex(serial: asn1js.Integer): string {
  return Buffer.from(serial.valueBlock.valueHexView).toString('hex').toUpperCase();
}

/** The dev CA's key, for WebCrypto: the dev PKI makes EC P-256 CAs; an RSA one is signed PKCS#1 v1.5. */
async function signingKey(pem: Buffer): Promise<webcrypto.CryptoKey> {
  const key = createPrivateKey(pem);
  const der = key.export({ type: 'pkcs8', format: 'der' });
  if (key.asymmetricKeyType === 'ec') {
    const curve = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' }[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (!curve) throw new Error(`the dev CA key's curve ${String(key.asymmetricKeyDetails?.namedCurve)} cannot sign a CRL here`);
    return webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: curve }, false, ['sign']);
  }
  if (key.asymmetricKeyType === 'rsa') return webcrypto.subtle.importKey('pkcs8', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
  throw new Error(`a ${String(key.asymmetricKeyType)} dev CA key cannot sign a CRL here`);
}

/**
 * Lists the certificate in `certPem` in the dev CA's CRL. Refuses (one line) when `pkiDir` holds no
 * CA or the certificate is not the CA's: a CRL entry for another CA's serial revokes nothing.
 */
export async function revokeCertificate(pkiDir: string, certFile: string): Promise<Revocation> {
  const caPath = join(pkiDir, 'ca.pem');
  const caKeyPath = join(pkiDir, 'ca-key.pem');
  if (!existsSync(caPath) || !existsSync(caKeyPath)) throw new Error(`${pkiDir} holds no dev CA (ca.pem, ca-key.pem): give the --data-dir of the server whose CA issued ${certFile}`);
  let certPem: Buffer;
  let cert: X509Certificate;
  try {
    certPem = readFileSync(certFile);
    cert = new X509Certificate(certPem);
  } catch (e) {
    throw new Error(`${certFile}: not a readable PEM certificate (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const caPem = readFileSync(caPath);
  const ca = new X509Certificate(caPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) throw new Error(`${certFile} was not issued by the dev CA in ${pkiDir}`);
  if (cert.raw.equals(ca.raw)) throw new Error(`${certFile} is the dev CA itself: make a new CA instead of revoking it`);

  const caCert = new pkijs.Certificate({ schema: asn1js.fromBER(ca.raw).result });
  const leaf = new pkijs.Certificate({ schema: asn1js.fromBER(cert.raw).result });
  const serial = serialHex(leaf.serialNumber);
  const now = new Date(Date.now() - BACKDATE_MS);

  // The entries already listed (a CRL made by an older CA is dropped: its entries revoke nothing now).
  const crlPath = devCrlPath(pkiDir);
  let entries: pkijs.RevokedCertificate[] = [];
  let number = 0n;
  if (existsSync(crlPath)) {
    const caSubject = Buffer.from(caCert.subject.toSchema().toBER(false));
    for (const old of readCrlFile(crlPath)) {
      if (!old.issuerDer.equals(caSubject)) continue;
      entries = [...entries, ...(old.list.revokedCertificates ?? [])];
      const n = old.list.crlExtensions?.extensions.find((e) => e.extnID === OID.crlNumber);
      const parsed = n ? asn1js.fromBER(n.extnValue.valueBlock.valueHexView).result : undefined;
      if (parsed instanceof asn1js.Integer) number = parsed.toBigInt() + 1n;
    }
  }
  const already = entries.some((e) => serialHex(e.userCertificate) === serial);
  if (!already) entries.push(new pkijs.RevokedCertificate({ userCertificate: leaf.serialNumber, revocationDate: time(now) }));

  // The CA's own Subject Key Identifier as the Authority Key Identifier, so the CRL names the key that signed it.
  const ski = caCert.extensions?.find((e) => e.extnID === OID.subjectKeyIdentifier);
  const skiValue = ski ? asn1js.fromBER(ski.extnValue.valueBlock.valueHexView).result : undefined;
  const extensions: pkijs.Extension[] = [
    new pkijs.Extension({ extnID: OID.crlNumber, critical: false, extnValue: asn1js.Integer.fromBigInt(number).toBER(false) }),
  ];
  if (skiValue instanceof asn1js.OctetString) {
    const aki = new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: skiValue.valueBlock.valueHexView }) });
    extensions.push(new pkijs.Extension({ extnID: OID.authorityKeyIdentifier, critical: false, extnValue: aki.toSchema().toBER(false) }));
  }
  const crl = new pkijs.CertificateRevocationList({
    version: 1, // v2: it has extensions
    issuer: caCert.subject,
    thisUpdate: time(now),
    nextUpdate: time(caCert.notAfter.value),
    revokedCertificates: entries,
    crlExtensions: new pkijs.Extensions({ extensions }),
  });
  await crl.sign(await signingKey(readFileSync(caKeyPath)), 'SHA-256', ENGINE);
  const der = Buffer.from(crl.toSchema().toBER(false));
  const pem = `-----BEGIN X509 CRL-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END X509 CRL-----\n`;
  // Whole or not at all: a server reading it on SIGHUP never sees half a file.
  const temp = `${crlPath}.${process.pid}.tmp`;
  writeFileSync(temp, pem, { mode: 0o600, flag: 'wx' });
  chmodSync(temp, 0o600);
  renameSync(temp, crlPath);
  return { crlPath, serial, revoked: entries.length, already };
}
