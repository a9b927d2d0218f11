/**
 * X.509 certificates as Register receives them: the DER is read with asn1js (under resource
 * limits, since it comes from a client) for the fields KMIP gives as DER bytes (issuer and
 * subject names, serial number, alternative names, signature algorithm), and handed to OpenSSL
 * (Node's X509Certificate) for the public key and the text forms of the names.
 */
import { X509Certificate, createHash } from 'node:crypto';
import * as asn1js from 'asn1js';
import { ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { DigitalSignatureAlgorithm, HashingAlgorithm, KeyFormatType } from '../spec/generated/enums';
import { attributeTag, type KmipAttribute } from '../kmip/attributes';
import { KmipError, Reason } from '../kmip/errors';
import { describeKey } from './asymmetric-keys';
import { certificateSpki } from './cert-keys';
import { derAlgorithmOid, pqcKeyBlock, readPqcSpki } from './pqc-keys';
import { pqcByOid, pqcLength, type PqcAlgorithm } from './pqc';
import { decodeBer } from './ber';

/** A certificate has a few hundred nodes; these bound hostile input well above that. */
const PARSE_LIMITS = { maxDepth: 32, maxNodes: 4096, maxContentLength: 64 * 1024 };

/** Signature algorithm OIDs (RFC 3279, 4055, 5758, NIST CSOR) to KMIP Digital Signature Algorithm. */
const SIGNATURE_OIDS: Readonly<Record<string, number>> = {
  '1.2.840.113549.1.1.4': DigitalSignatureAlgorithm.MD5WithRSAEncryption,
  '1.2.840.113549.1.1.5': DigitalSignatureAlgorithm.SHA_1WithRSAEncryption,
  '1.2.840.113549.1.1.14': DigitalSignatureAlgorithm.SHA_224WithRSAEncryption,
  '1.2.840.113549.1.1.11': DigitalSignatureAlgorithm.SHA_256WithRSAEncryption,
  '1.2.840.113549.1.1.12': DigitalSignatureAlgorithm.SHA_384WithRSAEncryption,
  '1.2.840.113549.1.1.13': DigitalSignatureAlgorithm.SHA_512WithRSAEncryption,
  '1.2.840.113549.1.1.10': DigitalSignatureAlgorithm.RSASSA_PSS,
  '1.2.840.10040.4.3': DigitalSignatureAlgorithm.DSAWithSHA_1,
  '2.16.840.1.101.3.4.3.1': DigitalSignatureAlgorithm.DSAWithSHA224,
  '2.16.840.1.101.3.4.3.2': DigitalSignatureAlgorithm.DSAWithSHA256,
  '1.2.840.10045.4.1': DigitalSignatureAlgorithm.ECDSAWithSHA_1,
  '1.2.840.10045.4.3.1': DigitalSignatureAlgorithm.ECDSAWithSHA224,
  '1.2.840.10045.4.3.2': DigitalSignatureAlgorithm.ECDSAWithSHA256,
  '1.2.840.10045.4.3.3': DigitalSignatureAlgorithm.ECDSAWithSHA384,
  '1.2.840.10045.4.3.4': DigitalSignatureAlgorithm.ECDSAWithSHA512,
  '2.16.840.1.101.3.4.3.14': DigitalSignatureAlgorithm.SHA3_256WithRSAEncryption,
  '2.16.840.1.101.3.4.3.15': DigitalSignatureAlgorithm.SHA3_384WithRSAEncryption,
  '2.16.840.1.101.3.4.3.16': DigitalSignatureAlgorithm.SHA3_512WithRSAEncryption,
};

/**
 * X.520 / RFC 4519 / PKCS#9 / RFC 4524 attribute type OIDs to the field names of KMIP 2.x
 * Certificate Attributes (Certificate Subject CN ... DN Qualifier, and the same for the issuer).
 */
const NAME_FIELD_OIDS: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '1.2.840.113549.1.9.1': 'Email',
  '2.5.4.6': 'C',
  '2.5.4.8': 'ST',
  '2.5.4.7': 'L',
  '0.9.2342.19200300.100.1.1': 'UID',
  '2.5.4.5': 'Serial Number',
  '2.5.4.12': 'Title',
  '0.9.2342.19200300.100.1.25': 'DC',
  '2.5.4.46': 'DN Qualifier',
};

/** One attribute of a distinguished name whose type KMIP names, e.g. { field: 'CN', value: 'example.com' }. */
export interface NameField {
  readonly field: string;
  readonly value: string;
}

const SUBJECT_ALT_NAME = '2.5.29.17';
const ISSUER_ALT_NAME = '2.5.29.18';

export interface ParsedCertificate {
  readonly serialNumber: Uint8Array;
  readonly issuerDer: Uint8Array;
  readonly subjectDer: Uint8Array;
  readonly subjectAltNameDer?: Uint8Array;
  readonly issuerAltNameDer?: Uint8Array;
  readonly signatureOid: string;
  readonly issuerText: string;
  readonly subjectText: string;
  /** The issuer's and subject's name attributes KMIP 2.x names, in certificate order. */
  readonly issuerFields: readonly NameField[];
  readonly subjectFields: readonly NameField[];
  readonly serialText: string;
  readonly subjectAltNameText?: string;
  readonly issuerAltNameText?: string;
  readonly publicKey: { algorithm: number; length: number } | undefined;
}

function malformed(why: string): KmipError {
  return new KmipError(Reason.InvalidField, `the Certificate Value is not a valid X.509 certificate: ${why}`);
}

function seqItems(block: asn1js.AsnType | undefined, what: string): asn1js.AsnType[] {
  if (!(block instanceof asn1js.Sequence)) throw malformed(`${what} is not a SEQUENCE`);
  return block.valueBlock.value as asn1js.AsnType[];
}

function isContext(block: asn1js.AsnType | undefined, n: number): block is asn1js.Constructed {
  return block !== undefined && block.idBlock.tagClass === 3 && block.idBlock.tagNumber === n;
}

/** RFC 4514 section 3: the attribute type short names a DN string uses; other types are dotted OIDs. */
const RFC4514_TYPES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.6': 'C',
  '2.5.4.9': 'STREET',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
};

/** RFC 4514 2.4: escape the special characters, a leading space or '#', a trailing space, and NUL. */
function escapeDnValue(v: string): string {
  let body = v.replace(/[\\"+,;<>]/g, (c) => `\\${c}`).replace(/\0/g, '\\00');
  if (v.length > 1 && v.endsWith(' ')) body = `${body.slice(0, -1)}\\ `;
  return v.startsWith(' ') || v.startsWith('#') ? `\\${body}` : body;
}

/**
 * A Name as an RFC 4514 string: RDNs last to first, separated by ',', the values of a multi-valued
 * RDN by '+'. A type RFC 4514 has no short name for is written as its OID with the value's DER in
 * hex (RFC 4514 2.3, 2.4), as is a value that is not a character string.
 */
function rfc4514(name: asn1js.Sequence, what: string): string {
  const rdns: string[] = [];
  for (const rdn of name.valueBlock.value) {
    if (!(rdn instanceof asn1js.Set)) throw malformed(`the ${what} name has a part that is not a SET`);
    const parts: string[] = [];
    for (const atv of rdn.valueBlock.value) {
      const [type, value] = seqItems(atv, `an attribute of the ${what} name`);
      if (!(type instanceof asn1js.ObjectIdentifier) || value === undefined) throw malformed(`the ${what} name has an attribute without a type or value`);
      const oid = type.valueBlock.toString();
      const short = RFC4514_TYPES[oid];
      if (short !== undefined && value instanceof asn1js.BaseStringBlock) parts.push(`${short}=${escapeDnValue(value.getValue())}`);
      else parts.push(`${oid}=#${Buffer.from(value.valueBeforeDecodeView).toString('hex')}`);
    }
    rdns.push(parts.join('+'));
  }
  return rdns.reverse().join(',');
}

/**
 * The forms a client may give a DN string in, for Locate: as given, RFC 4514 (no space after the
 * commas) in either RDN order, and the one-line form with ", " (OpenSSL's order, which this server
 * stored before it wrote RFC 4514) in either order. Splits at commas that are not escaped.
 */
export function dnStringForms(dn: string): string[] {
  const rdns = dn.split(/(?<!\\),/).map((r) => r.trim());
  const reversed = [...rdns].reverse();
  return [...new Set([dn, rdns.join(','), reversed.join(','), rdns.join(', '), reversed.join(', ')])];
}

/** Extensions [3] of the TBSCertificate: OID -> extnValue contents (DER). */
function extensionValues(tbs: asn1js.AsnType[]): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const wrapper = tbs.find((b) => isContext(b, 3));
  if (!wrapper) return out;
  const list = seqItems((wrapper.valueBlock.value as asn1js.AsnType[])[0], 'extensions');
  for (const ext of list) {
    const parts = seqItems(ext, 'an extension');
    const oid = parts[0];
    const value = parts[parts.length - 1];
    if (oid instanceof asn1js.ObjectIdentifier && value instanceof asn1js.OctetString) {
      out.set(oid.valueBlock.toString(), value.valueBlock.valueHexView);
    }
  }
  return out;
}

/**
 * A Name (RFC 5280: a SEQUENCE of RelativeDistinguishedName SETs of AttributeTypeAndValue) as
 * the fields KMIP names. Attribute types KMIP has no field for are left out; a value that is not
 * a character string (not allowed for these types) is refused.
 */
function nameFields(name: asn1js.Sequence, what: string): NameField[] {
  const out: NameField[] = [];
  for (const rdn of name.valueBlock.value) {
    if (!(rdn instanceof asn1js.Set)) throw malformed(`the ${what} name has a part that is not a SET`);
    for (const atv of rdn.valueBlock.value) {
      const [type, value] = seqItems(atv, `an attribute of the ${what} name`);
      if (!(type instanceof asn1js.ObjectIdentifier)) throw malformed(`the ${what} name has an attribute without a type`);
      const field = NAME_FIELD_OIDS[type.valueBlock.toString()];
      if (field === undefined) continue;
      if (!(value instanceof asn1js.BaseStringBlock)) throw malformed(`the ${what} name's ${field} is not a string`);
      out.push({ field, value: value.getValue() });
    }
  }
  return out;
}

export function parseCertificate(der: Uint8Array): ParsedCertificate {
  const parsed = decodeBer(der, PARSE_LIMITS);
  if (parsed === undefined) throw malformed('it does not decode');
  if (parsed.offset !== der.length) throw malformed('bytes follow the certificate');
  const top = seqItems(parsed.result, 'the certificate');
  if (top.length !== 3) throw malformed('it does not have three parts');
  const tbs = seqItems(top[0], 'TBSCertificate');
  // version [0] is optional (v1 certificates omit it); the fields after it are positional.
  const rest = isContext(tbs[0], 0) ? tbs.slice(1) : tbs;
  const [serial, , issuer, , subject] = rest;
  if (!(serial instanceof asn1js.Integer)) throw malformed('no serial number');
  if (!(issuer instanceof asn1js.Sequence) || !(subject instanceof asn1js.Sequence)) throw malformed('no issuer or subject name');
  const sigAlg = seqItems(top[1], 'signatureAlgorithm')[0];
  if (!(sigAlg instanceof asn1js.ObjectIdentifier)) throw malformed('no signature algorithm');
  const extensions = extensionValues(rest);
  const issuerFields = nameFields(issuer, 'issuer');
  const subjectFields = nameFields(subject, 'subject');

  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch {
    throw malformed('OpenSSL does not accept it');
  }
  let publicKey: { algorithm: number; length: number } | undefined;
  try {
    const pqc = pqcOfCertificate(der);
    publicKey = pqc ? { algorithm: pqc.kmip, length: pqcLength(pqc) } : describeKey(x509.publicKey);
  } catch {
    publicKey = undefined; // a key type we do not use: the certificate is still stored
  }
  return {
    // The whole DER INTEGER element (tag, length, contents), as the issuer name beside it is the
    // whole Name element.
    serialNumber: serial.valueBeforeDecodeView,
    issuerDer: issuer.valueBeforeDecodeView,
    subjectDer: subject.valueBeforeDecodeView,
    subjectAltNameDer: extensions.get(SUBJECT_ALT_NAME),
    issuerAltNameDer: extensions.get(ISSUER_ALT_NAME),
    signatureOid: sigAlg.valueBlock.toString(),
    issuerText: rfc4514(issuer, 'issuer'),
    subjectText: rfc4514(subject, 'subject'),
    issuerFields,
    subjectFields,
    serialText: x509.serialNumber,
    subjectAltNameText: x509.subjectAltName,
    issuerAltNameText: undefined,
    publicKey,
  };
}

/**
 * The attributes the server sets on a registered X.509 certificate: the 1.x text forms
 * (Certificate Identifier / Subject / Issuer, until 1.4), the X.509 DER forms (1.1 on), the 2.x
 * Certificate Attributes (one instance of Certificate Subject CN, Certificate Issuer O, ... per
 * name attribute of that type, so an OU given twice is two instances), the signature algorithm,
 * the public key's algorithm and length, and a SHA-256 Digest. Responses drop the ones the
 * client's version lacks.
 */
export function certificateAttributes(der: Uint8Array): KmipAttribute[] {
  const c = parseCertificate(der);
  const out: KmipAttribute[] = [];
  const add = (name: string, value: TtlvItem) => out.push({ name, value });
  add('Certificate Identifier', ttlv.structure(Tag.CertificateIdentifier, [ttlv.textString(Tag.Issuer, c.issuerText), ttlv.textString(Tag.SerialNumber, c.serialText)]));
  const subject: TtlvItem[] = [ttlv.textString(Tag.CertificateSubjectDistinguishedName, c.subjectText)];
  if (c.subjectAltNameText) subject.push(ttlv.textString(Tag.CertificateSubjectAlternativeName, c.subjectAltNameText));
  add('Certificate Subject', ttlv.structure(Tag.CertificateSubject, subject));
  add('Certificate Issuer', ttlv.structure(Tag.CertificateIssuer, [ttlv.textString(Tag.CertificateIssuerDistinguishedName, c.issuerText)]));
  add('X.509 Certificate Identifier', ttlv.structure(Tag.X_509CertificateIdentifier, [
    ttlv.byteString(Tag.IssuerDistinguishedName, Buffer.from(c.issuerDer)),
    ttlv.byteString(Tag.CertificateSerialNumber, Buffer.from(c.serialNumber)),
  ]));
  const x509Subject: TtlvItem[] = [ttlv.byteString(Tag.SubjectDistinguishedName, Buffer.from(c.subjectDer))];
  if (c.subjectAltNameDer) x509Subject.push(ttlv.byteString(Tag.SubjectAlternativeName, Buffer.from(c.subjectAltNameDer)));
  add('X.509 Certificate Subject', ttlv.structure(Tag.X_509CertificateSubject, x509Subject));
  const x509Issuer: TtlvItem[] = [ttlv.byteString(Tag.IssuerDistinguishedName, Buffer.from(c.issuerDer))];
  if (c.issuerAltNameDer) x509Issuer.push(ttlv.byteString(Tag.IssuerAlternativeName, Buffer.from(c.issuerAltNameDer)));
  add('X.509 Certificate Issuer', ttlv.structure(Tag.X_509CertificateIssuer, x509Issuer));
  for (const [role, fields] of [['Subject', c.subjectFields], ['Issuer', c.issuerFields]] as const) {
    for (const { field, value } of fields) {
      const name = `Certificate ${role} ${field}`;
      const tag = attributeTag(name);
      if (tag !== undefined) add(name, ttlv.textString(tag, value));
    }
  }
  const sig = SIGNATURE_OIDS[c.signatureOid];
  if (sig !== undefined) add('Digital Signature Algorithm', ttlv.enumeration(Tag.DigitalSignatureAlgorithm, sig));
  if (c.publicKey) {
    add('Cryptographic Algorithm', ttlv.enumeration(Tag.CryptographicAlgorithm, c.publicKey.algorithm));
    add('Cryptographic Length', ttlv.integer(Tag.CryptographicLength, c.publicKey.length));
  }
  add('Digest', ttlv.structure(Tag.Digest, [
    ttlv.enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA_256),
    ttlv.byteString(Tag.DigestValue, createHash('sha256').update(der).digest()),
  ]));
  return out;
}

/**
 * A certificate's public key as an X.509 (SubjectPublicKeyInfo) key block, so Signature Verify and
 * Encrypt can name a certificate where they would name its public key.
 */
export function certificateKeyBlock(der: Uint8Array): TtlvStructure {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(der);
  } catch {
    throw malformed('OpenSSL does not accept it');
  }
  const pqc = pqcOfCertificate(der);
  // OpenSSL 3.0 cannot load post-quantum keys: their block comes from the certificate's SPKI bytes.
  if (pqc) return pqcKeyBlock(readPqcSpki(certificateSpki(der), pqc), KeyFormatType.X_509);
  const key = x509.publicKey;
  const { algorithm, length } = describeKey(key);
  return ttlv.structure(Tag.KeyBlock, [
    ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.X_509),
    ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, key.export({ format: 'der', type: 'spki' }))]),
    ttlv.enumeration(Tag.CryptographicAlgorithm, algorithm),
    ttlv.integer(Tag.CryptographicLength, length),
  ]);
}

/** The post-quantum algorithm of a certificate's subject key, or undefined for any other key. */
function pqcOfCertificate(der: Uint8Array): PqcAlgorithm | undefined {
  const oid = derAlgorithmOid(certificateSpki(der));
  return oid === undefined ? undefined : pqcByOid(oid);
}
