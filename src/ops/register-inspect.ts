/**
 * What Register learns by reading the object itself: a public or private key must parse in its
 * Key Format Type (malformed DER is Invalid Field, not a key stored to fail later), and its
 * algorithm and length are recorded when the key block does not state them; an X.509 certificate
 * must parse, and gives the certificate attributes.
 */
import { ItemType, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CertificateType, ObjectType } from '../spec/generated/enums';
import type { KmipAttribute } from '../kmip/attributes';
import { ttlv } from '../../ttlv/types';
import { child, opt } from '../kmip/tree';
import { inspectKeyBlock } from '../crypto/asymmetric-keys';
import { certificateAttributes } from '../crypto/certificate';
import { keyBlockOf } from './key-block';

/** Attributes to add to `own` (those it already has are left alone). */
export function inspectRegistered(objectType: number, body: TtlvStructure, own: readonly KmipAttribute[]): KmipAttribute[] {
  const found: KmipAttribute[] = [];
  if (objectType === ObjectType.PrivateKey || objectType === ObjectType.PublicKey) {
    const block = keyBlockOf(body);
    const info = block ? inspectKeyBlock(block, objectType) : undefined;
    if (info) {
      found.push({ name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, info.algorithm) });
      found.push({ name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, info.length) });
    }
  } else if (objectType === ObjectType.Certificate && opt.enumeration(body, Tag.CertificateType) === CertificateType.X_509) {
    const value = child(body, Tag.CertificateValue);
    if (value?.type === ItemType.ByteString) found.push(...certificateAttributes(value.value));
  }
  return found.filter((f) => !own.some((o) => o.name === f.name));
}
