/**
 * The only error the codec throws. `code` is stable (tests, logs and the server's error mapper key
 * on it); `offset` is the byte (binary) or character (text encodings) where the problem was found.
 */
export const TtlvErrorCode = {
  /** Input ends before the item it announces. */
  Truncated: 'TTLV_TRUNCATED',
  /** Bytes remain after the top-level item. */
  TrailingBytes: 'TTLV_TRAILING_BYTES',
  /** Item type byte is not one of 0x01..0x0B. */
  UnknownItemType: 'TTLV_UNKNOWN_ITEM_TYPE',
  /** Declared length is wrong for the item type (Integer must be 4, Boolean 8, ...). */
  BadLength: 'TTLV_BAD_LENGTH',
  /** A child's declared extent goes past the end of its parent structure. */
  ChildOverrunsParent: 'TTLV_CHILD_OVERRUNS_PARENT',
  /** Alignment padding bytes are not zero. */
  NonZeroPadding: 'TTLV_NON_ZERO_PADDING',
  /** Boolean value other than 0 or 1. */
  BadBoolean: 'TTLV_BAD_BOOLEAN',
  /** Text String is not valid UTF-8. */
  BadUtf8: 'TTLV_BAD_UTF8',
  /** Structures nested deeper than the limit. */
  TooDeep: 'TTLV_TOO_DEEP',
  /** Message larger than the configured maximum. */
  TooLarge: 'TTLV_TOO_LARGE',
  /** More items than the configured maximum. */
  TooManyItems: 'TTLV_TOO_MANY_ITEMS',
  /** Tag outside 0x420000..0x42FFFF (standard) and 0x540000..0x54FFFF (extensions). */
  BadTag: 'TTLV_BAD_TAG',
  /** A value cannot be represented in its item type (encode side, or text encodings). */
  BadValue: 'TTLV_BAD_VALUE',
  /** Message does not start with a Structure (framer). */
  NotAStructure: 'TTLV_NOT_A_STRUCTURE',
  /** Text encoding (XML/JSON) is malformed. */
  BadSyntax: 'TTLV_BAD_SYNTAX',
  /** Text encoding names a tag, type or enumeration value the dictionary does not know. */
  UnknownName: 'TTLV_UNKNOWN_NAME',
  /** A decode limit passed by the caller is out of range (configuration error, not input). */
  BadLimits: 'TTLV_BAD_LIMITS',
} as const;

export type TtlvErrorCode = (typeof TtlvErrorCode)[keyof typeof TtlvErrorCode];

export class TtlvError extends Error {
  override readonly name = 'TtlvError';
  constructor(
    readonly code: TtlvErrorCode,
    readonly offset: number,
    message: string,
  ) {
    super(`${code} at ${offset}: ${message}`);
  }
}
