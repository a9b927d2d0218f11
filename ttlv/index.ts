/** Public API of the TTLV codec: bytes <-> generic tree, framing, dumps. No KMIP semantics. */
export * from './types';
export * from './errors';
export {
  decodeTtlv,
  resolveDecodeLimits,
  isValidTag,
  DEFAULT_DECODE_LIMITS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_MAX_DEPTH,
  DEFAULT_MAX_ITEMS,
  HARD_MAX_DEPTH,
  type DecodeLimits,
} from './decode';
export { encodeTtlv, encodedSize, ENCODE_MAX_DEPTH } from './encode';
export { TtlvFramer, type TtlvFramerOptions } from './framer';
export { hexDump, formatTree, type HexDumpOptions, type FormatTreeOptions } from './format';
// Text encodings (KMIP XML and JSON profiles). xml.ts has its own DEFAULT_MAX_DEPTH (for text
// nesting); the explicit export above keeps the binary decoder's under that name here.
export * from './xml';
export * from './json';
