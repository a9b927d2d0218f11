/**
 * Shared by Certify and Re-certify: who signs a certificate the server issues, the certificate
 * request fields, and the links between certificates and keys.
 *
 * The issuer is always a managed key of the caller, never a key of the server's own: the TLS CA
 * (the dev PKI) must not sign certificates for KMIP clients, or a client could mint itself a
 * client certificate with any identity. So:
 *  - a Certificate Link in the request's attributes names the issuer's certificate (the spec's
 *    meaning of that link on a certificate: "the parent certificate in a chain"). It must be an
 *    Active CA certificate the caller may see; its private key is found through its links (Public
 *    Key Link, then the public key's Private Key Link), or named by a Private Key Link in the request.
 *  - without one the certificate is self-signed by the subject's own private key, found through
 *    the public key's Private Key Link (or a Private Key Link in the request).
 * A signing private key must be Pre-Active or Active (the lifecycle table's certify rule), within its Protect Stop Date and have Certificate Sign in
 * its Cryptographic Usage Mask (a self-signed certificate may use Sign instead). Its material is
 * read from the HSM-wrapped store for this call only. Keys of every algorithm we hold may be
 * subject or issuer: public keys travel as SubjectPublicKeyInfo DER, and an ML-DSA or SLH-DSA
 * issuer signs through @noble/post-quantum (crypto/cert-keys.ts).
 */
import { X509Certificate } from 'node:crypto';
import { ItemType, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CertificateType, CryptographicUsageMask, LinkType, ObjectType } from '../spec/generated/enums';
import type { KmipAttribute } from '../kmip/attributes';
import { asText, child, opt } from '../kmip/tree';
import { isAllowed, stateName, type StateValue } from '../lifecycle/state-machine';
import type { OpContext } from './context';
import { KmipError, Reason } from '../kmip/errors';
import type { ManagedObjectRecord, StoredAttribute } from '../store/object-store';
import { keyObjectFromBlock } from '../crypto/asymmetric-keys';
import { checkCrypto } from '../crypto/policy';
import { asymmetricKeyFacts } from '../crypto/policy-facts';
import { issueCertificate, subjectOfCertificate, type CertificationRequest } from '../crypto/x509-issue';
import { canonicalSpki, certificateSpki, keyObjectSigner, pqcCertSigner, type CertSigner } from '../crypto/cert-keys';
import { pqcOfBlock, pqcSpki, readPqcBlock } from '../crypto/pqc-keys';
import { keepSecret } from './crypto-key';
import { parseRequestOfType, storedCertificationRequest } from './certificate-request';
import { keyBlockOf, requireKeyValue } from './key-block';
import { getAttribute, getAttributes, isDestroyed, loadObject, nowSeconds, readBody, requireOnline } from './managed-object';

import { integerAttribute } from '../kmip/attributes';
function linkParts(v: TtlvItem): { type: number; uid: string } | undefined {
  if (v.type !== ItemType.Structure) return undefined;
  const type = opt.enumeration(v, Tag.LinkType);
  const uid = opt.text(v, Tag.LinkedObjectIdentifier);
  return type === undefined || uid === undefined ? undefined : { type, uid };
}

/** The first link of `type` among attribute values (stored or requested). */
export function linkTarget(attrs: readonly { readonly name: string; readonly value: TtlvItem }[], type: number): string | undefined {
  for (const a of attrs) {
    if (a.name !== 'Link') continue;
    const l = linkParts(a.value);
    if (l?.type === type) return l.uid;
  }
  return undefined;
}

/** Stored attributes without the Link instances of `type` that point at `uid`. */
export function withoutLink(attrs: readonly StoredAttribute[], type: number, uid: string): StoredAttribute[] {
  return attrs.filter((a) => {
    if (a.name !== 'Link') return true;
    const l = linkParts(a.value);
    return !(l?.type === type && l.uid === uid);
  });
}

/** A Private Key Link names the signing key in a request; it is not an attribute of a certificate. */
export function certificateAttributesOf(attrs: readonly KmipAttribute[]): KmipAttribute[] {
  return attrs.filter((a) => !(a.name === 'Link' && linkParts(a.value)?.type === LinkType.PrivateKeyLink));
}

export function usageMaskOf(attrs: readonly { readonly name: string; readonly value: TtlvItem }[]): number | undefined {
  return integerAttribute(attrs, 'Cryptographic Usage Mask');
}

/** Only X.509 certificates are issued; a Certificate Type attribute must say so. */
export function checkCertificateType(attrs: readonly KmipAttribute[]): void {
  const t = integerAttribute(attrs, 'Certificate Type');
  if (t !== undefined && t !== CertificateType.X_509) throw new KmipError(Reason.FeatureNotSupported, 'this server issues X.509 certificates only');
}

/**
 * The request's certificate request: a stored Certificate Request named by Certificate Request
 * Unique Identifier (2.x), or the Certificate Request Type and Certificate Request Value (a 1.x
 * client's Certificate Request, renamed by the request adapter), never both. PKCS#10 as DER or
 * PEM; CRMF and PGP are not offered.
 */
export async function readCertificationRequest(payload: TtlvStructure, ctx: OpContext): Promise<CertificationRequest | undefined> {
  const type = opt.enumeration(payload, Tag.CertificateRequestType);
  const value = opt.bytes(payload, Tag.CertificateRequestValue);
  const storedUid = child(payload, Tag.CertificateRequestUniqueIdentifier);
  if (storedUid !== undefined) {
    if (value !== undefined || type !== undefined) {
      throw new KmipError(Reason.InvalidField, 'name a stored Certificate Request or send one (Certificate Request Type and Value), not both');
    }
    // The ID Placeholder stands in for an identifier given as an Enumeration, as for Unique Identifier.
    const uid = storedUid.type === ItemType.Enumeration ? ctx.idPlaceholder : asText(storedUid);
    if (uid === undefined) throw new KmipError(Reason.MissingData, 'no ID Placeholder to stand for the Certificate Request Unique Identifier');
    const stored = await storedCertificationRequest(ctx, uid);
    if (stored === undefined) throw new KmipError(Reason.InvalidObjectType, `object ${uid} is not a Certificate Request`);
    return stored;
  }
  if (value === undefined) {
    if (type !== undefined) throw new KmipError(Reason.InvalidField, 'a Certificate Request Type was given without the Certificate Request');
    return undefined;
  }
  if (type === undefined) throw new KmipError(Reason.InvalidField, 'the Certificate Request Type is required with a Certificate Request');
  try {
    return parseRequestOfType({ type, value }, Reason.InvalidCSR);
  } catch (e) {
    // Invalid CSR arrives in 2.0; 1.x clients hear Invalid Field.
    if (e instanceof KmipError && e.reason === Reason.InvalidCSR) throw new KmipError(e.reason, e.message, undefined, Reason.InvalidField);
    throw e;
  }
}

/** Whether two SubjectPublicKeyInfos (any encoding) are the same key. */
export function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return canonicalSpki(a).equals(canonicalSpki(b));
}

/** The public key of a key block as canonical SPKI DER: a post-quantum key or a Node one. */
function publicSpkiOfBlock(block: TtlvStructure, rec: ManagedObjectRecord): Buffer {
  const pqc = pqcOfBlock(block, integerAttribute(rec.attributes, 'Cryptographic Algorithm'));
  if (pqc) return pqcSpki(pqc, readPqcBlock(block, 'public', pqc).bytes);
  return keyObjectFromBlock(block, 'public').export({ type: 'spki', format: 'der' });
}

/** A managed public key the caller may use as a certificate's subject key (SPKI DER, canonical). */
export async function loadSubjectPublicKey(ctx: OpContext, uid: string): Promise<{ rec: ManagedObjectRecord; spki: Buffer }> {
  const rec = await loadObject(ctx, uid);
  if (isDestroyed(rec.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${uid} is destroyed`);
  requireOnline(rec);
  if (rec.objectType !== ObjectType.PublicKey) {
    throw new KmipError(Reason.InvalidObjectType, `object ${uid} is not a public key, so it cannot be certified`, undefined, Reason.PermissionDenied);
  }
  if (!isAllowed(rec.state as StateValue, 'get')) {
    throw new KmipError(Reason.WrongKeyLifecycleState, `public key ${uid} cannot be certified in state ${stateName(rec.state)}`);
  }
  const block = keyBlockOf(await readBody(ctx, rec));
  if (!block) throw new KmipError(Reason.KeyValueNotPresent, `object ${uid} holds no key`);
  requireKeyValue(block, uid);
  return { rec, spki: publicSpkiOfBlock(block, rec) };
}

async function loadSigner(ctx: OpContext, uid: string, selfSigned: boolean): Promise<CertSigner> {
  const rec = await loadObject(ctx, uid);
  if (isDestroyed(rec.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${uid} is destroyed`);
  requireOnline(rec);
  if (rec.objectType !== ObjectType.PrivateKey) throw new KmipError(Reason.InvalidObjectType, `object ${uid} is not a private key`, undefined, Reason.PermissionDenied);
  if (!isAllowed(rec.state as StateValue, 'certify')) {
    throw new KmipError(Reason.WrongKeyLifecycleState, `the signing key ${uid} is in state ${stateName(rec.state)}; it must be Pre-Active or Active to sign a certificate`);
  }
  const stop = getAttribute(rec.attributes, 'Protect Stop Date');
  if (stop?.type === ItemType.DateTime && stop.value <= nowSeconds(ctx)) throw new KmipError(Reason.WrongKeyLifecycleState, `the signing key ${uid} is past its Protect Stop Date`);
  const mask = usageMaskOf(rec.attributes) ?? 0;
  const allowed = CryptographicUsageMask.CertificateSign | (selfSigned ? CryptographicUsageMask.Sign : 0);
  if ((mask & allowed) === 0) {
    throw new KmipError(Reason.IncompatibleCryptographicUsageMask, `the signing key ${uid} does not have ${selfSigned ? 'Sign or Certificate Sign' : 'Certificate Sign'} in its Cryptographic Usage Mask`);
  }
  const block = keyBlockOf(await readBody(ctx, rec));
  if (!block) throw new KmipError(Reason.KeyValueNotPresent, `object ${uid} holds no key`);
  requireKeyValue(block, uid);
  const pqc = pqcOfBlock(block, integerAttribute(rec.attributes, 'Cryptographic Algorithm'));
  if (pqc) {
    // Issuing a certificate is signing with this key (pure ML-DSA / SLH-DSA, RFC 9881 / 9909).
    checkCrypto(ctx.crypto, 'Sign', { algorithm: pqc.kmip });
    const key = readPqcBlock(block, 'private', pqc);
    keepSecret(ctx, key.bytes, ...(key.seed ? [key.seed] : []));
    return pqcCertSigner(pqc, key.bytes);
  }
  const key = keyObjectFromBlock(block, 'private');
  // Issuing a certificate is signing with this key (the hash is the issuer's choice: SHA-2).
  checkCrypto(ctx.crypto, 'Sign', asymmetricKeyFacts(key));
  return keyObjectSigner(key);
}

export interface Issuer {
  readonly subjectDer: Uint8Array;
  /** Signs with the issuer's private key; its publicSpki is the issuer's public key. */
  readonly signer: CertSigner;
  /** The issuer's certificate object, when not self-signed. */
  readonly certificateUid?: string;
  /** Latest time the issued certificate may run to (the issuer certificate's own end), seconds. */
  readonly notAfter?: bigint;
}

/**
 * A certificate for `subjectKey` signed by `issuer`, valid from `notBefore` to `notAfter` but never
 * past the issuer certificate's own end.
 */
export function issueUnder(
  issuer: Issuer,
  subject: { readonly subjectDer: Uint8Array; readonly subjectSpki: Uint8Array; readonly usageMask: number },
  notBefore: bigint,
  notAfter: bigint,
): Promise<Buffer> {
  return issueCertificate({
    ...subject,
    issuerDer: issuer.subjectDer,
    signer: issuer.signer,
    notBefore,
    notAfter: issuer.notAfter !== undefined && notAfter > issuer.notAfter ? issuer.notAfter : notAfter,
  });
}

/** The certificate (DER) a Certificate object holds. */
export async function certificateDer(ctx: OpContext, rec: ManagedObjectRecord): Promise<Buffer> {
  const body = await readBody(ctx, rec);
  if (opt.enumeration(body, Tag.CertificateType) !== CertificateType.X_509) throw new KmipError(Reason.FeatureNotSupported, 'only X.509 certificates are handled');
  const value = opt.bytes(body, Tag.CertificateValue);
  if (!value) throw new KmipError(Reason.KeyValueNotPresent, `certificate ${rec.uid} has no value`);
  return Buffer.from(value);
}

/**
 * The issuer for a new certificate: `issuerCertUid` (a CA certificate) or, without it, the subject
 * itself (its private key by `subjectPrivateUid`). `explicitPrivateUid` is a request's Private Key Link.
 */
export async function resolveIssuer(
  ctx: OpContext,
  issuerCertUid: string | undefined,
  subject: { readonly der: Uint8Array; readonly spki: Uint8Array; readonly privateUid?: string },
  explicitPrivateUid: string | undefined,
): Promise<Issuer> {
  if (issuerCertUid === undefined) {
    const privUid = explicitPrivateUid ?? subject.privateUid;
    if (privUid === undefined) {
      throw new KmipError(Reason.PermissionDenied, 'no issuer: name a CA certificate with a Certificate Link, or certify a public key whose private key the server holds (self-signed)');
    }
    const signer = await loadSigner(ctx, privUid, true);
    if (!sameKey(subject.spki, signer.publicSpki)) throw new KmipError(Reason.InvalidField, 'the private key does not belong to the public key being certified');
    return { subjectDer: subject.der, signer };
  }
  const rec = await loadObject(ctx, issuerCertUid);
  if (isDestroyed(rec.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${issuerCertUid} is destroyed`);
  requireOnline(rec);
  if (rec.objectType !== ObjectType.Certificate) throw new KmipError(Reason.InvalidObjectType, `the issuer ${issuerCertUid} is not a certificate`);
  if (!isAllowed(rec.state as StateValue, 'protect')) {
    throw new KmipError(Reason.WrongKeyLifecycleState, `the issuer certificate ${issuerCertUid} is in state ${stateName(rec.state)}; it must be Active`);
  }
  const der = await certificateDer(ctx, rec);
  const x509 = new X509Certificate(der);
  if (!x509.ca) throw new KmipError(Reason.PermissionDenied, `the issuer certificate ${issuerCertUid} is not a CA certificate`);
  const notAfter = BigInt(Math.floor(Date.parse(x509.validTo) / 1000));
  const now = nowSeconds(ctx);
  if (notAfter <= now || BigInt(Math.floor(Date.parse(x509.validFrom) / 1000)) > now) {
    throw new KmipError(Reason.PermissionDenied, `the issuer certificate ${issuerCertUid} is not valid now`);
  }
  let privUid = explicitPrivateUid;
  if (privUid === undefined) {
    const pubUid = linkTarget(rec.attributes, LinkType.PublicKeyLink);
    const pub = pubUid === undefined ? undefined : await loadObject(ctx, pubUid);
    privUid = pub ? linkTarget(pub.attributes, LinkType.PrivateKeyLink) : undefined;
  }
  if (privUid === undefined) {
    throw new KmipError(Reason.PermissionDenied, `the private key of issuer ${issuerCertUid} is not known: link the certificate to its public key, or name the key with a Private Key Link`);
  }
  const signer = await loadSigner(ctx, privUid, false);
  if (!sameKey(certificateSpki(der), signer.publicSpki)) throw new KmipError(Reason.InvalidField, `the private key does not belong to issuer certificate ${issuerCertUid}`);
  return { subjectDer: subjectOfCertificate(der), signer, certificateUid: issuerCertUid, notAfter };
}

/** Certificates this server issues run a year unless a Deactivation Date says otherwise. */
export const DEFAULT_VALIDITY_SECONDS = 365n * 24n * 3600n;

/** The Names of a stored object (Re-certify moves them). */
export function namesOf(attrs: readonly StoredAttribute[]): TtlvItem[] {
  return getAttributes(attrs, 'Name');
}
