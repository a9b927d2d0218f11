/**
 * Split Key algorithms (src/crypto/secret-sharing.ts): the field arithmetic the spec defines, and
 * split/join round trips for XOR and polynomial sharing over GF(2^8), GF(2^16) and a prime field,
 * from every threshold-sized subset of shares; too few shares do not give the secret.
 */
import { checkPrimeSync, randomBytes } from 'node:crypto';
import { SplitKeyMethod } from '../../../src/spec/generated/enums';
import { KmipError } from '../../../src/kmip/errors';
import { checkSplitParams, gf16Inv, gf16Mul, gf8Inv, gf8Mul, joinSecret, splitSecret, type SplitParams } from '../../../src/crypto/secret-sharing';

function primeAbove(bits: number): bigint {
  let p = (1n << BigInt(bits)) + 1n;
  while (!checkPrimeSync(p)) p += 2n;
  return p;
}

function subsets<T>(items: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [head, ...rest] = items as [T, ...T[]];
  return [...subsets(rest, k - 1).map((s) => [head, ...s]), ...subsets(rest, k)];
}

describe('field arithmetic', () => {
  test('GF(2^8) is the AES field: FIPS 197 examples {57}·{83} = {c1}, {57}·{13} = {fe}', () => {
    expect(gf8Mul(0x57, 0x83)).toBe(0xc1);
    expect(gf8Mul(0x57, 0x13)).toBe(0xfe);
  });

  test('every non-zero element of GF(2^8) and GF(2^16) has the inverse the spec formula gives', () => {
    for (let a = 1; a < 256; a++) expect(gf8Mul(a, gf8Inv(a))).toBe(1);
    for (let a = 1; a < 65536; a++) if (gf16Mul(a, gf16Inv(a)) !== 1) throw new Error(`no inverse for ${a}`);
  });

  test('GF(2^16) multiplication is commutative and associative (spot checks), y·y = y + m', () => {
    const y = 0x0100;
    expect(gf16Mul(y, y)).toBe(0x0100 | 0x3a);
    for (let i = 0; i < 500; i++) {
      const r = randomBytes(6);
      const [a, b, c] = [r.readUInt16BE(0), r.readUInt16BE(2), r.readUInt16BE(4)];
      expect(gf16Mul(a, b)).toBe(gf16Mul(b, a));
      expect(gf16Mul(gf16Mul(a, b), c)).toBe(gf16Mul(a, gf16Mul(b, c)));
    }
  });
});

describe.each([
  ['Polynomial Sharing GF(2^8)', SplitKeyMethod.PolynomialSharingGF2_8],
  ['Polynomial Sharing GF(2^16)', SplitKeyMethod.PolynomialSharingGF2_16],
  ['Polynomial Sharing Prime Field', SplitKeyMethod.PolynomialSharingPrimeField],
])('%s', (_name, method) => {
  test.each([1, 16, 17, 32])('a %i-byte secret, 5 parts, threshold 3: every 3 parts rebuild it, 2 do not', (len) => {
    const secret = randomBytes(len);
    const p: SplitParams = { method, parts: 5, threshold: 3, ...(method === SplitKeyMethod.PolynomialSharingPrimeField ? { prime: primeAbove(len * 8) } : {}) };
    const shares = splitSecret(secret, p).map((value, i) => ({ x: i + 1, value }));
    expect(shares).toHaveLength(5);
    for (const s of shares) expect(s.value.length).toBeGreaterThanOrEqual(len);
    for (const subset of subsets(shares, 3)) expect(joinSecret(subset, p, len).equals(secret)).toBe(true);
    expect(() => joinSecret(shares.slice(0, 2), p, len)).toThrow(KmipError);
  });
});

describe('XOR', () => {
  test('all parts rebuild the secret; each part alone is random', () => {
    const secret = randomBytes(32);
    const p: SplitParams = { method: SplitKeyMethod.XOR, parts: 4, threshold: 4 };
    const shares = splitSecret(secret, p).map((value, i) => ({ x: i + 1, value }));
    expect(joinSecret(shares, p, 32).equals(secret)).toBe(true);
    for (const s of shares) expect(s.value.equals(secret)).toBe(false);
    expect(() => joinSecret(shares.slice(1), p, 32)).toThrow(/at least 4 parts/);
  });

  test('parts registered with a threshold below the part count: joined from every part, refused with fewer', () => {
    const secret = randomBytes(16);
    const made = splitSecret(secret, { method: SplitKeyMethod.XOR, parts: 3, threshold: 3 }).map((value, i) => ({ x: i + 1, value }));
    const registered: SplitParams = { method: SplitKeyMethod.XOR, parts: 3, threshold: 2 };
    expect(() => checkSplitParams(registered)).not.toThrow();
    expect(joinSecret(made, registered, 16).equals(secret)).toBe(true);
    expect(() => joinSecret(made.slice(0, 2), registered, 16)).toThrow(/all of its 3 parts; 2 given/);
  });

  test('the server makes XOR splits only where every part is needed', () => {
    expect(() => splitSecret(randomBytes(16), { method: SplitKeyMethod.XOR, parts: 3, threshold: 2 })).toThrow(/Threshold must equal/);
  });
});

describe('parameter rules', () => {
  test.each([
    [{ method: SplitKeyMethod.PolynomialSharingGF2_8, parts: 3, threshold: 4 }, /between 1 and Split Key Parts/],
    [{ method: SplitKeyMethod.PolynomialSharingGF2_8, parts: 1, threshold: 1 }, /at least 2/],
    [{ method: SplitKeyMethod.PolynomialSharingPrimeField, parts: 3, threshold: 2 }, /Prime Field Size/],
    [{ method: SplitKeyMethod.PolynomialSharingGF2_8, parts: 3, threshold: 2, prime: 7n }, /only used by/],
    [{ method: 0x7f, parts: 3, threshold: 2 }, /not supported/],
  ])('%o is refused', (p, message) => {
    expect(() => checkSplitParams(p as SplitParams)).toThrow(message);
  });

  test('the prime must be a prime above 2^L', () => {
    const secret = randomBytes(16);
    expect(() => splitSecret(secret, { method: SplitKeyMethod.PolynomialSharingPrimeField, parts: 3, threshold: 2, prime: (1n << 127n) - 1n })).toThrow(/greater than 2\^128/);
    expect(() => splitSecret(secret, { method: SplitKeyMethod.PolynomialSharingPrimeField, parts: 3, threshold: 2, prime: (1n << 130n) })).toThrow(/not a prime/);
  });

  test('repeated or out-of-range Key Part Identifiers are refused', () => {
    const p: SplitParams = { method: SplitKeyMethod.PolynomialSharingGF2_8, parts: 3, threshold: 2 };
    const shares = splitSecret(randomBytes(8), p);
    expect(() => joinSecret([{ x: 1, value: shares[0]! }, { x: 1, value: shares[0]! }], p, 8)).toThrow(/twice/);
    expect(() => joinSecret([{ x: 1, value: shares[0]! }, { x: 4, value: shares[1]! }], p, 8)).toThrow(/not between/);
  });
});
