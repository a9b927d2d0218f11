/** Create: a new symmetric key (AES, 3DES, HMAC, ChaCha20) or Secret Data, generated here. */
import { randomBytes } from 'node:crypto';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { KeyFormatType, ObjectType, Operation, SecretDataType } from '../spec/generated/enums';
import { readRequestAttributes, type KmipAttribute } from '../kmip/attributes';
import { req } from '../kmip/tree';
import type { OpContext } from '../server/context';
import { KmipError, Reason } from '../server/errors';
import type { OperationHandler } from '../server/registry';
import { checkSymmetricLength, digestAttribute, keyBlock, symmetricKeyBytes } from './key-block';
import { checkClientAttributes, storeNewObject } from './new-object';

function attrValue(attrs: readonly KmipAttribute[], name: string): TtlvItem | undefined {
  return attrs.find((a) => a.name === name)?.value;
}

function intAttr(attrs: readonly KmipAttribute[], name: string): number | undefined {
  const v = attrValue(attrs, name);
  return v && (v.type === ItemType.Integer || v.type === ItemType.Enumeration) ? v.value : undefined;
}

interface Generated {
  readonly body: TtlvStructure;
  readonly derived: KmipAttribute[];
}

function generateSymmetricKey(attrs: readonly KmipAttribute[]): Generated {
  const algorithm = intAttr(attrs, 'Cryptographic Algorithm');
  const length = intAttr(attrs, 'Cryptographic Length');
  if (algorithm === undefined) throw new KmipError(Reason.MissingData, 'Cryptographic Algorithm is required');
  if (length === undefined) throw new KmipError(Reason.MissingData, 'Cryptographic Length is required');
  checkSymmetricLength(algorithm, length);
  const material = randomBytes(symmetricKeyBytes(algorithm, length));
  return {
    body: ttlv.structure(Tag.SymmetricKey, [keyBlock(KeyFormatType.Raw, material, algorithm, length)]),
    derived: [{ name: 'Digest', value: digestAttribute(material, KeyFormatType.Raw) }],
  };
}

function generateSecretData(attrs: readonly KmipAttribute[]): Generated {
  const bits = intAttr(attrs, 'Cryptographic Length') ?? 256;
  if (bits <= 0 || bits % 8 !== 0 || bits > 8192) {
    throw new KmipError(Reason.InvalidField, 'secret data length must be a positive multiple of 8 bits');
  }
  const material = randomBytes(bits / 8);
  return {
    body: ttlv.structure(Tag.SecretData, [
      ttlv.enumeration(Tag.SecretDataType, SecretDataType.Seed),
      keyBlock(KeyFormatType.Opaque, material),
    ]),
    derived: [{ name: 'Digest', value: digestAttribute(material, KeyFormatType.Opaque) }],
  };
}

export const createHandler: OperationHandler = {
  operation: Operation.Create,
  async handle(payload, ctx: OpContext) {
    const objectType = req.enumeration(payload, Tag.ObjectType);
    const attrs = readRequestAttributes(payload, ctx.version);
    checkClientAttributes(attrs, ctx, objectType);
    let generated: Generated;
    if (objectType === ObjectType.SymmetricKey) generated = generateSymmetricKey(attrs);
    else if (objectType === ObjectType.SecretData) generated = generateSecretData(attrs);
    else throw new KmipError(Reason.InvalidObjectType, 'Create makes symmetric keys and secret data only');
    try {
      const { uid } = await storeNewObject(ctx, {
        objectType,
        body: generated.body,
        clientAttributes: attrs,
        derived: generated.derived,
        originalCreation: true,
      });
      return [ttlv.enumeration(Tag.ObjectType, objectType), ttlv.textString(Tag.UniqueIdentifier, uid)];
    } finally {
      wipe(generated.body);
    }
  },
};

/** Zeroes every Byte String of a tree that held fresh key material. */
export function wipe(item: TtlvItem): void {
  if (item.type === ItemType.ByteString) item.value.fill(0);
  else if (item.type === ItemType.Structure) for (const c of item.value) wipe(c);
}
