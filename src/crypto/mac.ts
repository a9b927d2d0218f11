/**
 * MAC computation: HMAC through Node; CMAC (NIST SP 800-38B, RFC 4493) over the block cipher's CBC
 * mode, since Node does not expose OpenSSL's CMAC.
 */
import { createCipheriv, createHmac, type Cipher } from 'node:crypto';
import { BlockCipherMode } from '../spec/generated/enums';
import { KmipError, Reason } from '../kmip/errors';
import type { CryptoParams } from './params';
import { algorithmName } from './symmetric';
import { CMACS, HMACS, type MacInfo } from './tables';

/**
 * The MAC algorithm: the parameters' Cryptographic Algorithm, else the key's (OASIS CS-AC-M-4 uses
 * an AES key with HMAC-SHA256 parameters). Block Cipher Mode CMAC selects CMAC over that cipher.
 */
export function resolveMac(params: CryptoParams, keyAlgorithm: number | undefined): MacInfo {
  const algorithm = params.cryptographicAlgorithm ?? keyAlgorithm;
  if (algorithm === undefined) throw new KmipError(Reason.MissingData, 'the MAC algorithm is not given and the key has none');
  // A block cipher key with no mode given MACs by CMAC, the one MAC defined over it.
  const info =
    params.blockCipherMode === BlockCipherMode.CMAC
      ? CMACS[algorithm]
      : (HMACS[algorithm] ?? (params.blockCipherMode === undefined ? CMACS[algorithm] : undefined));
  if (!info) {
    const what = params.blockCipherMode === BlockCipherMode.CMAC ? `CMAC over ${algorithmName(algorithm)}` : `${algorithmName(algorithm)} as a MAC`;
    throw new KmipError(Reason.InvalidField, `${what} is not supported`);
  }
  return info;
}

export function computeMac(info: MacInfo, key: Uint8Array, data: Uint8Array): Buffer {
  if (info.kind === 'hmac') return createHmac(info.hash, key).update(data).digest();
  const name = info.cipher(key.length);
  if (name === undefined) throw new KmipError(Reason.InvalidField, `a ${key.length * 8}-bit key does not fit this CMAC`);
  return cmac(name, info.blockBytes, key, data);
}

/** A MAC computed over data given in parts (multi-part MAC): update() as data comes, finish() once. */
export interface MacRun {
  update(data: Uint8Array): void;
  finish(): Buffer;
}

/**
 * Starts a MAC over data in parts. HMAC runs in OpenSSL's context; CMAC runs CBC over all but the
 * last block (which may be partial or whole until the data ends), and finishes with that block
 * masked by K1 or K2, as computeMac does in one pass.
 */
export function startMac(info: MacInfo, key: Uint8Array): MacRun {
  if (info.kind === 'hmac') {
    const h = createHmac(info.hash, key);
    return { update: (data) => void h.update(data), finish: () => h.digest() };
  }
  const name = info.cipher(key.length);
  if (name === undefined) throw new KmipError(Reason.InvalidField, `a ${key.length * 8}-bit key does not fit this CMAC`);
  return cmacRun(name, info.blockBytes, key);
}

function cmacRun(cipherName: string, b: number, key: Uint8Array): MacRun {
  const l = cbcLastBlock(cipherName, key, b, Buffer.alloc(b));
  const k1 = dbl(l);
  const k2 = dbl(k1);
  l.fill(0);
  const cbc: Cipher = createCipheriv(cipherName, key, Buffer.alloc(b));
  cbc.setAutoPadding(false);
  // Data not yet run through CBC: always the last 1..b bytes seen (or none before any data).
  let pending = Buffer.alloc(0);
  let done = false;
  return {
    update(data) {
      if (done) throw new KmipError(Reason.CryptographicFailure, 'the MAC is already finished');
      const all = Buffer.concat([pending, Buffer.from(data)]);
      pending.fill(0);
      // Keep at least one byte back: the last block is only known once the data ends.
      const feed = all.length === 0 ? 0 : Math.floor((all.length - 1) / b) * b;
      // CBC keeps its chaining value in the cipher context; the intermediate blocks are not needed.
      if (feed > 0) cbc.update(all.subarray(0, feed)).fill(0);
      pending = Buffer.from(all.subarray(feed));
      all.fill(0);
    },
    finish() {
      if (done) throw new KmipError(Reason.CryptographicFailure, 'the MAC is already finished');
      done = true;
      const complete = pending.length === b;
      const block = complete ? Buffer.from(pending) : Buffer.concat([pending, Buffer.from([0x80]), Buffer.alloc(b - pending.length - 1)]);
      const sub = complete ? k1 : k2;
      for (let i = 0; i < b; i++) block[i] = (block[i] ?? 0) ^ (sub[i] ?? 0);
      const out = cbc.update(block);
      cbc.final();
      const mac = Buffer.from(out.subarray(out.length - b));
      for (const x of [out, block, pending, k1, k2]) x.fill(0);
      return mac;
    },
  };
}

/** Doubling in GF(2^b) (SP 800-38B subkey generation): shift left, fold the carry into Rb. */
function dbl(block: Buffer): Buffer {
  const out = Buffer.alloc(block.length);
  let carry = 0;
  for (let i = block.length - 1; i >= 0; i--) {
    const b = block[i] ?? 0;
    out[i] = ((b << 1) | carry) & 0xff;
    carry = b >> 7;
  }
  const rb = block.length === 16 ? 0x87 : 0x1b;
  out[block.length - 1] = (out[block.length - 1] ?? 0) ^ (carry ? rb : 0);
  return out;
}

function cbcLastBlock(cipherName: string, key: Uint8Array, blockBytes: number, message: Buffer): Buffer {
  const c = createCipheriv(cipherName, key, Buffer.alloc(blockBytes));
  c.setAutoPadding(false);
  const out = Buffer.concat([c.update(message), c.final()]);
  const last = Buffer.from(out.subarray(out.length - blockBytes));
  out.fill(0);
  return last;
}

function cmac(cipherName: string, b: number, key: Uint8Array, data: Uint8Array): Buffer {
  const l = cbcLastBlock(cipherName, key, b, Buffer.alloc(b));
  const k1 = dbl(l);
  const k2 = dbl(k1);
  const complete = data.length > 0 && data.length % b === 0;
  const padded = complete ? Buffer.from(data) : Buffer.concat([Buffer.from(data), Buffer.from([0x80]), Buffer.alloc(b - (data.length % b) - 1)]);
  const sub = complete ? k1 : k2;
  const off = padded.length - b;
  for (let i = 0; i < b; i++) padded[off + i] = (padded[off + i] ?? 0) ^ (sub[i] ?? 0);
  try {
    return cbcLastBlock(cipherName, key, b, padded);
  } finally {
    for (const x of [l, k1, k2, padded]) x.fill(0);
  }
}
