/**
 * Properties of the binary TTLV codec over random trees and hostile bytes. Runs are bounded
 * (a few hundred cases each) so the file stays well under the suite's time budget.
 */
import fc from 'fast-check';
import { decodeTtlv, type DecodeLimits } from '../../ttlv/decode';
import { encodeTtlv, encodedSize } from '../../ttlv/encode';
import { TtlvError, TtlvErrorCode } from '../../ttlv/errors';
import { TtlvFramer } from '../../ttlv/framer';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';

const RUNS = { numRuns: 300 };

const tagArb = fc.oneof(fc.integer({ min: 0x420000, max: 0x42ffff }), fc.integer({ min: 0x540000, max: 0x54ffff }));
const int64Arb = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const bigArb = fc.oneof(
  fc.constantFrom(0n, -1n, 127n, 128n, -128n, -129n, 2n ** 63n, -(2n ** 63n) - 1n, 2n ** 64n, -(2n ** 64n)),
  int64Arb,
  fc.bigInt({ min: -(2n ** 600n), max: 2n ** 600n }),
);
const uint32Arb = fc.integer({ min: 0, max: 0xffffffff });

const leafArb: fc.Arbitrary<TtlvItem> = fc.oneof(
  fc.tuple(tagArb, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })).map(([t, v]) => ttlv.integer(t, v)),
  fc.tuple(tagArb, int64Arb).map(([t, v]) => ttlv.longInteger(t, v)),
  fc.tuple(tagArb, bigArb).map(([t, v]) => ttlv.bigInteger(t, v)),
  fc.tuple(tagArb, uint32Arb).map(([t, v]) => ttlv.enumeration(t, v)),
  fc.tuple(tagArb, fc.boolean()).map(([t, v]) => ttlv.boolean(t, v)),
  fc.tuple(tagArb, fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }))).map(([t, v]) =>
    ttlv.textString(t, v),
  ),
  fc.tuple(tagArb, fc.uint8Array({ maxLength: 40 })).map(([t, v]) => ttlv.byteString(t, v)),
  fc.tuple(tagArb, int64Arb).map(([t, v]) => ttlv.dateTime(t, v)),
  fc.tuple(tagArb, uint32Arb).map(([t, v]) => ttlv.interval(t, v)),
  fc.tuple(tagArb, int64Arb).map(([t, v]) => ttlv.dateTimeExtended(t, v)),
);

const { item: itemArb, structure: structureArb } = fc.letrec<{ item: TtlvItem; structure: TtlvStructure }>((tie) => ({
  item: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leafArb, tie('structure')),
  structure: fc
    .tuple(tagArb, fc.array(tie('item'), { maxLength: 6 }))
    .map(([t, children]) => ttlv.structure(t, children)),
}));

/** Structures on the deepest path (top counts 1), and the number of items. */
function shape(item: TtlvItem): { depth: number; items: number } {
  if (item.type !== ItemType.Structure) return { depth: 0, items: 1 };
  let depth = 0;
  let items = 1;
  for (const c of item.value) {
    const s = shape(c);
    depth = Math.max(depth, s.depth);
    items += s.items;
  }
  return { depth: depth + 1, items };
}

/** Decodes, returning the tree or the TtlvError; any other exception fails the property. */
function tryDecode(bytes: Uint8Array, limits?: Partial<DecodeLimits>): TtlvItem | TtlvError {
  try {
    return decodeTtlv(bytes, limits);
  } catch (e) {
    if (e instanceof TtlvError) return e;
    throw new Error(`decodeTtlv threw a non-TtlvError: ${String(e)}`);
  }
}

describe('round trip', () => {
  test('decode(encode(tree)) equals the tree, and the size is exact', () => {
    fc.assert(
      fc.property(itemArb, (tree) => {
        const bytes = encodeTtlv(tree);
        expect(bytes.length).toBe(encodedSize(tree));
        expect(bytes.length % 8).toBe(0);
        expect(decodeTtlv(bytes)).toEqual(tree);
      }),
      RUNS,
    );
  });

  test('encode(decode(bytes)) gives the same bytes back', () => {
    fc.assert(
      fc.property(itemArb, (tree) => {
        const bytes = encodeTtlv(tree);
        expect(Buffer.compare(encodeTtlv(decodeTtlv(bytes)), bytes)).toBe(0);
      }),
      RUNS,
    );
  });
});

describe('hostile input only ever raises TtlvError', () => {
  test('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        tryDecode(bytes);
      }),
      { numRuns: 1000 },
    );
  });

  test('random bytes behind a plausible header (so the body gets parsed)', () => {
    const headerArb = fc.tuple(fc.constantFrom(0x42, 0x54), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 13 }));
    fc.assert(
      fc.property(fc.array(fc.tuple(headerArb, fc.uint8Array({ maxLength: 24 })), { maxLength: 12 }), (parts) => {
        const chunks = parts.map(([[t0, t12, type], body]) => {
          const h = Buffer.alloc(8);
          h[0] = t0;
          h.writeUInt16BE(t12, 1);
          h[3] = type;
          h.writeUInt32BE(body.length, 4);
          return Buffer.concat([h, body]);
        });
        const all = Buffer.concat(chunks);
        // As a flat item list, and wrapped in a Structure claiming exactly that content.
        tryDecode(all);
        const wrap = Buffer.alloc(8);
        wrap.writeUIntBE(0x420078, 0, 3);
        wrap[3] = ItemType.Structure;
        wrap.writeUInt32BE(all.length, 4);
        tryDecode(Buffer.concat([wrap, all]));
      }),
      { numRuns: 1000 },
    );
  });

  type Mutation =
    | { kind: 'flip'; at: number; bit: number }
    | { kind: 'truncate'; at: number }
    | { kind: 'length'; at: number; value: number }
    | { kind: 'byte'; at: number; value: number }
    | { kind: 'insert'; at: number; bytes: Uint8Array };

  const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant('length' as const),
      at: fc.nat(),
      value: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom(0x7ffffff8, 0x80000000, 0xfffffff8, 0xffffffff), uint32Arb),
    }),
    fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  );

  function mutate(input: Buffer, m: Mutation): Buffer {
    if (input.length === 0) return input;
    const b = Buffer.from(input);
    const at = m.at % b.length;
    switch (m.kind) {
      case 'flip':
        b[at]! ^= 1 << m.bit;
        return b;
      case 'truncate':
        return b.subarray(0, at);
      case 'length': {
        // Item headers start on 8-byte boundaries; rewrite the length field of one of them.
        const h = at & ~7;
        if (h + 8 <= b.length) b.writeUInt32BE(m.value, h + 4);
        return b;
      }
      case 'byte':
        b[at] = m.value;
        return b;
      case 'insert':
        return Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    }
  }

  test('mutated valid messages: TtlvError, or a tree that re-encodes stably', () => {
    fc.assert(
      fc.property(structureArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (tree, mutations) => {
        let bytes = encodeTtlv(tree);
        for (const m of mutations) bytes = mutate(bytes, m);
        const r = tryDecode(bytes);
        if (!(r instanceof TtlvError)) {
          // Accepted input is well-formed: it re-encodes to bytes that decode to the same tree.
          expect(decodeTtlv(encodeTtlv(r))).toEqual(r);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('limits', () => {
  test('a hostile length never causes a large allocation or a slow decode', () => {
    const before = process.memoryUsage().arrayBuffers;
    const started = process.hrtime.bigint();
    fc.assert(
      fc.property(
        tagArb,
        fc.integer({ min: 1, max: 11 }),
        fc.integer({ min: 2 ** 20, max: 0xffffffff }),
        fc.uint8Array({ minLength: 8, maxLength: 8 }),
        (tag, type, len, body) => {
          const b = Buffer.alloc(16);
          b.writeUIntBE(tag, 0, 3);
          b[3] = type;
          b.writeUInt32BE(len, 4);
          b.set(body, 8);
          const r = tryDecode(b);
          expect(r).toBeInstanceOf(TtlvError);
          expect([TtlvErrorCode.Truncated, TtlvErrorCode.BadLength]).toContain((r as TtlvError).code);
        },
      ),
      { numRuns: 500 },
    );
    // Generous bounds: the point is "no 2 GiB buffer, no multi-second work", not a benchmark.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 * 1024 * 1024);
    expect(Number(process.hrtime.bigint() - started) / 1e9).toBeLessThan(30);
  });

  test('a tree decodes under limits exactly when its size, depth and item count fit them', () => {
    fc.assert(
      fc.property(
        structureArb,
        fc.record({ maxDepth: fc.integer({ min: 0, max: 6 }), maxItems: fc.integer({ min: 1, max: 30 }), maxMessageBytes: fc.integer({ min: 8, max: 600 }) }),
        (tree, limits) => {
          const bytes = encodeTtlv(tree);
          const { depth, items } = shape(tree);
          const fits = bytes.length <= limits.maxMessageBytes && depth <= limits.maxDepth && items <= limits.maxItems;
          const r = tryDecode(bytes, limits);
          if (fits) {
            expect(r).toEqual(tree);
          } else {
            expect(r).toBeInstanceOf(TtlvError);
            expect([TtlvErrorCode.TooLarge, TtlvErrorCode.TooDeep, TtlvErrorCode.TooManyItems]).toContain((r as TtlvError).code);
          }
        },
      ),
      RUNS,
    );
  });
});

describe('framer', () => {
  test('random splits of a concatenation of random messages give the messages back', () => {
    fc.assert(
      fc.property(
        fc.array(structureArb, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (trees, rawCuts) => {
          const messages = trees.map((t) => encodeTtlv(t));
          const stream = Buffer.concat(messages);
          const cuts = [...new Set(rawCuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
          const framer = new TtlvFramer({ maxMessageBytes: 1 << 20 });
          const frames: Uint8Array[] = [];
          let prev = 0;
          for (const cut of [...cuts, stream.length]) {
            frames.push(...framer.push(stream.subarray(prev, cut)));
            prev = cut;
          }
          expect(frames.map((f) => Buffer.from(f).toString('hex'))).toEqual(messages.map((m) => m.toString('hex')));
          expect(framer.bufferedBytes).toBe(0);
        },
      ),
      RUNS,
    );
  });

  test('random bytes only ever raise TtlvError, in any split', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, rawCuts) => {
        const cuts = [...new Set(rawCuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const framer = new TtlvFramer({ maxMessageBytes: 128 });
        let prev = 0;
        try {
          for (const cut of [...cuts, bytes.length]) {
            for (const f of framer.push(bytes.subarray(prev, cut))) expect(f.length).toBeLessThanOrEqual(128);
            prev = cut;
          }
        } catch (e) {
          expect(e).toBeInstanceOf(TtlvError);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
