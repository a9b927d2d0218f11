/**
 * Random bytes for the request path (key material, IVs, nonces, seeds), served from a pool.
 *
 * Why: under OpenSSL 3 every crypto.randomBytes call pays a fixed per-call cost (several µs, more
 * under load) that does not depend on the length, so a 4-8 KiB randomFillSync costs about the same
 * as one 32-byte randomBytes. Small requests are therefore cut from a pool filled in one call;
 * requests over MAX_POOLED_RANDOM_BYTES gain nothing from it and go to randomBytes directly.
 *
 * Why it is safe: the bytes are the same CSPRNG output (OpenSSL's DRBG) randomBytes would give.
 * Each pool byte is handed out at most once: the read position only moves forward, and a refill
 * overwrites the whole pool. Every caller gets its own copy in a fresh Buffer (never a view of the
 * pool, so wiping it is safe), and the consumed region of the pool is zeroed at once, so the pool
 * holds no byte that has been handed out. The pool is module state: cluster workers and
 * child_process.fork children are new processes that fill their own (Node never fork()s a copy of
 * a running heap), and each worker thread loads its own copy of this module.
 */
import { randomBytes, randomFillSync } from 'node:crypto';

/** Bytes fetched per refill. */
export const RANDOM_POOL_BYTES = 8192;

/** The largest request served from the pool; larger ones call randomBytes directly. */
export const MAX_POOLED_RANDOM_BYTES = 256;

const pool = Buffer.alloc(RANDOM_POOL_BYTES);
/** Next unused byte: pool[0, offset) has been handed out and zeroed. Starts empty (all used). */
let offset = RANDOM_POOL_BYTES;

/** `n` cryptographically secure random bytes in a new Buffer of its own (like crypto.randomBytes). */
export function secureRandomBytes(n: number): Buffer {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`secureRandomBytes: length must be a non-negative integer, not ${n}`);
  if (n > MAX_POOLED_RANDOM_BYTES) return randomBytes(n);
  const out = Buffer.allocUnsafeSlow(n);
  if (n === 0) return out;
  if (RANDOM_POOL_BYTES - offset < n) {
    // The unused tail is overwritten, never handed out.
    randomFillSync(pool);
    offset = 0;
  }
  const end = offset + n;
  pool.copy(out, 0, offset, end);
  pool.fill(0, offset, end);
  offset = end;
  return out;
}

/**
 * Test-only: a copy of pool[0, offset), the bytes already handed out since the last refill (before
 * the first fill, the whole empty pool). It must be all zero; it never includes unused bytes.
 */
export function consumedRandomPoolBytesForTesting(): Buffer {
  return Buffer.from(pool.subarray(0, offset));
}
