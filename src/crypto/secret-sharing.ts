/**
 * Secret sharing for Split Keys (KMIP "Split Key Algorithms"): XOR, and Shamir's polynomial
 * sharing over GF(2^8), GF(2^16) or a prime field. A share is evaluated at x = its Key Part
 * Identifier (1..parts); the secret is the polynomial's value at 0, recovered by Lagrange
 * interpolation from any `threshold` shares.
 *
 * - GF(2^8): the AES field (FIPS 197, x^8+x^4+x^3+x+1), applied byte by byte; a share is as long as
 *   the secret.
 * - GF(2^16): GF(2^8)[y]/(y^2+y+m) with m = {3A}, as the spec defines it; an element uy+v is the
 *   byte pair (u, v). The secret is shared in 16-bit pieces; an odd last byte is the piece (0, b),
 *   so a share is the secret's length rounded up to even, and joining trims to the known length.
 * - Prime field: the secret as one big-endian integer below the prime (Prime Field Size, which must
 *   be a prime greater than 2^L for an L-bit secret); a share is its value as big-endian bytes of
 *   the prime's length.
 * - XOR: parts random, the last one the secret XOR all others; every part is needed.
 *
 * Randomness: every coefficient comes from secureRandomBytes (OpenSSL's DRBG). Intermediate
 * buffers that hold secret bytes or coefficients are zeroed before return.
 */
import { checkPrimeSync } from 'node:crypto';
import { SplitKeyMethod } from '../spec/generated/enums';
import { KmipError, Reason } from '../kmip/errors';
import { secureRandomBytes } from './random-pool';

// -------------------------------------------------------------------------------------------------
// GF(2^8)

const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
(() => {
  // 3 generates the multiplicative group of the AES field.
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    let x3 = x ^ (x << 1);
    if (x & 0x80) x3 ^= 0x11b;
    x = x3 & 0xff;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255] as number;
})();

export function gf8Mul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP[(LOG[a] as number) + (LOG[b] as number)] as number;
}

export function gf8Inv(a: number): number {
  if (a === 0) throw new RangeError('0 has no inverse');
  return EXP[255 - (LOG[a] as number)] as number;
}

// -------------------------------------------------------------------------------------------------
// GF(2^16) = GF(2^8)[y]/(y^2 + y + m): element uy + v held as (u << 8) | v

const M = 0x3a;

export function gf16Mul(a: number, b: number): number {
  const r = a >> 8;
  const s = a & 0xff;
  const u = b >> 8;
  const v = b & 0xff;
  // (ry + s)(uy + v) = ru y^2 + (rv + su) y + sv, and y^2 = y + m.
  const ru = gf8Mul(r, u);
  const hi = ru ^ gf8Mul(r, v) ^ gf8Mul(s, u);
  const lo = gf8Mul(ru, M) ^ gf8Mul(s, v);
  return (hi << 8) | lo;
}

export function gf16Inv(a: number): number {
  if (a === 0) throw new RangeError('0 has no inverse');
  const u = a >> 8;
  const v = a & 0xff;
  // (uy + v)^-1 = u d^-1 y + (u + v) d^-1, d = (u + v) v + m u^2
  const d = gf8Mul(u ^ v, v) ^ gf8Mul(M, gf8Mul(u, u));
  const di = gf8Inv(d);
  return (gf8Mul(u, di) << 8) | gf8Mul(u ^ v, di);
}

// -------------------------------------------------------------------------------------------------
// A field for Shamir sharing over small elements (GF(2^8), GF(2^16))

interface SmallField {
  readonly bytes: 1 | 2;
  mul(a: number, b: number): number;
  inv(a: number): number;
  /** Largest usable x (Key Part Identifier). */
  readonly maxX: number;
}

const GF8: SmallField = { bytes: 1, mul: gf8Mul, inv: gf8Inv, maxX: 255 };
const GF16: SmallField = { bytes: 2, mul: gf16Mul, inv: gf16Inv, maxX: 65535 };

/** Secret bytes as field elements (pairs for GF(2^16), an odd last byte as (0, b)). */
function toElements(f: SmallField, secret: Uint8Array): number[] {
  const out: number[] = [];
  if (f.bytes === 1) {
    for (const b of secret) out.push(b);
    return out;
  }
  for (let i = 0; i < secret.length; i += 2) {
    out.push(i + 1 < secret.length ? ((secret[i] as number) << 8) | (secret[i + 1] as number) : (secret[i] as number));
  }
  return out;
}

function fromElements(f: SmallField, elements: readonly number[], length: number): Buffer {
  const out = Buffer.alloc(length);
  if (f.bytes === 1) {
    elements.forEach((e, i) => (out[i] = e));
    return out;
  }
  elements.forEach((e, k) => {
    const i = 2 * k;
    if (i + 1 < length) {
      out[i] = e >> 8;
      out[i + 1] = e & 0xff;
    } else {
      // An odd last byte: the piece must be (0, b) for the shares to be genuine.
      if (e >> 8 !== 0) throw new KmipError(Reason.CryptographicFailure, 'the split key parts do not combine to a key of this length');
      out[i] = e & 0xff;
    }
  });
  return out;
}

function shareBytes(f: SmallField, values: readonly number[]): Buffer {
  const out = Buffer.alloc(values.length * f.bytes);
  values.forEach((v, i) => {
    if (f.bytes === 1) out[i] = v;
    else out.writeUInt16BE(v, 2 * i);
  });
  return out;
}

function shareElements(f: SmallField, share: Uint8Array): number[] {
  if (share.length % f.bytes !== 0) throw new KmipError(Reason.InvalidField, 'a split key part has the wrong length for its Split Key Method');
  const out: number[] = [];
  for (let i = 0; i < share.length; i += f.bytes) out.push(f.bytes === 1 ? (share[i] as number) : Buffer.from(share.subarray(i, i + 2)).readUInt16BE(0));
  return out;
}

function randomElement(f: SmallField): number {
  const r = secureRandomBytes(f.bytes);
  const v = f.bytes === 1 ? (r[0] as number) : r.readUInt16BE(0);
  r.fill(0);
  return v;
}

function splitSmall(f: SmallField, secret: Uint8Array, parts: number, threshold: number): Buffer[] {
  if (parts > f.maxX) throw new KmipError(Reason.InvalidField, `this Split Key Method allows at most ${f.maxX} parts`);
  const elements = toElements(f, secret);
  const shares: number[][] = Array.from({ length: parts }, () => []);
  const coeff: number[] = new Array<number>(threshold).fill(0);
  for (const s of elements) {
    coeff[0] = s;
    for (let k = 1; k < threshold; k++) coeff[k] = randomElement(f);
    for (let i = 0; i < parts; i++) {
      // Horner at x = i + 1.
      const x = i + 1;
      let y = 0;
      for (let k = threshold - 1; k >= 0; k--) y = f.mul(y, x) ^ (coeff[k] as number);
      (shares[i] as number[]).push(y);
    }
  }
  coeff.fill(0);
  elements.fill(0);
  const out = shares.map((v) => shareBytes(f, v));
  for (const v of shares) v.fill(0);
  return out;
}

function joinSmall(f: SmallField, shares: readonly Share[], length: number): Buffer {
  const xs = shares.map((s) => s.x);
  for (const x of xs) if (x < 1 || x > f.maxX) throw new KmipError(Reason.InvalidField, `Key Part Identifier ${x} is out of range for this Split Key Method`);
  // Lagrange basis at 0: l_j = prod_{m != j} x_m / (x_m - x_j); subtraction is XOR.
  const basis = xs.map((xj, j) => {
    let num = 1;
    let den = 1;
    xs.forEach((xm, m) => {
      if (m === j) return;
      num = f.mul(num, xm);
      den = f.mul(den, xm ^ xj);
    });
    return f.mul(num, f.inv(den));
  });
  const columns = shares.map((s) => shareElements(f, s.value));
  const n = columns[0]?.length ?? 0;
  if (columns.some((c) => c.length !== n)) throw new KmipError(Reason.InvalidField, 'the split key parts differ in length');
  const secret: number[] = [];
  for (let i = 0; i < n; i++) {
    let acc = 0;
    columns.forEach((c, j) => (acc ^= f.mul(c[i] as number, basis[j] as number)));
    secret.push(acc);
  }
  for (const c of columns) c.fill(0);
  if (n !== Math.ceil(length / f.bytes)) throw new KmipError(Reason.InvalidField, 'the split key parts do not match the key length');
  const out = fromElements(f, secret, length);
  secret.fill(0);
  return out;
}

// -------------------------------------------------------------------------------------------------
// Prime field

function toBig(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString('hex')}`);
}

function toBytes(n: bigint, length: number): Buffer {
  const hex = n.toString(16).padStart(length * 2, '0');
  if (hex.length > length * 2) throw new KmipError(Reason.CryptographicFailure, 'a value does not fit its length');
  return Buffer.from(hex, 'hex');
}

function byteLength(n: bigint): number {
  return Math.ceil(n.toString(16).length / 2);
}

function mod(a: bigint, p: bigint): bigint {
  const r = a % p;
  return r < 0n ? r + p : r;
}

function modInv(a: bigint, p: bigint): bigint {
  // p is prime: a^(p-2) mod p.
  let result = 1n;
  let base = mod(a, p);
  let e = p - 2n;
  while (e > 0n) {
    if (e & 1n) result = (result * base) % p;
    base = (base * base) % p;
    e >>= 1n;
  }
  return result;
}

function randomBelow(p: bigint): bigint {
  // 64 extra bits make the modulo bias negligible.
  const r = secureRandomBytes(byteLength(p) + 8);
  const v = toBig(r) % p;
  r.fill(0);
  return v;
}

/** The Prime Field Size is a prime above 2^L for an L-bit secret (L from the secret's length). */
function checkPrimeField(prime: bigint, secretBytes: number): void {
  if (prime <= 2n || !checkPrimeSync(prime)) throw new KmipError(Reason.InvalidField, 'the Prime Field Size is not a prime');
  if (prime <= 1n << BigInt(secretBytes * 8)) {
    throw new KmipError(Reason.InvalidField, `the Prime Field Size must be greater than 2^${secretBytes * 8} for a ${secretBytes * 8}-bit secret`);
  }
}

function splitPrime(secret: Uint8Array, parts: number, threshold: number, prime: bigint): Buffer[] {
  checkPrimeField(prime, secret.length);
  const len = byteLength(prime);
  const coeff: bigint[] = [toBig(secret)];
  for (let k = 1; k < threshold; k++) coeff.push(randomBelow(prime));
  const out: Buffer[] = [];
  for (let i = 1; i <= parts; i++) {
    const x = BigInt(i);
    let y = 0n;
    for (let k = threshold - 1; k >= 0; k--) y = (y * x + (coeff[k] as bigint)) % prime;
    out.push(toBytes(y, len));
  }
  // BigInts cannot be wiped; dropping the references is all that can be done.
  coeff.length = 0;
  return out;
}

function joinPrime(shares: readonly Share[], prime: bigint, length: number): Buffer {
  if (prime <= 2n || !checkPrimeSync(prime)) throw new KmipError(Reason.InvalidField, 'the Prime Field Size is not a prime');
  let secret = 0n;
  shares.forEach((sj, j) => {
    const xj = BigInt(sj.x);
    let num = 1n;
    let den = 1n;
    shares.forEach((sm, m) => {
      if (m === j) return;
      const xm = BigInt(sm.x);
      num = (num * xm) % prime;
      den = mod(den * (xm - xj), prime);
    });
    const yj = toBig(sj.value);
    if (yj >= prime) throw new KmipError(Reason.InvalidField, 'a split key part is not an element of the prime field');
    secret = mod(secret + yj * num * modInv(den, prime), prime);
  });
  if (secret >= 1n << BigInt(length * 8)) throw new KmipError(Reason.CryptographicFailure, 'the split key parts do not combine to a key of this length');
  return toBytes(secret, length);
}

// -------------------------------------------------------------------------------------------------
// XOR

function splitXor(secret: Uint8Array, parts: number): Buffer[] {
  const out: Buffer[] = [];
  const last = Buffer.from(secret);
  for (let i = 1; i < parts; i++) {
    const r = secureRandomBytes(secret.length);
    for (let k = 0; k < last.length; k++) last[k] = (last[k] as number) ^ (r[k] as number);
    out.push(r);
  }
  out.push(last);
  return out;
}

function joinXor(shares: readonly Share[], length: number): Buffer {
  const out = Buffer.alloc(length);
  for (const s of shares) {
    if (s.value.length !== length) throw new KmipError(Reason.InvalidField, 'the split key parts do not match the key length');
    for (let k = 0; k < length; k++) out[k] = (out[k] as number) ^ (s.value[k] as number);
  }
  return out;
}

// -------------------------------------------------------------------------------------------------
// API

export interface SplitParams {
  readonly method: number;
  readonly parts: number;
  readonly threshold: number;
  /** Polynomial Sharing Prime Field only. */
  readonly prime?: bigint;
}

export interface Share {
  /** Key Part Identifier. */
  readonly x: number;
  readonly value: Uint8Array;
}

/** Upper bound on Split Key Parts (each part is a stored object). */
const MAX_PARTS = 64;

const SUPPORTED_METHODS: readonly number[] = [
  SplitKeyMethod.XOR,
  SplitKeyMethod.PolynomialSharingGF2_8,
  SplitKeyMethod.PolynomialSharingGF2_16,
  SplitKeyMethod.PolynomialSharingPrimeField,
];

/** Structural rules shared by Create Split Key and Join Split Key. */
export function checkSplitParams(p: SplitParams): void {
  if (!SUPPORTED_METHODS.includes(p.method)) throw new KmipError(Reason.InvalidField, 'this Split Key Method is not supported');
  if (!Number.isInteger(p.parts) || p.parts < 2) throw new KmipError(Reason.InvalidField, 'Split Key Parts must be at least 2');
  if (!Number.isInteger(p.threshold) || p.threshold < 1 || p.threshold > p.parts) {
    throw new KmipError(Reason.InvalidField, 'Split Key Threshold must be between 1 and Split Key Parts');
  }
  if (p.method === SplitKeyMethod.PolynomialSharingPrimeField && p.prime === undefined) {
    throw new KmipError(Reason.InvalidField, 'Polynomial Sharing Prime Field needs the Prime Field Size');
  }
  if (p.method !== SplitKeyMethod.PolynomialSharingPrimeField && p.prime !== undefined) {
    throw new KmipError(Reason.InvalidField, 'Prime Field Size is only used by Polynomial Sharing Prime Field');
  }
  if (p.method === SplitKeyMethod.PolynomialSharingGF2_8 && p.parts > GF8.maxX) {
    throw new KmipError(Reason.InvalidField, `Polynomial Sharing GF(2^8) allows at most ${GF8.maxX} parts`);
  }
  // Each part becomes a managed object; this bounds one request's writes.
  if (p.parts > MAX_PARTS) throw new KmipError(Reason.ServerLimitExceeded, `at most ${MAX_PARTS} parts per split key`);
}

/** The shares of `secret`, in Key Part Identifier order (1..parts). */
export function splitSecret(secret: Uint8Array, p: SplitParams): Buffer[] {
  checkSplitParams(p);
  // Registered XOR parts may state a smaller threshold (clients do; Join then needs every part),
  // but a split this server makes says what it is: every XOR part is needed.
  if (p.method === SplitKeyMethod.XOR && p.threshold !== p.parts) {
    throw new KmipError(Reason.InvalidField, 'with XOR splitting every part is needed: Split Key Threshold must equal Split Key Parts');
  }
  if (secret.length === 0) throw new KmipError(Reason.InvalidField, 'an empty secret cannot be split');
  switch (p.method) {
    case SplitKeyMethod.XOR:
      return splitXor(secret, p.parts);
    case SplitKeyMethod.PolynomialSharingGF2_8:
      return splitSmall(GF8, secret, p.parts, p.threshold);
    case SplitKeyMethod.PolynomialSharingGF2_16:
      return splitSmall(GF16, secret, p.parts, p.threshold);
    default:
      return splitPrime(secret, p.parts, p.threshold, p.prime as bigint);
  }
}

/**
 * The secret of `length` bytes from at least `threshold` shares with distinct identifiers (XOR:
 * all of them). Only the first `threshold` shares are used for polynomial methods.
 */
export function joinSecret(shares: readonly Share[], p: SplitParams, length: number): Buffer {
  checkSplitParams(p);
  const ids = new Set(shares.map((s) => s.x));
  if (ids.size !== shares.length) throw new KmipError(Reason.InvalidField, 'the same Key Part Identifier is given twice');
  for (const s of shares) {
    if (!Number.isInteger(s.x) || s.x < 1 || s.x > p.parts) throw new KmipError(Reason.InvalidField, `Key Part Identifier ${s.x} is not between 1 and Split Key Parts`);
  }
  if (shares.length < p.threshold) {
    throw new KmipError(Reason.CryptographicFailure, `at least ${p.threshold} parts are needed to join this split key; ${shares.length} given`);
  }
  // XOR has no threshold scheme: whatever Split Key Threshold a client registered, the secret is the XOR of every part.
  if (p.method === SplitKeyMethod.XOR && shares.length !== p.parts) {
    throw new KmipError(Reason.CryptographicFailure, `an XOR split key is joined from all of its ${p.parts} parts; ${shares.length} given`);
  }
  const used = shares.slice(0, p.threshold);
  switch (p.method) {
    case SplitKeyMethod.XOR:
      return joinXor(shares, length);
    case SplitKeyMethod.PolynomialSharingGF2_8:
      return joinSmall(GF8, used, length);
    case SplitKeyMethod.PolynomialSharingGF2_16:
      return joinSmall(GF16, used, length);
    default:
      return joinPrime(used, p.prime as bigint, length);
  }
}
