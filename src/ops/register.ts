/** Register: a client-supplied object (keys, secret data, opaque objects, certificates). */
import { ttlv, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { readRequestAttributes, type KmipAttribute } from '../kmip/attributes';
import { asStructure, child, opt, req } from '../kmip/tree';
import { KmipError, Reason } from '../server/errors';
import type { OperationHandler } from '../server/registry';
import { OBJECT_BODY_TAG, digestAttribute, keyBlockOf, rawKeyMaterial } from './key-block';
import { checkClientAttributes, storeNewObject } from './new-object';

/** Attributes a key block states about itself; stored so Locate and Get Attributes see them. */
function derivedFromBody(body: TtlvStructure): KmipAttribute[] {
  const out: KmipAttribute[] = [];
  const block = keyBlockOf(body);
  if (block) {
    const alg = child(block, Tag.CryptographicAlgorithm);
    const len = child(block, Tag.CryptographicLength);
    if (alg) out.push({ name: 'Cryptographic Algorithm', value: alg });
    if (len) out.push({ name: 'Cryptographic Length', value: len });
    const fmt = opt.enumeration(block, Tag.KeyFormatType);
    const material = rawKeyMaterial(block);
    if (fmt !== undefined && material) out.push({ name: 'Digest', value: digestAttribute(material, fmt) });
  }
  const certValue = opt.bytes(body, Tag.CertificateValue);
  const certType = child(body, Tag.CertificateType);
  if (certValue && certType) {
    out.push({ name: 'Certificate Type', value: certType });
    out.push({ name: 'Certificate Length', value: ttlv.integer(Tag.CertificateLength, certValue.length) });
  }
  return out;
}

export const registerHandler: OperationHandler = {
  operation: Operation.Register,
  async handle(payload, ctx) {
    const objectType = req.enumeration(payload, Tag.ObjectType);
    const bodyTag = OBJECT_BODY_TAG[objectType];
    if (bodyTag === undefined) throw new KmipError(Reason.InvalidObjectType, 'this object type cannot be registered');
    const bodyItem = child(payload, bodyTag);
    if (!bodyItem) throw new KmipError(Reason.MissingData, 'the object to register is missing');
    const body = asStructure(bodyItem);
    const block = keyBlockOf(body);
    if (block && !child(block, Tag.KeyValue)) {
      throw new KmipError(Reason.KeyValueNotPresent, 'the key block has no Key Value');
    }
    const attrs = readRequestAttributes(payload, ctx.version);
    checkClientAttributes(attrs, ctx, objectType);
    const { uid } = await storeNewObject(ctx, {
      objectType,
      body,
      clientAttributes: attrs,
      derived: derivedFromBody(body).filter((d) => !attrs.some((a) => a.name === d.name)),
      originalCreation: false,
    });
    return [ttlv.textString(Tag.UniqueIdentifier, uid)];
  },
};
