/**
 * The random byte pool (src/crypto/random-pool.ts): lengths, including the pool's refill boundary
 * and requests too large for the pool; every output is a fresh, independent copy; no byte is handed
 * out twice across refills; the consumed part of the pool is zeroed.
 */
import crypto from 'node:crypto';
import {
  MAX_POOLED_RANDOM_BYTES,
  RANDOM_POOL_BYTES,
  consumedRandomPoolBytesForTesting,
  secureRandomBytes,
} from '../../../src/crypto/random-pool';

const consumed = () => consumedRandomPoolBytesForTesting().length;
const unused = () => RANDOM_POOL_BYTES - consumed();
const isZero = (b: Uint8Array) => b.every((x) => x === 0);

/** Draws until exactly `k` (at most MAX_POOLED_RANDOM_BYTES) bytes of the pool remain unused. */
function leaveUnused(k: number): void {
  if (unused() < k) secureRandomBytes(unused() + 1); // forces a refill
  for (let i = 0; unused() > k; i++) {
    if (i > RANDOM_POOL_BYTES) throw new Error('the pool does not advance');
    secureRandomBytes(Math.min(MAX_POOLED_RANDOM_BYTES, unused() - k));
  }
  expect(unused()).toBe(k);
}

afterEach(() => jest.restoreAllMocks());

describe('lengths', () => {
  test.each([0, 1, 12, 16, 32, 33, 64, MAX_POOLED_RANDOM_BYTES - 1, MAX_POOLED_RANDOM_BYTES])('%i bytes', (n) => {
    const b = secureRandomBytes(n);
    expect(Buffer.isBuffer(b)).toBe(true);
    expect(b).toHaveLength(n);
  });

  test('a request that exactly uses up the pool is served without a refill; the next one refills', () => {
    leaveUnused(32);
    expect(secureRandomBytes(32)).toHaveLength(32);
    expect(consumed()).toBe(RANDOM_POOL_BYTES);
    expect(secureRandomBytes(1)).toHaveLength(1);
    expect(consumed()).toBe(1);

    leaveUnused(MAX_POOLED_RANDOM_BYTES);
    expect(secureRandomBytes(MAX_POOLED_RANDOM_BYTES)).toHaveLength(MAX_POOLED_RANDOM_BYTES);
    expect(consumed()).toBe(RANDOM_POOL_BYTES);
  });

  test('a request one byte larger than what is left refills and starts at the front', () => {
    leaveUnused(31);
    expect(secureRandomBytes(32)).toHaveLength(32);
    expect(consumed()).toBe(32);
  });

  test('requests over the pooled maximum go straight to randomBytes and leave the pool alone', () => {
    secureRandomBytes(1);
    const before = consumed();
    const direct = jest.spyOn(crypto, 'randomBytes');
    for (const n of [MAX_POOLED_RANDOM_BYTES + 1, RANDOM_POOL_BYTES, RANDOM_POOL_BYTES + 1, 100_000]) {
      expect(secureRandomBytes(n)).toHaveLength(n);
    }
    expect(direct).toHaveBeenCalledTimes(4);
    expect(consumed()).toBe(before);
  });

  test('one randomFillSync call serves a whole pool of small requests', () => {
    leaveUnused(0);
    const fill = jest.spyOn(crypto, 'randomFillSync');
    const direct = jest.spyOn(crypto, 'randomBytes');
    for (let i = 0; i < RANDOM_POOL_BYTES / 32; i++) secureRandomBytes(32);
    expect(fill).toHaveBeenCalledTimes(1);
    expect(direct).not.toHaveBeenCalled();
    expect(consumed()).toBe(RANDOM_POOL_BYTES);
  });

  test.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('%p is a RangeError', (n) => {
    expect(() => secureRandomBytes(n)).toThrow(RangeError);
  });
});

describe('outputs', () => {
  test('consecutive outputs differ', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) seen.add(secureRandomBytes(32).toString('hex'));
    expect(seen.size).toBe(1000);
  });

  test('each output is an independent copy with its own memory, not a view of the pool', () => {
    const a = secureRandomBytes(32);
    const b = secureRandomBytes(32);
    const bCopy = Buffer.from(b);
    expect(a.buffer).not.toBe(b.buffer);
    expect(a.byteOffset).toBe(0);
    expect(a.buffer.byteLength).toBe(32);
    a.fill(0); // a caller wiping its key
    expect(b.equals(bCopy)).toBe(true);
    const c = secureRandomBytes(32);
    expect(isZero(c)).toBe(false);
    b.fill(0xff);
    expect(c.equals(secureRandomBytes(32))).toBe(false);
    expect(isZero(c)).toBe(false);
  });

  test('no 16-byte block repeats over many draws of mixed sizes across several refills', () => {
    const sizes = [1, 7, 12, 16, 17, 32, 48, 64, 100, 255, 256];
    const parts: Buffer[] = [];
    let total = 0;
    for (let i = 0; total < 4 * RANDOM_POOL_BYTES + 100; i++) {
      const b = secureRandomBytes(sizes[i % sizes.length]!);
      parts.push(b);
      total += b.length;
    }
    const stream = Buffer.concat(parts);
    const blocks = new Set<string>();
    // Every window, not only aligned blocks: a region served twice shows up wherever it lands.
    for (let i = 0; i + 16 <= stream.length; i++) blocks.add(stream.toString('hex', i, i + 16));
    expect(blocks.size).toBe(stream.length - 15);
  });
});

describe('pool hygiene', () => {
  test('the consumed part of the pool is zero after every draw, across refills', () => {
    leaveUnused(100);
    let expected = consumed();
    for (let i = 0; i < 2000; i++) {
      const n = 1 + (i % 64);
      const before = unused();
      const out = secureRandomBytes(n);
      expected = before < n ? n : expected + n;
      const region = consumedRandomPoolBytesForTesting();
      expect(region).toHaveLength(expected);
      if (!isZero(region)) throw new Error(`draw ${i}: consumed pool bytes are not zero`);
      // Copied out before the wipe (all zero by chance: 2^-32 at 4 bytes).
      if (n >= 4 && isZero(out)) throw new Error(`draw ${i}: output is all zero`);
    }
  });
});
