/**
 * Derive Key's derivation methods (src/crypto/kdf.ts) against published vectors (RFC 6070 PBKDF2,
 * RFC 7914 PBKDF2-HMAC-SHA-256, RFC 5869 HKDF) and against Node's primitives for HASH, HMAC,
 * ENCRYPT and SP 800-108 counter mode; lengths beyond a method's output are Cryptographic Failure.
 */
import { createCipheriv, createHash, createHmac } from 'node:crypto';
import { BlockCipherMode, CryptographicAlgorithm, DerivationMethod, HashingAlgorithm, PaddingMethod, ResultReason } from '../../../src/spec/generated/enums';
import { KmipError } from '../../../src/kmip/errors';
import { deriveKeyMaterial, type DeriveInput } from '../../../src/crypto/kdf';

const hex = (s: string) => Buffer.from(s, 'hex');

async function reason(input: DeriveInput): Promise<number | undefined> {
  try {
    await deriveKeyMaterial(input);
  } catch (e) {
    if (e instanceof KmipError) return e.reason;
    throw e;
  }
  return undefined;
}

describe('PBKDF2', () => {
  test('RFC 6070: HMAC-SHA-1 is the default PRF (c = 1 and c = 4096)', async () => {
    const base = { method: DerivationMethod.PBKDF2, key: Buffer.from('password'), salt: Buffer.from('salt'), params: {}, bytes: 20 };
    expect((await deriveKeyMaterial({ ...base, iterations: 1 })).toString('hex')).toBe('0c60c80f961f0e71f3a9b524af6012062fe037a6');
    expect((await deriveKeyMaterial({ ...base, iterations: 4096 })).toString('hex')).toBe('4b007901b765489abead49d926f721d065a429c1');
  });

  test('RFC 7914 11: PBKDF2-HMAC-SHA-256 ("passwd", "salt", c = 1, 64 bytes), PRF named by Hashing Algorithm or HMAC algorithm', async () => {
    const want =
      '55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783';
    const base = { method: DerivationMethod.PBKDF2, key: Buffer.from('passwd'), salt: Buffer.from('salt'), iterations: 1, bytes: 64 };
    expect((await deriveKeyMaterial({ ...base, params: { hashingAlgorithm: HashingAlgorithm.SHA_256 } })).toString('hex')).toBe(want);
    expect((await deriveKeyMaterial({ ...base, params: { cryptographicAlgorithm: CryptographicAlgorithm.HMAC_SHA256 } })).toString('hex')).toBe(want);
  });

  test('Salt and Iteration Count are required; the iteration count is bounded', async () => {
    const base = { method: DerivationMethod.PBKDF2, key: Buffer.from('p'), params: {}, bytes: 16 };
    expect(await reason({ ...base, iterations: 1 })).toBe(ResultReason.InvalidField);
    expect(await reason({ ...base, salt: Buffer.from('s') })).toBe(ResultReason.InvalidField);
    expect(await reason({ ...base, salt: Buffer.from('s'), iterations: 0 })).toBe(ResultReason.InvalidField);
    expect(await reason({ ...base, salt: Buffer.from('s'), iterations: 50_000_000 })).toBe(ResultReason.ServerLimitExceeded);
  });
});

describe('HKDF', () => {
  test('RFC 5869 test case 1 (SHA-256)', async () => {
    const out = await deriveKeyMaterial({
      method: DerivationMethod.HKDF,
      key: Buffer.alloc(22, 0x0b),
      salt: hex('000102030405060708090a0b0c'),
      data: hex('f0f1f2f3f4f5f6f7f8f9'),
      params: {},
      bytes: 42,
    });
    expect(out.toString('hex')).toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
  });
});

describe('HASH, HMAC, ENCRYPT, SP 800-108 counter mode', () => {
  const key = hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f');
  const info = Buffer.from('label\u0000context');

  test('HASH digests the derivation data, else the key, and truncates to the length asked', async () => {
    const p = { hashingAlgorithm: HashingAlgorithm.SHA_256 };
    expect((await deriveKeyMaterial({ method: DerivationMethod.HASH, key, data: info, params: p, bytes: 16 })).equals(createHash('sha256').update(info).digest().subarray(0, 16))).toBe(true);
    expect((await deriveKeyMaterial({ method: DerivationMethod.HASH, key, params: p, bytes: 32 })).equals(createHash('sha256').update(key).digest())).toBe(true);
    expect(await reason({ method: DerivationMethod.HASH, key, params: p, bytes: 33 })).toBe(ResultReason.CryptographicFailure);
    expect(await reason({ method: DerivationMethod.HASH, key, params: {}, bytes: 16 })).toBe(ResultReason.InvalidField);
  });

  test('HMAC uses the key\'s own HMAC algorithm, the parameters only for keys without one', async () => {
    const sha384 = createHmac('sha384', key).update(info).digest();
    expect((await deriveKeyMaterial({ method: DerivationMethod.HMAC, key, keyAlgorithm: CryptographicAlgorithm.HMAC_SHA384, data: info, params: { hashingAlgorithm: HashingAlgorithm.SHA_1 }, bytes: 48 })).equals(sha384)).toBe(true);
    expect((await deriveKeyMaterial({ method: DerivationMethod.HMAC, key, data: info, params: { hashingAlgorithm: HashingAlgorithm.SHA_256 }, bytes: 32 })).equals(createHmac('sha256', key).update(info).digest())).toBe(true);
    expect(await reason({ method: DerivationMethod.HMAC, key, keyAlgorithm: CryptographicAlgorithm.HMAC_SHA256, params: {}, bytes: 32 })).toBe(ResultReason.InvalidField);
    expect(await reason({ method: DerivationMethod.HMAC, key, keyAlgorithm: CryptographicAlgorithm.HMAC_SHA256, data: info, params: {}, bytes: 33 })).toBe(ResultReason.CryptographicFailure);
  });

  test('ENCRYPT: AES-CBC with the given IV, or an all-zero one; AES-ECB', async () => {
    const iv = hex('0f0e0d0c0b0a09080706050403020100');
    const plain = Buffer.alloc(32, 0x5a);
    const cbc = createCipheriv('aes-256-cbc', key, iv).setAutoPadding(false);
    const want = Buffer.concat([cbc.update(plain), cbc.final()]);
    const p = { blockCipherMode: BlockCipherMode.CBC, paddingMethod: PaddingMethod.None };
    const base = { method: DerivationMethod.ENCRYPT, key, keyAlgorithm: CryptographicAlgorithm.AES, data: plain, params: p, bytes: 32 };
    expect((await deriveKeyMaterial({ ...base, iv })).equals(want)).toBe(true);
    const zero = createCipheriv('aes-256-cbc', key, Buffer.alloc(16)).setAutoPadding(false);
    expect((await deriveKeyMaterial(base)).equals(Buffer.concat([zero.update(plain), zero.final()]))).toBe(true);
    const ecb = createCipheriv('aes-256-ecb', key, null).setAutoPadding(false);
    expect((await deriveKeyMaterial({ ...base, params: { blockCipherMode: BlockCipherMode.ECB } })).equals(Buffer.concat([ecb.update(plain), ecb.final()]))).toBe(true);
    expect(await reason({ ...base, bytes: 48 })).toBe(ResultReason.CryptographicFailure);
  });

  test('SP 800-108 counter mode: K(i) = HMAC(K, [i]32 || data || [L]32)', async () => {
    const l = Buffer.from([0, 0, 0x01, 0x80]); // 384 bits
    const k1 = createHmac('sha256', key).update(Buffer.concat([Buffer.from([0, 0, 0, 1]), info, l])).digest();
    const k2 = createHmac('sha256', key).update(Buffer.concat([Buffer.from([0, 0, 0, 2]), info, l])).digest();
    const out = await deriveKeyMaterial({ method: DerivationMethod.NIST800_108_C, key, keyAlgorithm: CryptographicAlgorithm.HMAC_SHA256, data: info, params: {}, bytes: 48 });
    expect(out.equals(Buffer.concat([k1, k2]).subarray(0, 48))).toBe(true);
  });

  test('methods not offered, and lengths out of range', async () => {
    expect(await reason({ method: DerivationMethod.NIST800_108_F, key, data: info, params: {}, bytes: 16 })).toBe(ResultReason.InvalidField);
    expect(await reason({ method: DerivationMethod.HASH, key, params: { hashingAlgorithm: HashingAlgorithm.SHA_256 }, bytes: 0 })).toBe(ResultReason.InvalidField);
    expect(await reason({ method: DerivationMethod.HKDF, key, params: {}, bytes: 4096 })).toBe(ResultReason.ServerLimitExceeded);
  });
});
