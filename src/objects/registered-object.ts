/** An object a client hands in (Register, Import, PKCS#12, Certify's certificate): read, checked, stored. */
import { ttlv, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { ObjectType } from '../spec/generated/enums';
import { integerAttribute, type KmipAttribute } from '../kmip/attributes';
import { checkCrypto } from '../crypto/policy';
import { asStructure, child, opt, req } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import type { OpContext } from './context';
import { OBJECT_BODY_TAG, digestAttribute, digestInput, keyBlockOf } from './key-block';
import { inspectRegistered } from './register-inspect';
import { isPkcs12Register, registerPkcs12 } from './pkcs12';
import { checkClientAttributes, chooseProtectionStorage, storeNewObject } from './new-object';
import { resolveRequestAttributes, templateContents } from './templates';
import { DEFAULT_KEY_LIMITS } from '../crypto/key-encoding';

/** Attributes a key block states about itself; stored so Locate and Get Attributes see them. */
export function derivedFromBody(body: TtlvStructure): KmipAttribute[] {
  const out: KmipAttribute[] = [];
  const block = keyBlockOf(body);
  if (block) {
    const alg = child(block, Tag.CryptographicAlgorithm);
    const len = child(block, Tag.CryptographicLength);
    if (alg) out.push({ name: 'Cryptographic Algorithm', value: alg });
    if (len) out.push({ name: 'Cryptographic Length', value: len });
    const fmt = opt.enumeration(block, Tag.KeyFormatType);
    const material = digestInput(block);
    if (fmt !== undefined && material) out.push({ name: 'Digest', value: digestAttribute(material, fmt) });
  }
  const certValue = opt.bytes(body, Tag.CertificateValue);
  const certType = child(body, Tag.CertificateType);
  if (certValue && certType) {
    out.push({ name: 'Certificate Type', value: certType });
    out.push({ name: 'Certificate Length', value: ttlv.integer(Tag.CertificateLength, certValue.length) });
  }
  const opaqueType = child(body, Tag.OpaqueDataType);
  if (opaqueType) out.push({ name: 'Opaque Data Type', value: opaqueType });
  return out;
}

/** A registered object's body and the attributes it carries itself. */
export function readRegisteredObject(
  payload: TtlvStructure,
  objectType: number,
  ctx: Pick<OpContext, 'keyLimits'>,
): { body: TtlvStructure; own: KmipAttribute[] } {
  const bodyTag = OBJECT_BODY_TAG[objectType];
  if (bodyTag === undefined) throw new KmipError(Reason.InvalidObjectType, 'this object type cannot be registered');
  const bodyItem = child(payload, bodyTag);
  if (!bodyItem) throw new KmipError(Reason.MissingData, 'the object to register is missing');
  const body = asStructure(bodyItem);
  const block = keyBlockOf(body);
  // Which versions and object types may leave out the Key Value: kmip/request-adapter.ts.
  const metadataOnly = block !== undefined && !child(block, Tag.KeyValue);
  // A Template's Names name the Template itself; its other attributes wait for the objects made with it.
  const own = objectType === ObjectType.Template ? templateContents(body).filter((a) => a.name === 'Name') : derivedFromBody(body);
  // Keys and certificates must parse; what they say about themselves becomes attributes.
  if (objectType !== ObjectType.Template) own.push(...inspectRegistered(objectType, body, own, ctx.keyLimits ?? DEFAULT_KEY_LIMITS));
  // Key Value Present (1.2 on): created by the server, False, when the Key Value is absent; never otherwise.
  if (metadataOnly) own.push({ name: 'Key Value Present', value: ttlv.boolean(Tag.KeyValuePresent, false) });
  return { body, own };
}

/** Keys brought in answer to the policy's Register rule (algorithm and size as the key states them). */
function checkRegisteredKey(ctx: OpContext, objectType: number, attrs: readonly KmipAttribute[]): void {
  if (objectType === ObjectType.Template || objectType === ObjectType.Certificate) return;
  const algorithm = integerAttribute(attrs, 'Cryptographic Algorithm');
  if (algorithm !== undefined) checkCrypto(ctx.crypto, 'Register', { algorithm, bits: integerAttribute(attrs, 'Cryptographic Length') });
}

export async function registerObject(payload: TtlvStructure, ctx: OpContext, uid?: string): Promise<string> {
  const objectType = req.enumeration(payload, Tag.ObjectType);
  // A PKCS#12 private key is opened with its linked password and may bring certificates (pkcs12.ts).
  if (uid === undefined && isPkcs12Register(payload, objectType)) return registerPkcs12(payload, ctx);
  const { body, own } = readRegisteredObject(payload, objectType, ctx);
  const attrs = await resolveRequestAttributes(payload, ctx);
  checkClientAttributes(attrs, objectType);
  checkRegisteredKey(ctx, objectType, [...own, ...attrs]);
  const { uid: stored } = await storeNewObject(ctx, {
    objectType,
    body,
    clientAttributes: objectType === ObjectType.Template ? [...own, ...attrs] : attrs,
    derived: objectType === ObjectType.Template ? [] : own.filter((d) => !attrs.some((a) => a.name === d.name)),
    originalCreation: false,
    protectionStorage: chooseProtectionStorage(payload),
    uid,
  });
  return stored;
}
