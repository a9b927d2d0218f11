/**
 * Symmetric Encrypt / Decrypt through Node's OpenSSL ciphers, driven by the cipher table. Each
 * run is set up (parameters checked, IV settled) and then fed data once or in several parts
 * (streaming with correlation values).
 */
import { createCipheriv, createDecipheriv, type Cipher, type CipherGCMOptions, type Decipher } from 'node:crypto';
import { PaddingMethod } from '../spec/generated/enums';
import { enumValueInfo } from '../spec/registry';
import { KmipError, Reason } from '../kmip/errors';
import type { CryptoParams } from './params';
import { secureRandomBytes } from './random-pool';
import { findCipher, isCipherAlgorithm, type SymmetricCipher } from './tables';

export function algorithmName(algorithm: number): string {
  return enumValueInfo('CryptographicAlgorithm', algorithm)?.name ?? `algorithm 0x${algorithm.toString(16)}`;
}

function modeName(mode: number): string {
  return enumValueInfo('BlockCipherMode', mode)?.name ?? `mode 0x${mode.toString(16)}`;
}

function paddingName(p: number): string {
  return enumValueInfo('PaddingMethod', p)?.name ?? `padding 0x${p.toString(16)}`;
}

export type Direction = 'encrypt' | 'decrypt';

/** A cipher run, settled before any data is processed. */
export interface CipherSetup {
  readonly cipher: SymmetricCipher;
  readonly nodeName: string;
  readonly padding: boolean;
  /** The IV as the client sees it (null for ECB). */
  readonly iv: Buffer | null;
  /** The server made the IV: Encrypt returns it. */
  readonly ivGenerated: boolean;
  /** AEAD tag length in bytes. */
  readonly tagBytes?: number;
}

/**
 * Settles algorithm, mode, padding, IV and tag length. `iv` is the request's IV/Counter/Nonce;
 * `tag` (decrypt) the request's Authenticated Encryption Tag.
 */
export function setupCipher(
  direction: Direction,
  algorithm: number,
  params: CryptoParams,
  keyBytes: number,
  iv: Uint8Array | undefined,
  tag: Uint8Array | undefined,
): CipherSetup {
  if (!isCipherAlgorithm(algorithm)) {
    throw new KmipError(Reason.InvalidField, `${algorithmName(algorithm)} cannot ${direction} with a symmetric key on this server`);
  }
  const mode = params.blockCipherMode;
  const cipher = findCipher(algorithm, mode);
  if (!cipher) {
    if (mode === undefined) throw new KmipError(Reason.InvalidField, `${algorithmName(algorithm)} needs a Block Cipher Mode`);
    throw new KmipError(Reason.InvalidField, `${algorithmName(algorithm)} with Block Cipher Mode ${modeName(mode)} is not supported`);
  }
  const nodeName = cipher.node(keyBytes);
  if (nodeName === undefined) {
    throw new KmipError(Reason.InvalidField, `a ${keyBytes * 8}-bit key does not fit ${cipher.label}`);
  }

  const pad = params.paddingMethod;
  if (pad !== undefined && pad !== PaddingMethod.None && !cipher.paddings.includes(pad)) {
    throw new KmipError(Reason.InvalidField, `Padding Method ${paddingName(pad)} is not supported with ${cipher.label}`);
  }
  const padding = pad === PaddingMethod.PKCS5;

  let ivOut: Buffer | null = null;
  let ivGenerated = false;
  if (cipher.ivBytes !== null) {
    if (iv !== undefined) {
      if (iv.length < cipher.ivBytes.min || iv.length > cipher.ivBytes.max) {
        const want = cipher.ivBytes.min === cipher.ivBytes.max ? `${cipher.ivBytes.min}` : `${cipher.ivBytes.min} to ${cipher.ivBytes.max}`;
        throw new KmipError(Reason.InvalidField, `${cipher.label} takes an IV/Counter/Nonce of ${want} bytes, not ${iv.length}`);
      }
      ivOut = Buffer.from(iv);
    } else if (direction === 'encrypt' && params.randomIV !== false) {
      // Random IV asked for, or no IV given at all: a fresh one is safer than any fixed default.
      ivOut = secureRandomBytes(params.ivLength !== undefined && params.ivLength > 0 ? ivLengthBytes(cipher, params.ivLength) : cipher.defaultIvBytes);
      ivGenerated = true;
    } else {
      // The OASIS cases (CS-BC-M-11..13) expect Invalid Message here, in 1.x and 2.x alike.
      throw new KmipError(Reason.InvalidMessage, `${cipher.label} needs an IV/Counter/Nonce`);
    }
  }

  let tagBytes: number | undefined;
  if (cipher.aead) {
    tagBytes = params.tagLength ?? (tag !== undefined && tag.length > 0 ? tag.length : cipher.aead.defaultTagBytes);
    if (!cipher.aead.tagBytes.includes(tagBytes)) {
      // The OASIS cases (CS-BC-M-GCM-1, CHACHA20POLY1305-1) expect General Failure for this.
      throw new KmipError(Reason.GeneralFailure, `${cipher.label} does not support a Tag Length of ${tagBytes} bytes`);
    }
    if (direction === 'decrypt' && tag !== undefined && tag.length !== tagBytes) {
      throw new KmipError(Reason.InvalidField, `the Authenticated Encryption Tag is ${tag.length} bytes but Tag Length is ${tagBytes}`);
    }
  }
  return { cipher, nodeName, padding, iv: ivOut, ivGenerated, tagBytes };
}

/** IV Length is given in bits (KMIP Cryptographic Parameters). */
function ivLengthBytes(cipher: SymmetricCipher, bits: number): number {
  const bytes = Math.ceil(bits / 8);
  const range = cipher.ivBytes;
  if (bits % 8 !== 0 || range === null || bytes < range.min || bytes > range.max) {
    throw new KmipError(Reason.InvalidField, `IV Length ${bits} bits is not valid for ${cipher.label}`);
  }
  return bytes;
}

type AeadCipher = Cipher & { setAAD(buffer: NodeJS.ArrayBufferView, options: { plaintextLength: number }): unknown; getAuthTag(): Buffer };
type AeadDecipher = Decipher & { setAAD(buffer: NodeJS.ArrayBufferView, options: { plaintextLength: number }): unknown; setAuthTag(buffer: NodeJS.ArrayBufferView): unknown };

function isAeadCipher(c: Cipher): c is AeadCipher {
  return 'getAuthTag' in c && 'setAAD' in c;
}

function isAeadDecipher(d: Decipher): d is AeadDecipher {
  return 'setAuthTag' in d && 'setAAD' in d;
}

/** A running cipher: update() as data comes, finish() once. */
export interface CipherRun {
  readonly setup: CipherSetup;
  readonly direction: Direction;
  update(data: Uint8Array): Buffer;
  /** Ends the run; for AEAD encryption also the tag. `tag` is the tag to check when decrypting. */
  finish(tag?: Uint8Array): { data: Buffer; tag?: Buffer };
}

/**
 * Starts a cipher. `key` is passed straight to OpenSSL, which keeps its own copy in the cipher
 * context for the life of the run; no copy is made here.
 */
export function startCipher(direction: Direction, setup: CipherSetup, key: Uint8Array, aad: Uint8Array | undefined, plaintextLength: number): CipherRun {
  const nodeIv = setup.iv === null ? null : (setup.cipher.nodeIv?.(setup.iv) ?? setup.iv);
  const options: CipherGCMOptions | undefined = setup.tagBytes !== undefined ? { authTagLength: setup.tagBytes } : undefined;
  try {
    if (direction === 'encrypt') {
      const c = createCipheriv(setup.nodeName, key, nodeIv, options);
      c.setAutoPadding(setup.padding);
      if (setup.cipher.aead && isAeadCipher(c)) {
        if (aad !== undefined && aad.length > 0) c.setAAD(aad, { plaintextLength });
      } else if (aad !== undefined && aad.length > 0) {
        throw new KmipError(Reason.InvalidField, `${setup.cipher.label} takes no additional authenticated data`);
      }
      return {
        setup,
        direction,
        update: (data) => c.update(data),
        finish: () => {
          const data = c.final();
          return setup.cipher.aead && isAeadCipher(c) ? { data, tag: c.getAuthTag() } : { data };
        },
      };
    }
    const d = createDecipheriv(setup.nodeName, key, nodeIv, options);
    d.setAutoPadding(setup.padding);
    if (setup.cipher.aead && isAeadDecipher(d)) {
      if (aad !== undefined && aad.length > 0) d.setAAD(aad, { plaintextLength });
    } else if (aad !== undefined && aad.length > 0) {
      throw new KmipError(Reason.InvalidField, `${setup.cipher.label} takes no additional authenticated data`);
    }
    return {
      setup,
      direction,
      update: (data) => d.update(data),
      finish: (tag) => {
        if (setup.cipher.aead && isAeadDecipher(d)) {
          if (tag === undefined) throw new KmipError(Reason.MissingData, `${setup.cipher.label} decryption needs the Authenticated Encryption Tag`);
          d.setAuthTag(tag);
        }
        try {
          return { data: d.final() };
        } catch {
          throw new KmipError(Reason.CryptographicFailure, failureText(setup));
        }
      },
    };
  } catch (e) {
    if (e instanceof KmipError) throw e;
    // OpenSSL refused the key or IV (XTS with two equal key halves, for one).
    throw new KmipError(Reason.CryptographicFailure, `${setup.cipher.label} could not be initialised with this key and IV`);
  }
}

function failureText(setup: CipherSetup): string {
  if (setup.cipher.aead) return `${setup.cipher.label} authentication failed: wrong tag, IV, data or additional data`;
  if (setup.padding) return `${setup.cipher.label} decryption failed: bad padding`;
  return `${setup.cipher.label} decryption failed`;
}

/** Length rules that only hold for a whole message (one-shot or the final part). */
export function checkDataLength(setup: CipherSetup, direction: Direction, totalBytes: number): void {
  const { cipher } = setup;
  if (cipher.minDataBytes !== undefined && totalBytes < cipher.minDataBytes) {
    throw new KmipError(Reason.InvalidField, `${cipher.label} needs at least ${cipher.minDataBytes} bytes of data`);
  }
  const mustAlign = cipher.blockBytes > 1 && (!setup.padding || direction === 'decrypt');
  if (mustAlign && totalBytes % cipher.blockBytes !== 0) {
    const what = direction === 'decrypt' ? 'ciphertext' : 'data without padding';
    throw new KmipError(Reason.InvalidField, `${cipher.label} ${what} must be a multiple of ${cipher.blockBytes} bytes`);
  }
}

/**
 * One whole message. A failed decryption throws before any plaintext leaves: the partial output
 * of update() is zeroed.
 */
export function runOnce(run: CipherRun, data: Uint8Array, tag?: Uint8Array): { data: Buffer; tag?: Buffer } {
  checkDataLength(run.setup, run.direction, data.length);
  const head = run.update(data);
  let tail: { data: Buffer; tag?: Buffer };
  try {
    tail = run.finish(tag);
  } catch (e) {
    head.fill(0);
    throw e;
  }
  const out = Buffer.concat([head, tail.data]);
  head.fill(0);
  tail.data.fill(0);
  return tail.tag ? { data: out, tag: tail.tag } : { data: out };
}
