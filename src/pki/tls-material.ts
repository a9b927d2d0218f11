/**
 * The listener's TLS material read from its files: certificate, key, CA and CRLs. Read at start
 * and again on SIGHUP (certificate renewal, a new CRL), so every check names the file that fails:
 * a bad file on reload must leave the server serving what it had, with one line saying which file
 * to fix. CRLs may be PEM or DER; OpenSSL takes PEM, so DER is armoured here.
 */
import { X509Certificate, createPrivateKey, verify, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';

/** Where the material comes from: a `tls` config section, or the dev PKI's files. */
export interface TlsSources {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
  readonly crl: readonly string[];
}

export interface TlsMaterial {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly ca: Buffer;
  /** PEM CRLs, one per file (empty: no revocation check). */
  readonly crl: readonly string[];
  /** What the operator should know (a CRL past its next update refuses every client of its CA). */
  readonly warnings: readonly string[];
  /** The served certificate, for the log line that confirms a renewal. */
  readonly serial: string;
  readonly validTo: string;
}

/** A file that cannot serve: `message` names it. */
export class TlsFileError extends Error {
  override readonly name = 'TlsFileError';
  constructor(
    readonly file: string,
    why: string,
  ) {
    super(`${file}: ${why}`);
  }
}

/** CRLs are small; a bound keeps a wrong file (a disk image, a log) from being parsed whole. */
const MAX_CRL_BYTES = 64 * 1024 * 1024;

function read(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new TlsFileError(file, `cannot read the ${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;
const PEM_CRL = /-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+?)-----END X509 CRL-----/g;

/** Every certificate in a PEM file, each parsed; none or a bad one names the file. */
function certificates(file: string, pem: Buffer, what: string): X509Certificate[] {
  const blocks = pem.toString('latin1').match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new TlsFileError(file, `the ${what} holds no PEM certificate`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch {
      throw new TlsFileError(file, `certificate ${i + 1} of the ${what} does not parse`);
    }
  });
}

export interface ParsedCrl {
  readonly pem: string;
  /** The issuer Name, DER, to find the CA it belongs to. */
  readonly issuerDer: Buffer;
  readonly nextUpdate: Date | undefined;
  readonly list: pkijs.CertificateRevocationList;
}

function parseCrlDer(file: string, der: Uint8Array, index: number): pkijs.CertificateRevocationList {
  const where = index === 0 ? 'it' : `CRL ${index + 1}`;
  let parsed: asn1js.FromBerResult;
  try {
    parsed = asn1js.fromBER(der);
  } catch {
    throw new TlsFileError(file, `${where} is not a CRL (PEM "X509 CRL" or DER)`);
  }
  if (parsed.offset === -1 || parsed.offset !== der.byteLength) throw new TlsFileError(file, `${where} is not a CRL (PEM "X509 CRL" or DER)`);
  try {
    return new pkijs.CertificateRevocationList({ schema: parsed.result });
  } catch {
    throw new TlsFileError(file, `${where} is not a CRL (PEM "X509 CRL" or DER)`);
  }
}

function pemOf(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN X509 CRL-----\n${b64}-----END X509 CRL-----\n`;
}

/** The CRLs in one file: PEM (one or more blocks) or one DER CRL; a file that is neither names itself. */
export function readCrlFile(file: string): ParsedCrl[] {
  const bytes = read(file, 'CRL');
  if (bytes.length > MAX_CRL_BYTES) throw new TlsFileError(file, `larger than ${MAX_CRL_BYTES} bytes: not a CRL`);
  const text = bytes.toString('latin1');
  const ders = text.includes('-----BEGIN X509 CRL-----') ? [...text.matchAll(PEM_CRL)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')) : [bytes];
  if (ders.length === 0) throw new TlsFileError(file, 'a PEM "X509 CRL" block is not closed');
  return ders.map((der, i) => {
    const list = parseCrlDer(file, der, i);
    const pem = pemOf(der);
    try {
      // OpenSSL reads it as the listener will.
      tls.createSecureContext({ crl: pem });
    } catch (e) {
      throw new TlsFileError(file, `OpenSSL does not accept it: ${(e as Error).message}`);
    }
    return { pem, issuerDer: Buffer.from(list.issuer.toSchema().toBER(false)), nextUpdate: list.nextUpdate?.value, list };
  });
}

/** The subject Name of a certificate, DER. */
function subjectDer(cert: X509Certificate): Buffer {
  const parsed = new pkijs.Certificate({ schema: asn1js.fromBER(cert.raw).result });
  return Buffer.from(parsed.subject.toSchema().toBER(false));
}

/** CRL signature algorithms checked here: OID -> Node digest (null: the scheme hashes itself). */
const CRL_SIGNATURES: Readonly<Record<string, string | null>> = {
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null,
  '1.3.101.113': null,
};

/** Whether `key` signed the CRL; undefined for an algorithm not checked here (OpenSSL still checks it). */
export function signedBy(c: ParsedCrl, key: KeyObject): boolean | undefined {
  const hash = CRL_SIGNATURES[c.list.signatureAlgorithm.algorithmId];
  if (hash === undefined) return undefined;
  try {
    return verify(hash, c.list.tbsView, { key, dsaEncoding: 'der' }, Buffer.from(c.list.signatureValue.valueBlock.valueHexView));
  } catch {
    return false;
  }
}

/**
 * Reads and checks every file: each parses, the key is the certificate's, a CRL naming a CA of the
 * CA file is signed by it (one that is not, say from a CA made anew under the same name, would
 * make OpenSSL refuse every client), and OpenSSL accepts them together.
 */
export function readTlsMaterial(src: TlsSources, now: Date = new Date()): TlsMaterial {
  const certPem = read(src.cert, 'certificate');
  const keyPem = read(src.key, 'private key');
  const caPem = read(src.ca, 'CA certificates');
  const cert = certificates(src.cert, certPem, 'certificate')[0]!;
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new TlsFileError(src.key, 'not a usable unencrypted PEM private key');
  }
  if (!cert.checkPrivateKey(key)) throw new TlsFileError(src.key, `this key is not the key of the certificate in ${src.cert}`);
  const cas = certificates(src.ca, caPem, 'CA certificates').map((ca) => ({ ca, subject: subjectDer(ca) }));
  const crl: string[] = [];
  const warnings: string[] = [];
  for (const file of src.crl) {
    for (const c of readCrlFile(file)) {
      const issuers = cas.filter((a) => a.subject.equals(c.issuerDer));
      if (issuers.length === 0) {
        // It may be an intermediate CA's that clients send in their chain.
        warnings.push(`${file}: its issuer is none of the CAs in ${src.ca}; it applies only to a CA that clients send in their chain`);
      } else if (issuers.every((a) => signedBy(c, a.ca.publicKey) === false)) {
        throw new TlsFileError(file, `not signed by the CA it names in ${src.ca} (a CA made anew under the same name?)`);
      }
      if (c.nextUpdate !== undefined && c.nextUpdate.getTime() < now.getTime()) {
        warnings.push(`${file}: the CRL's next update (${c.nextUpdate.toISOString()}) has passed: OpenSSL refuses every client certificate of its CA until it is renewed`);
      }
      crl.push(c.pem);
    }
  }
  try {
    tls.createSecureContext({ key: keyPem, cert: certPem, ca: caPem, ...(crl.length > 0 ? { crl } : {}) });
  } catch (e) {
    throw new TlsFileError(src.cert, `OpenSSL does not accept it with ${[src.key, src.ca, ...src.crl].join(', ')}: ${(e as Error).message}`);
  }
  return { key: keyPem, cert: certPem, ca: caPem, crl, warnings, serial: cert.serialNumber, validTo: cert.validTo };
}
