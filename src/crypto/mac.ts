/**
 * MAC computation: HMAC through Node; CMAC (NIST SP 800-38B, RFC 4493) over the block cipher's CBC
 * mode, since Node does not expose OpenSSL's CMAC.
 */
import { createCipheriv, createHmac } from 'node:crypto';
import { BlockCipherMode } from '../spec/generated/enums';
import { KmipError, Reason } from '../server/errors';
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
