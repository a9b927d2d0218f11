/** Mutated copies of a valid input (bit flips, truncation, extension, overwrites, random bytes) for parser property tests. */
import fc from 'fast-check';

export function mutatedBytes(seed: Buffer, randomMaxLength: number): fc.Arbitrary<Buffer> {
  const flip = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })).map(([at, bit]) => {
    const b = Buffer.from(seed);
    b[at % b.length]! ^= 1 << bit;
    return b;
  });
  const truncate = fc.nat().map((n) => seed.subarray(0, n % seed.length));
  const extend = fc.uint8Array({ minLength: 1, maxLength: 8 }).map((tail) => Buffer.concat([seed, tail]));
  const overwrite = fc.tuple(fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([at, bytes]) => {
    const b = Buffer.from(seed);
    b.set(bytes.subarray(0, Math.max(0, b.length - (at % b.length))), at % b.length);
    return b;
  });
  return fc.oneof(flip, truncate, extend, overwrite, fc.uint8Array({ maxLength: randomMaxLength }).map((a) => Buffer.from(a)));
}
