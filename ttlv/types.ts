/**
 * The generic TTLV tree: numeric tags, typed values, no KMIP meaning.
 *
 * Every 64-bit or unbounded quantity (Long Integer, Big Integer, Date-Time, Date-Time Extended)
 * is a `bigint`, so no value is ever rounded through a double.
 */

/** TTLV item-type byte codes (identical in every KMIP version). */
export const ItemType = {
  Structure: 0x01,
  Integer: 0x02,
  LongInteger: 0x03,
  BigInteger: 0x04,
  Enumeration: 0x05,
  Boolean: 0x06,
  TextString: 0x07,
  ByteString: 0x08,
  DateTime: 0x09,
  Interval: 0x0a,
  DateTimeExtended: 0x0b,
} as const;

export type ItemTypeName = keyof typeof ItemType;
export type ItemTypeCode = (typeof ItemType)[ItemTypeName];

export interface TtlvStructure {
  readonly tag: number;
  readonly type: typeof ItemType.Structure;
  readonly value: TtlvItem[];
}
/** Signed 32-bit. */
export interface TtlvInteger {
  readonly tag: number;
  readonly type: typeof ItemType.Integer;
  readonly value: number;
}
/** Signed 64-bit. */
export interface TtlvLongInteger {
  readonly tag: number;
  readonly type: typeof ItemType.LongInteger;
  readonly value: bigint;
}
/** Signed, two's complement, any length (encoded as a multiple of 8 bytes). */
export interface TtlvBigInteger {
  readonly tag: number;
  readonly type: typeof ItemType.BigInteger;
  readonly value: bigint;
}
/** Unsigned 32-bit. */
export interface TtlvEnumeration {
  readonly tag: number;
  readonly type: typeof ItemType.Enumeration;
  readonly value: number;
}
export interface TtlvBoolean {
  readonly tag: number;
  readonly type: typeof ItemType.Boolean;
  readonly value: boolean;
}
export interface TtlvTextString {
  readonly tag: number;
  readonly type: typeof ItemType.TextString;
  readonly value: string;
}
export interface TtlvByteString {
  readonly tag: number;
  readonly type: typeof ItemType.ByteString;
  readonly value: Uint8Array;
}
/** Signed 64-bit POSIX seconds. */
export interface TtlvDateTime {
  readonly tag: number;
  readonly type: typeof ItemType.DateTime;
  readonly value: bigint;
}
/** Unsigned 32-bit seconds. */
export interface TtlvInterval {
  readonly tag: number;
  readonly type: typeof ItemType.Interval;
  readonly value: number;
}
/** Signed 64-bit POSIX microseconds (KMIP 2.0+). */
export interface TtlvDateTimeExtended {
  readonly tag: number;
  readonly type: typeof ItemType.DateTimeExtended;
  readonly value: bigint;
}

export type TtlvItem =
  | TtlvStructure
  | TtlvInteger
  | TtlvLongInteger
  | TtlvBigInteger
  | TtlvEnumeration
  | TtlvBoolean
  | TtlvTextString
  | TtlvByteString
  | TtlvDateTime
  | TtlvInterval
  | TtlvDateTimeExtended;

/** Bytes of tag + type + length before every value. */
export const HEADER_BYTES = 8;

/** Small constructors, so callers never spell out the discriminant by hand. */
export const ttlv = {
  structure: (tag: number, value: TtlvItem[]): TtlvStructure => ({ tag, type: ItemType.Structure, value }),
  integer: (tag: number, value: number): TtlvInteger => ({ tag, type: ItemType.Integer, value }),
  longInteger: (tag: number, value: bigint): TtlvLongInteger => ({ tag, type: ItemType.LongInteger, value }),
  bigInteger: (tag: number, value: bigint): TtlvBigInteger => ({ tag, type: ItemType.BigInteger, value }),
  enumeration: (tag: number, value: number): TtlvEnumeration => ({ tag, type: ItemType.Enumeration, value }),
  boolean: (tag: number, value: boolean): TtlvBoolean => ({ tag, type: ItemType.Boolean, value }),
  textString: (tag: number, value: string): TtlvTextString => ({ tag, type: ItemType.TextString, value }),
  byteString: (tag: number, value: Uint8Array): TtlvByteString => ({ tag, type: ItemType.ByteString, value }),
  dateTime: (tag: number, value: bigint): TtlvDateTime => ({ tag, type: ItemType.DateTime, value }),
  interval: (tag: number, value: number): TtlvInterval => ({ tag, type: ItemType.Interval, value }),
  dateTimeExtended: (tag: number, value: bigint): TtlvDateTimeExtended => ({
    tag,
    type: ItemType.DateTimeExtended,
    value,
  }),
} as const;

/**
 * What the text encodings (XML, JSON, the named dump) need to know about names. The codec has no
 * KMIP knowledge of its own: `src/spec/` supplies an implementation built from the spec tables.
 *
 * `context` lets a dictionary resolve values whose meaning depends on a sibling, as in KMIP 1.x
 * `Attribute Value`, whose enumeration or mask is named by the sibling `Attribute Name`.
 */
export interface TtlvNameContext {
  /** Text of the nearest preceding sibling Attribute Name, where the dictionary declared one. */
  readonly attributeName?: string;
}

export interface ValueDomain {
  /** 'enumeration': one named value; 'mask': an Integer whose bits have names. */
  readonly kind: 'enumeration' | 'mask';
  nameOf(value: number): string | undefined;
  valueOf(name: string): number | undefined;
}

export interface TtlvDictionary {
  /** Name used by the XML/JSON encodings ("ProtocolVersionMajor"). */
  tagName(tag: number): string | undefined;
  tagByName(name: string): number | undefined;
  /** The named values of an Enumeration or a mask Integer at this tag, in this context. */
  valueDomain(tag: number, context: TtlvNameContext): ValueDomain | undefined;
  /** Tag whose Text String value names the attribute that gives `context.attributeName`. */
  readonly attributeNameTag?: number;
}
