/**
 * Golden vectors of spec-vectors/ttlv/ (written by an independent encoder, generate.py), run in
 * both directions, plus the named error cases with their code and offset.
 */
import { decodeTtlv } from '../../ttlv/decode';
import { encodeTtlv } from '../../ttlv/encode';
import { TtlvError } from '../../ttlv/errors';
import { TtlvFramer } from '../../ttlv/framer';
import {
  bytesOf,
  fromJsonTree,
  hexOf,
  loadDecodeErrorVectors,
  loadEncodeErrorVectors,
  loadFramerErrorVectors,
  loadValidVectors,
  toJsonTree,
} from '../helpers/ttlv-vectors';

/** Runs `fn`, expecting a TtlvError; returns it (fails the test on anything else). */
function catchTtlv(fn: () => unknown): TtlvError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TtlvError) return e;
    throw new Error(`expected a TtlvError, got ${String(e)}`);
  }
  throw new Error('expected a TtlvError, nothing was thrown');
}

const valid = loadValidVectors();
const decodeErrors = loadDecodeErrorVectors();
const framerErrors = loadFramerErrorVectors();
const encodeErrors = loadEncodeErrorVectors();

describe('spec-vectors/ttlv/valid.json', () => {
  test('is not empty and names are unique', () => {
    expect(valid.length).toBeGreaterThan(50);
    expect(new Set(valid.map((v) => v.name)).size).toBe(valid.length);
  });

  test.each(valid.map((v) => [v.name, v] as const))('decode %s', (_name, v) => {
    const item = decodeTtlv(bytesOf(v.hex));
    expect(toJsonTree(item)).toEqual(v.tree);
    expect(item).toEqual(fromJsonTree(v.tree));
  });

  test.each(valid.map((v) => [v.name, v] as const))('encode %s', (_name, v) => {
    expect(hexOf(encodeTtlv(fromJsonTree(v.tree)))).toBe(v.hex);
  });
});

describe('spec-vectors/ttlv/decode-errors.json', () => {
  test('covers every decode error code', () => {
    const codes = new Set(decodeErrors.map((v) => v.code));
    for (const code of [
      'TTLV_TRUNCATED',
      'TTLV_TRAILING_BYTES',
      'TTLV_UNKNOWN_ITEM_TYPE',
      'TTLV_BAD_LENGTH',
      'TTLV_CHILD_OVERRUNS_PARENT',
      'TTLV_NON_ZERO_PADDING',
      'TTLV_BAD_BOOLEAN',
      'TTLV_BAD_UTF8',
      'TTLV_TOO_DEEP',
      'TTLV_TOO_LARGE',
      'TTLV_TOO_MANY_ITEMS',
      'TTLV_BAD_TAG',
    ]) {
      expect(codes).toContain(code);
    }
  });

  test.each(decodeErrors.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const e = catchTtlv(() => decodeTtlv(bytesOf(v.hex), v.limits));
    expect({ code: e.code, offset: e.offset }).toEqual({ code: v.code, offset: v.offset });
  });
});

describe('spec-vectors/ttlv/framer-errors.json', () => {
  test.each(framerErrors.map((v) => [v.name, v] as const))('%s (whole and byte by byte)', (_name, v) => {
    const bytes = bytesOf(v.hex);
    const whole = catchTtlv(() => new TtlvFramer({ maxMessageBytes: v.maxMessageBytes }).push(bytes));
    expect({ code: whole.code, offset: whole.offset }).toEqual({ code: v.code, offset: v.offset });
    const framer = new TtlvFramer({ maxMessageBytes: v.maxMessageBytes });
    const split = catchTtlv(() => {
      for (const b of bytes) framer.push(Uint8Array.of(b));
    });
    expect({ code: split.code, offset: split.offset }).toEqual({ code: v.code, offset: v.offset });
  });
});

describe('spec-vectors/ttlv/encode-errors.json', () => {
  test.each(encodeErrors.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const e = catchTtlv(() => encodeTtlv(fromJsonTree(v.tree)));
    expect({ code: e.code, offset: e.offset }).toEqual({ code: v.code, offset: v.offset });
  });
});
