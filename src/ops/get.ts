/** Get: the object, in the stored format or a requested Key Format Type where we can convert. */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { KeyFormatType, ObjectType, Operation } from '../spec/generated/enums';
import { child, opt, withTag } from '../kmip/tree';
import { isAllowed, type StateValue } from '../lifecycle/state-machine';
import { KmipError, Reason } from '../server/errors';
import type { OperationHandler } from '../server/registry';
import { OBJECT_BODY_TAG, keyBlockOf, rawKeyMaterial } from './key-block';
import { isDestroyed, loadObject, readBody, requestedUid } from './managed-object';

/** Re-expresses a symmetric key block in another format (Raw <-> Transparent Symmetric Key). */
function convertSymmetric(block: TtlvStructure, to: number): TtlvStructure {
  const from = opt.enumeration(block, Tag.KeyFormatType);
  if (from === to) return block;
  const material = rawKeyMaterial(block);
  if (!material) throw new KmipError(Reason.KeyFormatTypeNotSupported, 'this key cannot be converted');
  let keyMaterial: TtlvItem;
  if (to === KeyFormatType.Raw) keyMaterial = ttlv.byteString(Tag.KeyMaterial, material);
  else if (to === KeyFormatType.TransparentSymmetricKey) {
    keyMaterial = ttlv.structure(Tag.KeyMaterial, [ttlv.byteString(Tag.Key, material)]);
  } else throw new KmipError(Reason.KeyFormatTypeNotSupported, 'requested Key Format Type is not supported for this key');
  const out: TtlvItem[] = [];
  for (const c of block.value) {
    if (c.tag === Tag.KeyFormatType) out.push(ttlv.enumeration(Tag.KeyFormatType, to));
    else if (c.tag === Tag.KeyValue && c.type === ItemType.Structure) {
      out.push(ttlv.structure(Tag.KeyValue, c.value.map((k) => (k.tag === Tag.KeyMaterial ? keyMaterial : k))));
    } else out.push(c);
  }
  return ttlv.structure(Tag.KeyBlock, out);
}

export const getHandler: OperationHandler = {
  operation: Operation.Get,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const rec = await loadObject(ctx, uid);
    if (isDestroyed(rec.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${uid} is destroyed`);
    if (!isAllowed(rec.state as StateValue, 'get')) {
      throw new KmipError(Reason.WrongKeyLifecycleState, `object ${uid} cannot be retrieved in its state`);
    }
    if (child(payload, Tag.KeyWrappingSpecification)) {
      throw new KmipError(Reason.FeatureNotSupported, 'key wrapping on Get is not supported yet');
    }
    const format = opt.enumeration(payload, Tag.KeyFormatType);
    if (opt.enumeration(payload, Tag.KeyCompressionType) !== undefined) {
      throw new KmipError(Reason.KeyCompressionTypeNotSupported, 'key compression is not supported');
    }
    let body = await readBody(ctx, rec);
    const block = keyBlockOf(body);
    if (format !== undefined) {
      if (!block) throw new KmipError(Reason.KeyFormatTypeNotSupported, 'this object has no key block');
      if (rec.objectType !== ObjectType.SymmetricKey && opt.enumeration(block, Tag.KeyFormatType) !== format) {
        throw new KmipError(Reason.KeyFormatTypeNotSupported, 'format conversion is offered for symmetric keys only');
      }
      const converted = convertSymmetric(block, format);
      body = ttlv.structure(body.tag, body.value.map((c) => (c.tag === Tag.KeyBlock ? converted : c)));
    }
    const bodyTag = OBJECT_BODY_TAG[rec.objectType] ?? body.tag;
    return [
      ttlv.enumeration(Tag.ObjectType, rec.objectType),
      ttlv.textString(Tag.UniqueIdentifier, uid),
      withTag(body, bodyTag),
    ];
  },
};
