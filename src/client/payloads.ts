/**
 * Request payloads in the form of the negotiated version: 1.x Template-Attribute and Attribute
 * (Name, Index, Value), 2.x Attributes with typed items, New/Current Attribute and Attribute
 * Reference. The server's request adapter reads exactly these forms back into the canonical model.
 */
import { ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import type { ProtocolVersion } from '../spec/versions';
import { attributeToV1, attributeToV2, encodeAttributeReference, type KmipAttribute } from '../kmip/attributes';
import type { CryptographicParameters } from '../kmip/cryptographic-parameters';

const isV2 = (v: ProtocolVersion): boolean => v.major >= 2;

export function uid(id: string): TtlvItem {
  return ttlv.textString(Tag.UniqueIdentifier, id);
}

/**
 * The attributes of a new object: 2.x an Attributes structure (or a key pair's Common, Private
 * Key, Public Key Attributes), 1.x a Template-Attribute (or its key-pair variants).
 */
export function newObjectAttributes(v: ProtocolVersion, attrs: readonly KmipAttribute[], kind: 'object' | 'common' | 'private' | 'public' = 'object'): TtlvStructure {
  if (isV2(v)) {
    const tag = { object: Tag.Attributes, common: Tag.CommonAttributes, private: Tag.PrivateKeyAttributes, public: Tag.PublicKeyAttributes }[kind];
    return ttlv.structure(tag, attrs.map(attributeToV2));
  }
  const tag = {
    object: Tag.TemplateAttribute,
    common: Tag.CommonTemplateAttribute,
    private: Tag.PrivateKeyTemplateAttribute,
    public: Tag.PublicKeyTemplateAttribute,
  }[kind];
  return ttlv.structure(tag, attrs.map((a) => attributeToV1(a)));
}

/** Locate's filter: 1.x one Attribute item each in the payload, 2.x one Attributes structure. */
export function locateFilter(v: ProtocolVersion, attrs: readonly KmipAttribute[]): TtlvItem[] {
  if (isV2(v)) return [ttlv.structure(Tag.Attributes, attrs.map(attributeToV2))];
  return attrs.map((a) => attributeToV1(a));
}

/** Attributes named by a request: 1.x Attribute Name, 2.x Attribute Reference. */
export function attributeReferences(v: ProtocolVersion, names: readonly string[]): TtlvItem[] {
  return names.map((n) => encodeAttributeReference(n, v));
}

/** Add Attribute: 1.x Attribute, 2.x New Attribute. */
export function addAttributePayload(v: ProtocolVersion, id: string, a: KmipAttribute): TtlvItem[] {
  if (isV2(v)) return [uid(id), ttlv.structure(Tag.NewAttribute, [attributeToV2(a)])];
  return [uid(id), attributeToV1(a)];
}

/**
 * Modify Attribute: 1.x the Attribute with the index of the instance changed; 2.x New Attribute,
 * after a Current Attribute naming the instance where one is given.
 */
export function modifyAttributePayload(v: ProtocolVersion, id: string, a: KmipAttribute, opts: { index?: number; current?: KmipAttribute }): TtlvItem[] {
  if (isV2(v)) {
    const current = opts.current === undefined ? [] : [ttlv.structure(Tag.CurrentAttribute, [attributeToV2(opts.current)])];
    return [uid(id), ...current, ttlv.structure(Tag.NewAttribute, [attributeToV2(a)])];
  }
  return [uid(id), attributeToV1(a, opts.index, opts.index !== undefined)];
}

/**
 * Delete Attribute: 1.x Attribute Name and Attribute Index; 2.x Current Attribute where the
 * instance's value is given, else an Attribute Reference (the first instance, in 2.x's words).
 */
export function deleteAttributePayload(v: ProtocolVersion, id: string, name: string, opts: { index?: number; current?: KmipAttribute }): TtlvItem[] {
  if (isV2(v)) {
    if (opts.current !== undefined) return [uid(id), ttlv.structure(Tag.CurrentAttribute, [attributeToV2(opts.current)])];
    return [uid(id), encodeAttributeReference(name, v)];
  }
  const index = opts.index === undefined ? [] : [ttlv.integer(Tag.AttributeIndex, opts.index)];
  return [uid(id), ttlv.textString(Tag.AttributeName, name), ...index];
}

/** Cryptographic Parameters as callers give them; `cryptographicParameters` writes them in the spec's field order (PyKMIP refuses any other). */
export type { CryptographicParameters };

const PARAMETER_FIELDS: readonly (readonly [keyof CryptographicParameters, number, 'enum' | 'int' | 'bool' | 'bytes'])[] = [
  ['blockCipherMode', Tag.BlockCipherMode, 'enum'],
  ['paddingMethod', Tag.PaddingMethod, 'enum'],
  ['hashingAlgorithm', Tag.HashingAlgorithm, 'enum'],
  ['keyRoleType', Tag.KeyRoleType, 'enum'],
  ['digitalSignatureAlgorithm', Tag.DigitalSignatureAlgorithm, 'enum'],
  ['cryptographicAlgorithm', Tag.CryptographicAlgorithm, 'enum'],
  ['randomIV', Tag.RandomIV, 'bool'],
  ['ivLength', Tag.IVLength, 'int'],
  ['tagLength', Tag.TagLength, 'int'],
  ['fixedFieldLength', Tag.FixedFieldLength, 'int'],
  ['invocationFieldLength', Tag.InvocationFieldLength, 'int'],
  ['counterLength', Tag.CounterLength, 'int'],
  ['initialCounterValue', Tag.InitialCounterValue, 'int'],
  ['saltLength', Tag.SaltLength, 'int'],
  ['maskGenerator', Tag.MaskGenerator, 'enum'],
  ['maskGeneratorHashingAlgorithm', Tag.MaskGeneratorHashingAlgorithm, 'enum'],
  ['pSource', Tag.PSource, 'bytes'],
  ['trailerField', Tag.TrailerField, 'int'],
];

export function cryptographicParameters(p: CryptographicParameters): TtlvStructure {
  const out: TtlvItem[] = [];
  for (const [key, tag, kind] of PARAMETER_FIELDS) {
    const value = p[key];
    if (value === undefined) continue;
    if (kind === 'enum') out.push(ttlv.enumeration(tag, value as number));
    else if (kind === 'int') out.push(ttlv.integer(tag, value as number));
    else if (kind === 'bool') out.push(ttlv.boolean(tag, value as boolean));
    else out.push(ttlv.byteString(tag, value as Uint8Array));
  }
  return ttlv.structure(Tag.CryptographicParameters, out);
}

/** The optional fields of a cryptographic request that are present, in the order given. */
export function present(fields: readonly (TtlvItem | undefined)[]): TtlvItem[] {
  return fields.filter((f): f is TtlvItem => f !== undefined);
}

/**
 * A key block holding key material as it is (Raw, or an encoding such as PKCS#8 or X.509 given
 * by `format`), for Register. The object's tag is its type's (Symmetric Key, Private Key, ...).
 */
export function keyObject(objectTag: number, block: { format: number; material: Uint8Array; algorithm?: number; length?: number }): TtlvStructure {
  const kb: TtlvItem[] = [ttlv.enumeration(Tag.KeyFormatType, block.format), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, block.material)])];
  if (block.algorithm !== undefined) kb.push(ttlv.enumeration(Tag.CryptographicAlgorithm, block.algorithm));
  if (block.length !== undefined) kb.push(ttlv.integer(Tag.CryptographicLength, block.length));
  return ttlv.structure(objectTag, [ttlv.structure(Tag.KeyBlock, kb)]);
}
