/**
 * What Register learns by reading the object itself: a public or private key must parse in its
 * Key Format Type (malformed DER is Invalid Field, not a key stored to fail later), and its
 * algorithm and length are recorded when the key block does not state them; an X.509 certificate
 * must parse, and gives the certificate attributes. Split Keys, PGP Keys and Certificate Requests
 * must be well formed.
 */
import { ItemType, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CertificateType, ObjectType } from '../spec/generated/enums';
import type { KmipAttribute } from '../kmip/attributes';
import { ttlv } from '../../ttlv/types';
import { child, opt } from '../kmip/tree';
import { inspectKeyBlock } from '../crypto/asymmetric-keys';
import { inspectPqcKeyBlock } from '../crypto/pqc-keys';
import { DEFAULT_KEY_LIMITS, type KeyMaterialLimits } from '../crypto/key-encoding';
import { certificateAttributes } from '../crypto/certificate';
import { KmipError, Reason } from '../kmip/errors';
import { keyBlockOf } from './key-block';
import { readSplitKey, readSplitParts } from './split-key-object';
import { checkCertificateRequestObject } from './certificate-request';

/**
 * PGP Key (1.2 on): a PGP Key Version (3 or 4, the versions the spec names) and a Key Block whose
 * material is the key's RFC 4880 export, which the server keeps as an opaque blob (spec: "SHOULD
 * treat the Key Block field as an opaque blob").
 */
function checkPgpKey(body: TtlvStructure): void {
  const version = child(body, Tag.PGPKeyVersion);
  if (version === undefined) throw new KmipError(Reason.MissingData, 'the PGP Key has no PGP Key Version');
  if (version.type !== ItemType.Integer || (version.value !== 3 && version.value !== 4)) {
    throw new KmipError(Reason.InvalidField, 'PGP Key Version must be 3 or 4');
  }
  if (!keyBlockOf(body)) throw new KmipError(Reason.MissingData, 'the PGP Key has no Key Block');
}

/** Attributes to add to `own` (those it already has are left alone). */
export function inspectRegistered(objectType: number, body: TtlvStructure, own: readonly KmipAttribute[], limits: KeyMaterialLimits | undefined = DEFAULT_KEY_LIMITS): KmipAttribute[] {
  const found: KmipAttribute[] = [];
  const block = keyBlockOf(body);
  // A metadata-only object (no Key Value) has no material to check; its other fields still are.
  const metadataOnly = block !== undefined && child(block, Tag.KeyValue) === undefined;
  if (objectType === ObjectType.PrivateKey || objectType === ObjectType.PublicKey) {
    const stated = own.find((a) => a.name === 'Cryptographic Algorithm')?.value;
    const hint = stated?.type === ItemType.Enumeration ? stated.value : undefined;
    const readable = block && !metadataOnly ? block : undefined;
    const info = readable ? (inspectPqcKeyBlock(readable, objectType, hint) ?? inspectKeyBlock(readable, objectType, limits ?? DEFAULT_KEY_LIMITS)) : undefined;
    if (info) {
      found.push({ name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, info.algorithm) });
      found.push({ name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, info.length) });
    }
  } else if (objectType === ObjectType.SplitKey) {
    // The split parameters and the part must be consistent, or Join Split Key would fail later.
    if (metadataOnly) readSplitParts(body);
    else readSplitKey(body);
  } else if (objectType === ObjectType.PGPKey) {
    checkPgpKey(body);
  } else if (objectType === ObjectType.CertificateRequest) {
    checkCertificateRequestObject(body);
  } else if (objectType === ObjectType.Certificate && opt.enumeration(body, Tag.CertificateType) === CertificateType.X_509) {
    const value = child(body, Tag.CertificateValue);
    if (value?.type === ItemType.ByteString) found.push(...certificateAttributes(value.value));
  }
  return found.filter((f) => !own.some((o) => o.name === f.name));
}
