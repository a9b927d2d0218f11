/**
 * A tiny TtlvDictionary for codec unit tests: a handful of real KMIP tags, one enumeration, one
 * mask, and the KMIP 1.x Attribute Name / Attribute Value rule. Keeps ttlv/ tests independent of
 * the generated spec tables.
 */
import type { TtlvDictionary, TtlvNameContext, ValueDomain } from '../../ttlv/types';

export const T = {
  ActivationDate: 0x420001,
  Attribute: 0x420008,
  AttributeName: 0x42000a,
  AttributeValue: 0x42000b,
  BatchCount: 0x42000d,
  BatchItem: 0x42000f,
  CryptographicUsageMask: 0x42002c,
  ObjectType: 0x420057,
  ProtocolVersion: 0x420069,
  ProtocolVersionMajor: 0x42006a,
  ProtocolVersionMinor: 0x42006b,
  RequestHeader: 0x420077,
  RequestMessage: 0x420078,
  ResponseMessage: 0x42007b,
  Operation: 0x42005c,
  UniqueIdentifier: 0x420094,
  KeyMaterial: 0x420043,
  Modulus: 0x420052,
  UsageLimitsTotal: 0x420097,
  LeaseTime: 0x420049,
  Unnamed: 0x420150,
  Timestamp2: 0x420140,
} as const;

class MapDomain implements ValueDomain {
  private readonly byValue = new Map<number, string>();
  constructor(
    readonly kind: 'enumeration' | 'mask',
    private readonly byName: ReadonlyMap<string, number>,
  ) {
    for (const [n, v] of byName) this.byValue.set(v, n);
  }
  nameOf(value: number): string | undefined {
    return this.byValue.get(value);
  }
  valueOf(name: string): number | undefined {
    return this.byName.get(name);
  }
}

export const usageMask = new MapDomain(
  'mask',
  new Map([
    ['Sign', 0x1],
    ['Verify', 0x2],
    ['Encrypt', 0x4],
    ['Decrypt', 0x8],
    ['WrapKey', 0x10],
    ['High', 0x80000000],
  ]),
);
export const objectType = new MapDomain(
  'enumeration',
  new Map([
    ['Certificate', 1],
    ['SymmetricKey', 2],
    ['PublicKey', 3],
  ]),
);
export const operation = new MapDomain(
  'enumeration',
  new Map([
    ['Create', 1],
    ['Query', 0x18],
  ]),
);

const names = new Map<number, string>();
const tags = new Map<string, number>();
for (const [name, tag] of Object.entries(T)) {
  if (name === 'Unnamed') continue;
  names.set(tag, name);
  tags.set(name, tag);
}

/** 1.x Attribute Names (as the spec writes them) -> the tag whose domain applies. */
const attributeTags = new Map<string, number>([
  ['Cryptographic Usage Mask', T.CryptographicUsageMask],
  ['Object Type', T.ObjectType],
  ['Lease Time', T.LeaseTime],
]);

const domains = new Map<number, ValueDomain>([
  [T.CryptographicUsageMask, usageMask],
  [T.ObjectType, objectType],
  [T.Operation, operation],
]);

export const stubDictionary: TtlvDictionary = {
  attributeNameTag: T.AttributeName,
  tagName: (tag) => names.get(tag),
  tagByName: (name) => tags.get(name),
  valueDomain(tag: number, context: TtlvNameContext): ValueDomain | undefined {
    if (tag === T.AttributeValue) {
      const t = context.attributeName === undefined ? undefined : attributeTags.get(context.attributeName);
      return t === undefined ? undefined : domains.get(t);
    }
    return domains.get(tag);
  },
};
