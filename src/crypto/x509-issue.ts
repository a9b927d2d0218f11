/**
 * Issuing X.509 v3 certificates for Certify and Re-certify, and reading the PKCS#10 certificate
 * requests clients send (DER, or PEM-armoured). Built with asn1js and signed by a CertSigner
 * (./cert-keys.ts: Node keys, or ML-DSA / SLH-DSA through @noble/post-quantum); the request is read under resource limits and its self-signature checked
 * (a request whose signature fails proves no possession of the private key and is refused).
 *
 * What a certificate says: the subject and public key (from the request, or the managed public key
 * and a subject the handler chose), the issuer's subject as issuer, a random positive 127-bit
 * serial, the validity given, and extensions decided here, never copied from the request:
 * Basic Constraints (a CA only when the subject key's usage mask has Certificate Sign), Key Usage
 * from the Cryptographic Usage Mask, Subject and Authority Key Identifiers.
 */
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { CryptographicUsageMask } from '../spec/generated/enums';
import { KmipError, Reason, type ReasonValue } from '../kmip/errors';
import { canonicalSpki, knownSignatureOid, verifyWithSpki, type CertSigner } from './cert-keys';
import { pqcByOid } from './pqc';
import { derAlgorithmOid } from './pqc-keys';
import { decodeBer } from './ber';

/** A request has a few dozen nodes; these bound hostile input well above that. */
const PARSE_LIMITS = { maxDepth: 32, maxNodes: 2048, maxContentLength: 64 * 1024 };

const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  commonName: '2.5.4.3',
} as const;

export interface CertificationRequest {
  /** The subject Name, DER, to be copied into the certificate unchanged. */
  readonly subjectDer: Buffer;
  /** The request's public key, SPKI DER in canonical form (./cert-keys.ts canonicalSpki). */
  readonly publicSpki: Buffer;
}

function invalidRequest(why: string, reason: ReasonValue = Reason.InvalidField): KmipError {
  return new KmipError(reason, `the Certificate Request is not a valid PKCS#10 request: ${why}`);
}

/** PEM armour to DER; DER passes through. */
export function requestDer(value: Uint8Array, pem: boolean, reason: ReasonValue = Reason.InvalidField): Buffer {
  if (!pem) return Buffer.from(value);
  const text = Buffer.from(value).toString('latin1');
  const m = /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]+)-----END (?:NEW )?CERTIFICATE REQUEST-----/.exec(text);
  if (!m || m[1] === undefined) throw invalidRequest('no PEM CERTIFICATE REQUEST block', reason);
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
}

/**
 * Reads a PKCS#10 CertificationRequest and checks its self-signature; `reason` is the Result
 * Reason for a request that fails (Invalid CSR in 2.x, Invalid Field in 1.x).
 */
export function parseCertificationRequest(der: Uint8Array, reason: ReasonValue = Reason.InvalidField): CertificationRequest {
  const invalid = (why: string) => invalidRequest(why, reason);
  const seq = (block: asn1js.AsnType | undefined, what: string): asn1js.AsnType[] => {
    if (!(block instanceof asn1js.Sequence)) throw invalid(`${what} is not a SEQUENCE`);
    return block.valueBlock.value as asn1js.AsnType[];
  };
  const parsed = decodeBer(der, PARSE_LIMITS);
  if (parsed === undefined || parsed.offset !== der.length) throw invalid('it does not decode as one DER value');
  const [info, algorithm, signature] = seq(parsed.result, 'the request');
  const infoItems = seq(info, 'CertificationRequestInfo');
  const [version, subject, spki] = infoItems;
  if (!(version instanceof asn1js.Integer) || version.valueBlock.valueDec !== 0) throw invalid('only version 1 requests are known');
  if (!(subject instanceof asn1js.Sequence)) throw invalid('no subject name');
  if (!(spki instanceof asn1js.Sequence)) throw invalid('no public key');
  const algOid = seq(algorithm, 'signatureAlgorithm')[0];
  if (!(algOid instanceof asn1js.ObjectIdentifier)) throw invalid('no signature algorithm');
  if (!(signature instanceof asn1js.BitString)) throw invalid('no signature');
  let publicSpki: Buffer;
  try {
    publicSpki = canonicalSpki(new Uint8Array(spki.valueBeforeDecodeView));
  } catch {
    throw invalid('the public key does not parse');
  }
  const oid = algOid.valueBlock.toString();
  if (!knownSignatureOid(oid)) throw invalid(`signature algorithm ${oid} is not supported`);
  const ok = verifyWithSpki(publicSpki, oid, new Uint8Array(info?.valueBeforeDecodeView ?? new ArrayBuffer(0)), new Uint8Array(signature.valueBlock.valueHexView));
  if (!ok) throw invalid('its signature does not verify with its public key');
  return { subjectDer: Buffer.from(subject.valueBeforeDecodeView), publicSpki };
}

/** A Name holding one CN (UTF8String). */
export function commonNameDer(cn: string): Buffer {
  const rdn = new asn1js.Set({
    value: [new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID.commonName }), new asn1js.Utf8String({ value: cn })] })],
  });
  return Buffer.from(new asn1js.Sequence({ value: [rdn] }).toBER(false));
}

/** The subject Name of a DER certificate, as DER. */
export function subjectOfCertificate(certDer: Uint8Array): Buffer {
  return tbsField(certDer, 5, 'subject');
}

function tbsField(certDer: Uint8Array, index: number, what: string): Buffer {
  const cert = decodeBer(certDer, PARSE_LIMITS)?.result;
  if (!(cert instanceof asn1js.Sequence)) throw new KmipError(Reason.InvalidField, 'the certificate does not parse');
  const tbs = cert.valueBlock.value[0];
  if (!(tbs instanceof asn1js.Sequence)) throw new KmipError(Reason.InvalidField, 'the certificate does not parse');
  const items = tbs.valueBlock.value;
  // [0] version is present in v3 certificates; positions after it are fixed.
  const shift = items[0]?.idBlock.tagClass === 3 ? 0 : -1;
  const field = items[index + shift];
  if (field === undefined) throw new KmipError(Reason.InvalidField, `the certificate has no ${what}`);
  return Buffer.from(field.valueBeforeDecodeView);
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(key: KeyObject): Buffer {
  return spkiKeyIdentifier(key.export({ type: 'spki', format: 'der' }));
}

/** keyIdentifier of a SubjectPublicKeyInfo, DER. */
export function spkiKeyIdentifier(der: Uint8Array): Buffer {
  const spki = decodeBer(der)?.result;
  const bits = spki instanceof asn1js.Sequence ? spki.valueBlock.value[1] : undefined;
  if (!(bits instanceof asn1js.BitString)) throw new KmipError(Reason.CryptographicFailure, 'the public key does not encode');
  return createHash('sha1').update(bits.valueBlock.valueHexView).digest();
}

/** UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280); whole seconds. */
function time(seconds: bigint): asn1js.UTCTime | asn1js.GeneralizedTime {
  const date = new Date(Number(seconds) * 1000);
  const iso = date.toISOString();
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new KmipError(Reason.InvalidField, 'certificate dates must fall between 1950 and 9999');
  return year < 2050 ? new asn1js.UTCTime({ value: digits.slice(2) }) : new asn1js.GeneralizedTime({ value: digits });
}

function extension(oid: string, critical: boolean, value: asn1js.BaseBlock): asn1js.Sequence {
  const parts: asn1js.BaseBlock[] = [new asn1js.ObjectIdentifier({ value: oid })];
  if (critical) parts.push(new asn1js.Boolean({ value: true }));
  parts.push(new asn1js.OctetString({ valueHex: value.toBER(false) }));
  return new asn1js.Sequence({ value: parts });
}

/** KeyUsage bits (bit n counted from the most significant bit of the first byte). */
const KEY_USAGE_BITS: readonly [number, number][] = [
  [CryptographicUsageMask.Sign, 0], // digitalSignature (a private key's mask)
  [CryptographicUsageMask.Verify, 0], // digitalSignature (a public key's mask)
  [CryptographicUsageMask.ContentCommitmentNonRepudiation, 1], // nonRepudiation
  [CryptographicUsageMask.WrapKey, 2], // keyEncipherment
  [CryptographicUsageMask.Encrypt, 3], // dataEncipherment
  [CryptographicUsageMask.KeyAgreement, 4],
  [CryptographicUsageMask.CertificateSign, 5],
  [CryptographicUsageMask.CRLSign, 6],
];

const M = CryptographicUsageMask;

/**
 * Key Usage bits a post-quantum subject key may carry: RFC 9881 / 9909 allow signature bits only for
 * ML-DSA and SLH-DSA; RFC 9935 allows only keyEncipherment for ML-KEM, which any encryption-side
 * mask bit asks for (a KEM key establishes keys; it encrypts nothing itself).
 */
function pqcKeyUsageBits(family: string | undefined, mask: number, bits: number[]): number[] {
  if (family === 'ml-kem') return (mask & (M.Encrypt | M.Decrypt | M.WrapKey | M.UnwrapKey | M.KeyAgreement)) !== 0 ? [2] : [];
  if (family === 'ml-dsa' || family === 'slh-dsa') return bits.filter((b) => b === 0 || b === 1 || b === 5 || b === 6);
  return bits;
}

/** The Key Usage extension for a Cryptographic Usage Mask, or undefined when none of its bits map. */
function keyUsageFor(mask: number, subjectSpki: Uint8Array): asn1js.BitString | undefined {
  const oid = derAlgorithmOid(subjectSpki);
  const family = oid === undefined ? undefined : pqcByOid(oid)?.family;
  const bits = pqcKeyUsageBits(family, mask, KEY_USAGE_BITS.filter(([m]) => (mask & m) !== 0).map(([, b]) => b));
  if (bits.length === 0) return undefined;
  let byte = 0;
  for (const b of bits) byte |= 0x80 >> b;
  const last = Math.max(...bits);
  return new asn1js.BitString({ valueHex: new Uint8Array([byte]), unusedBits: 7 - last });
}

export interface IssueSpec {
  readonly subjectDer: Uint8Array;
  /** The subject's public key, SPKI DER (any algorithm, post-quantum ones too). */
  readonly subjectSpki: Uint8Array;
  readonly issuerDer: Uint8Array;
  /** Signs the certificate; its public key is the Authority Key Identifier's (the subject's own for a self-signed one). */
  readonly signer: CertSigner;
  readonly notBefore: bigint;
  readonly notAfter: bigint;
  /** The subject key's Cryptographic Usage Mask (Key Usage, and CA when Certificate Sign). */
  readonly usageMask: number;
}

/** A signed X.509 v3 certificate, DER. */
export async function issueCertificate(spec: IssueSpec): Promise<Buffer> {
  if (spec.notAfter <= spec.notBefore) throw new KmipError(Reason.InvalidField, 'the certificate would expire before it becomes valid');
  const spki = asn1js.fromBER(Uint8Array.from(spec.subjectSpki));
  const issuer = asn1js.fromBER(spec.issuerDer);
  const subject = asn1js.fromBER(spec.subjectDer);
  if (spki.offset === -1 || issuer.offset === -1 || subject.offset === -1) throw new KmipError(Reason.CryptographicFailure, 'the certificate fields do not encode');
  const serial = randomBytes(16);
  // Positive and without a leading zero byte, so DER needs no padding.
  serial[0] = ((serial[0] as number) & 0x7f) | 0x40;
  const isCa = (spec.usageMask & CryptographicUsageMask.CertificateSign) !== 0;
  const extensions: asn1js.Sequence[] = [
    extension(OID.basicConstraints, true, new asn1js.Sequence({ value: isCa ? [new asn1js.Boolean({ value: true })] : [] })),
  ];
  const ku = keyUsageFor(spec.usageMask, spec.subjectSpki);
  if (ku) extensions.push(extension(OID.keyUsage, true, ku));
  extensions.push(extension(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: spkiKeyIdentifier(spec.subjectSpki) })));
  extensions.push(
    extension(
      OID.authorityKeyIdentifier,
      false,
      new asn1js.Sequence({ value: [new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: spkiKeyIdentifier(spec.signer.publicSpki) })] }),
    ),
  );
  const tbs = new asn1js.Sequence({
    value: [
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [new asn1js.Integer({ value: 2 })] }),
      new asn1js.Integer({ valueHex: serial }),
      spec.signer.algorithm(),
      issuer.result,
      new asn1js.Sequence({ value: [time(spec.notBefore), time(spec.notAfter)] }),
      subject.result,
      spki.result,
      new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 3 }, value: [new asn1js.Sequence({ value: extensions })] }),
    ],
  });
  const tbsDer = Buffer.from(tbs.toBER(false));
  const signature = await spec.signer.sign(tbsDer);
  const cert = new asn1js.Sequence({ value: [tbs, spec.signer.algorithm(), new asn1js.BitString({ valueHex: signature, unusedBits: 0 })] });
  return Buffer.from(cert.toBER(false));
}
