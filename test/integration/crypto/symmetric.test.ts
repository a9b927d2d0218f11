/**
 * Encrypt / Decrypt with symmetric keys through handleMessage (real SQLite, real SoftHSM2), in
 * KMIP 1.4 and 2.1: known-answer vectors (NIST SP 800-38A/D, IEEE 1619, RFC 8439 and the OASIS
 * cases' values), round trips, multi-part GCM, and every refusal.
 */
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  KeyFormatType,
  ObjectType,
  Operation,
  PaddingMethod,
  ResultReason,
  RevocationReasonCode,
  UsageLimitsUnit,
} from '../../../src/spec/generated/enums';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { find } from '../../helpers/kmip-client';
import {
  VERSIONS,
  activeSince,
  bytesOf,
  call,
  cryptoParamsAttr,
  data,
  fails,
  hex,
  maskAttr,
  nameAttr,
  ok,
  params,
  rawBlock,
  registerKey,
  uidItem,
  useHarness,
} from './harness';
import { LEGACY_CRYPTO_POLICY } from '../../../src/crypto/policy-profiles';

// Published vectors (OASIS 3DES/ECB values, RFC 2202/4231 short HMAC keys) need the legacy profile.
const h = useHarness({ crypto: LEGACY_CRYPTO_POLICY });
const ENC_DEC = CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt;

/** Lifecycle refusals: Wrong Key Lifecycle State in 2.x, Permission Denied in 1.x. */
const wrongState = (v: ProtocolVersion) => (v.major >= 2 ? ResultReason.WrongKeyLifecycleState : ResultReason.PermissionDenied);
const badMask = (v: ProtocolVersion) => (v.major >= 2 ? ResultReason.IncompatibleCryptographicUsageMask : ResultReason.PermissionDenied);

async function symKey(v: ProtocolVersion, key: Buffer, algorithm: number, extra: KmipAttribute[] = [], mask = ENC_DEC): Promise<string> {
  return registerKey(h, v, ObjectType.SymmetricKey, rawBlock(KeyFormatType.Raw, key, algorithm, key.length * 8), [
    maskAttr(mask),
    activeSince(),
    nameAttr('sym'),
    ...extra,
  ]);
}

interface CipherCall {
  readonly p?: ReturnType<typeof params>;
  readonly iv?: Buffer;
  readonly aad?: Buffer;
  readonly tag?: Buffer;
}

function cipherPayload(uid: string, bytes: Buffer, c: CipherCall) {
  const out = [uidItem(uid)];
  if (c.p) out.push(c.p);
  out.push(data(bytes));
  if (c.iv) out.push(ttlv.byteString(Tag.IVCounterNonce, c.iv));
  if (c.aad) out.push(ttlv.byteString(Tag.AuthenticatedEncryptionAdditionalData, c.aad));
  if (c.tag) out.push(ttlv.byteString(Tag.AuthenticatedEncryptionTag, c.tag));
  return out;
}

async function encrypt(v: ProtocolVersion, uid: string, bytes: Buffer, c: CipherCall = {}) {
  return ok(h, v, Operation.Encrypt, cipherPayload(uid, bytes, c));
}

async function decrypt(v: ProtocolVersion, uid: string, bytes: Buffer, c: CipherCall = {}) {
  return ok(h, v, Operation.Decrypt, cipherPayload(uid, bytes, c));
}

describe.each(VERSIONS)('KMIP %s symmetric ciphers', (_label, v) => {
  test('AES-ECB: OASIS CS-BC-M-4 value, both ways', async () => {
    const uid = await symKey(v, hex('0123456789abcdef0123456789abcdef'), CryptographicAlgorithm.AES);
    const p = params({ mode: BlockCipherMode.ECB });
    const ct = bytesOf(await encrypt(v, uid, hex('01020304050607080910111213141516'), { p }), Tag.Data);
    expect(ct.toString('hex')).toBe('d9bcce11b0b437b90239552df3a360c9');
    const pt = bytesOf(await decrypt(v, uid, ct, { p }), Tag.Data);
    expect(pt.toString('hex')).toBe('01020304050607080910111213141516');
  });

  test('AES-CBC with PKCS5 padding: OASIS CS-BC-M-10 value; parameters from the key attribute', async () => {
    const uid = await symKey(v, hex('0123456789abcdef0123456789abcdef'), CryptographicAlgorithm.AES, [
      cryptoParamsAttr(params({ mode: BlockCipherMode.CBC, padding: PaddingMethod.PKCS5 })),
    ]);
    const plain = hex('010203040506070809101112131415160102030405060708091011121314151601');
    const iv = hex('01020304050607080910111213141516');
    const ct = bytesOf(await encrypt(v, uid, plain, { iv }), Tag.Data);
    expect(ct.toString('hex')).toBe('79abc5c23868ad84d388ce61110a62742bda19d694bbcb757dd06617c0d80fb1df2e71864ad9633d7d797e30860df00d');
    expect(bytesOf(await decrypt(v, uid, ct, { iv }), Tag.Data).equals(plain)).toBe(true);
  });

  test('AES-CTR: NIST SP 800-38A F.5.1', async () => {
    const uid = await symKey(v, hex('2b7e151628aed2a6abf7158809cf4f3c'), CryptographicAlgorithm.AES);
    const r = await encrypt(v, uid, hex('6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51'), {
      p: params({ mode: BlockCipherMode.CTR }),
      iv: hex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff'),
    });
    expect(bytesOf(r, Tag.Data).toString('hex')).toBe('874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff');
  });

  test('AES-GCM: NIST test case 4 (96-bit IV, AAD), encrypt and decrypt', async () => {
    const uid = await symKey(v, hex('feffe9928665731c6d6a8f9467308308'), CryptographicAlgorithm.AES);
    const p = params({ mode: BlockCipherMode.GCM, tagLength: 16 });
    const plain = hex(
      'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
    );
    const iv = hex('cafebabefacedbaddecaf888');
    const aad = hex('feedfacedeadbeeffeedfacedeadbeefabaddad2');
    const r = await encrypt(v, uid, plain, { p, iv, aad });
    expect(bytesOf(r, Tag.Data).toString('hex')).toBe(
      '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091',
    );
    expect(bytesOf(r, Tag.AuthenticatedEncryptionTag).toString('hex')).toBe('5bc94fbc3221a5db94fae95ae7121a47');
    const back = await decrypt(v, uid, bytesOf(r, Tag.Data), { p, iv, aad, tag: bytesOf(r, Tag.AuthenticatedEncryptionTag) });
    expect(bytesOf(back, Tag.Data).equals(plain)).toBe(true);
  });

  test('AES-GCM: truncated 12-byte tag verifies (OASIS CS-BC-M-GCM-1)', async () => {
    const uid = await symKey(v, Buffer.alloc(16), CryptographicAlgorithm.AES);
    const pt = await decrypt(v, uid, hex('0388dace60b6a392f328c2b971b2fe78'), {
      p: params({ mode: BlockCipherMode.GCM, tagLength: 12 }),
      iv: Buffer.alloc(12),
      tag: hex('ab6e47d42cec13bdf53a67b2'),
    });
    expect(bytesOf(pt, Tag.Data).equals(Buffer.alloc(16))).toBe(true);
  });

  test('AES-GCM in parts: Init Indicator, Correlation Value, Final Indicator (NIST test case 6 halves)', async () => {
    const uid = await symKey(v, hex('feffe9928665731c6d6a8f9467308308'), CryptographicAlgorithm.AES);
    const p = params({ mode: BlockCipherMode.GCM, tagLength: 16 });
    const first = await ok(h, v, Operation.Encrypt, [
      uidItem(uid),
      p,
      data(hex('d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72')),
      ttlv.byteString(Tag.IVCounterNonce, hex('cafebabefacedbad')),
      ttlv.boolean(Tag.InitIndicator, true),
      ttlv.byteString(Tag.AuthenticatedEncryptionAdditionalData, hex('feedfacedeadbeeffeedfacedeadbeefabaddad2')),
    ]);
    expect(bytesOf(first, Tag.Data).toString('hex')).toBe('61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c7423');
    const correlation = bytesOf(first, Tag.CorrelationValue);
    const last = await ok(h, v, Operation.Encrypt, [
      uidItem(uid),
      p,
      data(hex('1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39')),
      ttlv.byteString(Tag.CorrelationValue, correlation),
      ttlv.boolean(Tag.FinalIndicator, true),
    ]);
    expect(bytesOf(last, Tag.Data).toString('hex')).toBe('73806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598');
    expect(bytesOf(last, Tag.AuthenticatedEncryptionTag).toString('hex')).toBe('3612d2e79e3b0785561be14aaca2fccb');
    // The stream is over: its correlation value names nothing now.
    await fails(
      h,
      v,
      Operation.Encrypt,
      [uidItem(uid), p, data(Buffer.alloc(1)), ttlv.byteString(Tag.CorrelationValue, correlation)],
      v.major >= 2 ? ResultReason.InvalidCorrelationValue : ResultReason.ItemNotFound,
    );
  });

  test('AES-XTS: IEEE 1619 vector 2; equal key halves refused', async () => {
    const uid = await symKey(v, Buffer.concat([Buffer.alloc(16, 0x11), Buffer.alloc(16, 0x22)]), CryptographicAlgorithm.AES);
    const p = params({ mode: BlockCipherMode.XTS });
    const iv = Buffer.concat([hex('3333333333'), Buffer.alloc(11)]);
    const r = await encrypt(v, uid, Buffer.alloc(32, 0x44), { p, iv });
    expect(bytesOf(r, Tag.Data).toString('hex')).toBe('c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0');
    expect(bytesOf(await decrypt(v, uid, bytesOf(r, Tag.Data), { p, iv }), Tag.Data).equals(Buffer.alloc(32, 0x44))).toBe(true);
    const same = await symKey(v, Buffer.alloc(32, 7), CryptographicAlgorithm.AES);
    await fails(h, v, Operation.Encrypt, cipherPayload(same, Buffer.alloc(32), { p, iv }), ResultReason.CryptographicFailure);
  });

  test('3DES-ECB: OASIS CS-BC-M-4-12-3DES value; 3DES-CBC round trip', async () => {
    const uid = await symKey(v, hex('010101010101010101010101010101010101010101010101'), CryptographicAlgorithm.DES3);
    const r = await encrypt(v, uid, hex('010203040506070809101112131415161718192021222324'), { p: params({ mode: BlockCipherMode.ECB }) });
    expect(bytesOf(r, Tag.Data).toString('hex')).toBe('cead373db80eabf87477d921e6d5a5d116c10e3814ebe004');
    const key = await symKey(v, hex('0123456789abcdef23456789abcdef01456789abcdef0123'), CryptographicAlgorithm.DES3);
    const p = params({ mode: BlockCipherMode.CBC, padding: PaddingMethod.PKCS5 });
    const iv = hex('0001020304050607');
    const ct = bytesOf(await encrypt(v, key, Buffer.from('three keys'), { p, iv }), Tag.Data);
    expect(ct.length).toBe(16);
    expect(bytesOf(await decrypt(v, key, ct, { p, iv }), Tag.Data).toString()).toBe('three keys');
  });

  test('ChaCha20: 64-bit nonce keystream (OASIS CS-BC-M-CHACHA20-2)', async () => {
    const uid = await symKey(v, hex('0000000000000000000000000000000000000000000000000000000000000001'), CryptographicAlgorithm.ChaCha20);
    const r = await encrypt(v, uid, Buffer.alloc(64), { p: params({}), iv: Buffer.alloc(8) });
    expect(bytesOf(r, Tag.Data).toString('hex')).toBe(
      '4540f05a9f1fb296d7736e7b208e3c96eb4fe1834688d2604f450952ed432d41bbe2a0b6ea7566d2a5d1e7e20d42af2c53d792b1c43fea817e9ad275ae546963',
    );
  });

  test('ChaCha20-Poly1305: RFC 8439 2.8.2; wrong tag is Cryptographic Failure with no plaintext', async () => {
    const uid = await symKey(v, hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'), CryptographicAlgorithm.ChaCha20Poly1305);
    const p = params({ mode: BlockCipherMode.AEAD, tagLength: 16 });
    const plain = Buffer.from("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    const iv = hex('070000004041424344454647');
    const aad = hex('50515253c0c1c2c3c4c5c6c7');
    const r = await encrypt(v, uid, plain, { p, iv, aad });
    expect(bytesOf(r, Tag.Data).subarray(0, 16).toString('hex')).toBe('d31a8d34648e60db7b86afbc53ef7ec2');
    const tag = bytesOf(r, Tag.AuthenticatedEncryptionTag);
    expect(tag.toString('hex')).toBe('1ae10b594f09e26a7e902ecbd0600691');
    expect(bytesOf(await decrypt(v, uid, bytesOf(r, Tag.Data), { p, iv, aad, tag }), Tag.Data).equals(plain)).toBe(true);
    const bad = Buffer.from(tag);
    bad[0] = (bad[0] ?? 0) ^ 0xff;
    await fails(h, v, Operation.Decrypt, cipherPayload(uid, bytesOf(r, Tag.Data), { p, iv, aad, tag: bad }), ResultReason.CryptographicFailure);
    // A ChaCha20 key asked for AEAD is ChaCha20-Poly1305.
    const plainKey = await symKey(v, hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'), CryptographicAlgorithm.ChaCha20);
    expect(bytesOf(await encrypt(v, plainKey, plain, { p, iv, aad }), Tag.AuthenticatedEncryptionTag).equals(tag)).toBe(true);
  });

  test('Random IV: the server makes one and returns it; decrypting with it round-trips', async () => {
    const uid = await symKey(v, hex('000102030405060708090a0b0c0d0e0f'), CryptographicAlgorithm.AES, [
      cryptoParamsAttr(params({ mode: BlockCipherMode.CBC, padding: PaddingMethod.PKCS5, randomIV: true })),
    ]);
    const a = await encrypt(v, uid, Buffer.from('attack at dawn'));
    const b = await encrypt(v, uid, Buffer.from('attack at dawn'));
    const ivA = bytesOf(a, Tag.IVCounterNonce);
    expect(ivA.length).toBe(16);
    expect(ivA.equals(bytesOf(b, Tag.IVCounterNonce))).toBe(false);
    expect(bytesOf(await decrypt(v, uid, bytesOf(a, Tag.Data), { iv: ivA }), Tag.Data).toString()).toBe('attack at dawn');
    // GCM makes a 12-byte nonce when none is given.
    const g = await encrypt(v, uid, Buffer.from('x'), { p: params({ mode: BlockCipherMode.GCM, randomIV: true }) });
    expect(bytesOf(g, Tag.IVCounterNonce).length).toBe(12);
    expect(bytesOf(g, Tag.AuthenticatedEncryptionTag).length).toBe(16);
  });
});

describe.each(VERSIONS)('KMIP %s symmetric refusals', (_label, v) => {
  test('wrong GCM tag, IV or ciphertext: Cryptographic Failure, no Data', async () => {
    const uid = await symKey(v, Buffer.alloc(16), CryptographicAlgorithm.AES);
    const p = params({ mode: BlockCipherMode.GCM, tagLength: 16 });
    const ct = hex('0388dace60b6a392f328c2b971b2fe78');
    const tag = hex('ab6e47d42cec13bdf53a67b21257bddf');
    const iv = Buffer.alloc(12);
    await fails(h, v, Operation.Decrypt, cipherPayload(uid, ct, { p, iv, tag: hex('006e47d42cec13bdf53a67b21257bddf') }), ResultReason.CryptographicFailure);
    await fails(h, v, Operation.Decrypt, cipherPayload(uid, ct, { p, iv: hex('ff0000000000000000000000'), tag }), ResultReason.CryptographicFailure);
    await fails(h, v, Operation.Decrypt, cipherPayload(uid, hex('ff88dace60b6a392f328c2b971b2fe78'), { p, iv, tag }), ResultReason.CryptographicFailure);
    // And the right values still work.
    expect(bytesOf(await decrypt(v, uid, ct, { p, iv, tag }), Tag.Data).equals(Buffer.alloc(16))).toBe(true);
  });

  test('GCM tag length outside 4, 8, 12..16: General Failure (as the OASIS cases expect)', async () => {
    const uid = await symKey(v, Buffer.alloc(16), CryptographicAlgorithm.AES);
    for (const tagLength of [1, 32]) {
      const msg = await fails(h, v, Operation.Encrypt, cipherPayload(uid, Buffer.alloc(16), { p: params({ mode: BlockCipherMode.GCM, tagLength }), iv: Buffer.alloc(12) }), ResultReason.GeneralFailure);
      expect(msg).toMatch(/Tag Length/);
    }
  });

  test('missing IV on decrypt: Invalid Message (OASIS CS-BC-M-11)', async () => {
    const uid = await symKey(v, Buffer.alloc(16), CryptographicAlgorithm.AES);
    const msg = await fails(h, v, Operation.Decrypt, cipherPayload(uid, Buffer.alloc(16), { p: params({ mode: BlockCipherMode.CBC }) }), ResultReason.InvalidMessage);
    expect(msg).toMatch(/IV/);
  });

  test('unsupported combinations: Invalid Field, saying which', async () => {
    const uid = await symKey(v, Buffer.alloc(16), CryptographicAlgorithm.AES);
    const cases: [ReturnType<typeof params>, RegExp][] = [
      [params({ mode: BlockCipherMode.CCM }), /CCM is not supported/],
      [params({ mode: BlockCipherMode.CTR, padding: PaddingMethod.PKCS5 }), /PKCS5 is not supported with AES-CTR/],
      [params({ mode: BlockCipherMode.ECB, padding: PaddingMethod.ANSIX9_23 }), /ANSI X9.23 is not supported with AES-ECB/],
      [params({}), /needs a Block Cipher Mode/],
      [params({ mode: BlockCipherMode.ECB, alg: CryptographicAlgorithm.Blowfish }), /Blowfish cannot encrypt/],
    ];
    for (const [p, re] of cases) {
      expect(await fails(h, v, Operation.Encrypt, cipherPayload(uid, Buffer.alloc(16), { p, iv: Buffer.alloc(16) }), ResultReason.InvalidField)).toMatch(re);
    }
    // A 128-bit key is not an XTS key (two AES keys).
    expect(
      await fails(h, v, Operation.Encrypt, cipherPayload(uid, Buffer.alloc(16), { p: params({ mode: BlockCipherMode.XTS }), iv: Buffer.alloc(16) }), ResultReason.InvalidField),
    ).toMatch(/does not fit AES-XTS/);
    // Block modes without padding take whole blocks only.
    expect(await fails(h, v, Operation.Encrypt, cipherPayload(uid, Buffer.alloc(15), { p: params({ mode: BlockCipherMode.ECB }) }), ResultReason.InvalidField)).toMatch(
      /multiple of 16/,
    );
  });

  test('bad padding on decrypt: Cryptographic Failure, no Data', async () => {
    const uid = await symKey(v, Buffer.alloc(16), CryptographicAlgorithm.AES);
    const p = params({ mode: BlockCipherMode.ECB });
    const ct = bytesOf(await encrypt(v, uid, Buffer.alloc(16, 0x55), { p }), Tag.Data);
    await fails(h, v, Operation.Decrypt, cipherPayload(uid, ct, { p: params({ mode: BlockCipherMode.ECB, padding: PaddingMethod.PKCS5 }) }), ResultReason.CryptographicFailure);
  });

  test('Cryptographic Usage Mask: Encrypt needs the Encrypt bit, Decrypt the Decrypt bit', async () => {
    const decryptOnly = await symKey(v, Buffer.alloc(16, 1), CryptographicAlgorithm.AES, [], CryptographicUsageMask.Decrypt);
    const p = params({ mode: BlockCipherMode.ECB });
    expect(await fails(h, v, Operation.Encrypt, cipherPayload(decryptOnly, Buffer.alloc(16), { p }), badMask(v))).toMatch(/Usage Mask/);
    const encryptOnly = await symKey(v, Buffer.alloc(16, 1), CryptographicAlgorithm.AES, [], CryptographicUsageMask.Encrypt);
    await fails(h, v, Operation.Decrypt, cipherPayload(encryptOnly, Buffer.alloc(16), { p }), badMask(v));
  });

  test('lifecycle: Pre-Active refuses both; Deactivated decrypts but does not encrypt', async () => {
    const p = params({ mode: BlockCipherMode.ECB });
    const pre = await registerKey(h, v, ObjectType.SymmetricKey, rawBlock(KeyFormatType.Raw, Buffer.alloc(16, 2), CryptographicAlgorithm.AES, 128), [
      maskAttr(ENC_DEC),
      nameAttr('pre'),
    ]);
    await fails(h, v, Operation.Encrypt, cipherPayload(pre, Buffer.alloc(16), { p }), wrongState(v));
    await fails(h, v, Operation.Decrypt, cipherPayload(pre, Buffer.alloc(16), { p }), wrongState(v));

    const uid = await symKey(v, Buffer.alloc(16, 3), CryptographicAlgorithm.AES);
    const ct = bytesOf(await encrypt(v, uid, Buffer.alloc(16, 9), { p }), Tag.Data);
    await ok(h, v, Operation.Revoke, [
      uidItem(uid),
      ttlv.structure(Tag.RevocationReason, [ttlv.enumeration(Tag.RevocationReasonCode, RevocationReasonCode.CessationOfOperation)]),
    ]);
    await fails(h, v, Operation.Encrypt, cipherPayload(uid, Buffer.alloc(16), { p }), wrongState(v));
    expect(bytesOf(await decrypt(v, uid, ct, { p }), Tag.Data).equals(Buffer.alloc(16, 9))).toBe(true);
  });

  test('Protect Stop Date passed / Process Start Date ahead (OASIS CS-BC-M-14)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const uid = await symKey(v, Buffer.alloc(16, 4), CryptographicAlgorithm.AES, [
      { name: 'Process Start Date', value: ttlv.dateTime(Tag.ProcessStartDate, BigInt(now + 3600)) },
      { name: 'Protect Stop Date', value: ttlv.dateTime(Tag.ProtectStopDate, BigInt(now - 3600)) },
    ]);
    const p = params({ mode: BlockCipherMode.ECB });
    expect(await fails(h, v, Operation.Encrypt, cipherPayload(uid, Buffer.alloc(16), { p }), wrongState(v))).toMatch(/Protect Stop/);
    expect(await fails(h, v, Operation.Decrypt, cipherPayload(uid, Buffer.alloc(16), { p }), wrongState(v))).toMatch(/Process Start/);
  });

  test('Usage Limits: 16 bytes allowed, then Permission Denied (OASIS CS-BC-M-7)', async () => {
    const uid = await symKey(v, Buffer.alloc(16, 5), CryptographicAlgorithm.AES, [
      {
        name: 'Usage Limits',
        value: ttlv.structure(Tag.UsageLimits, [
          ttlv.longInteger(Tag.UsageLimitsTotal, 16n),
          ttlv.enumeration(Tag.UsageLimitsUnit, UsageLimitsUnit.Byte),
        ]),
      },
    ]);
    const p = params({ mode: BlockCipherMode.ECB });
    await encrypt(v, uid, Buffer.alloc(16), { p });
    await fails(h, v, Operation.Encrypt, cipherPayload(uid, Buffer.alloc(16), { p }), ResultReason.PermissionDenied);
  });

  test('another client cannot use the key; a destroyed key is gone', async () => {
    const uid = await symKey(v, Buffer.alloc(16, 6), CryptographicAlgorithm.AES);
    const item = await call(h, v, Operation.Encrypt, cipherPayload(uid, Buffer.alloc(16), { p: params({ mode: BlockCipherMode.ECB }) }), {
      name: 'mallory',
      isAdmin: false,
    });
    expect(item.reason).toBe(v.major >= 2 ? ResultReason.ObjectNotFound : ResultReason.ItemNotFound);
    expect(find(item.payload ?? ttlv.structure(0, []), Tag.Data)).toBeUndefined();
  });
});

describe('KMIP 1.2 (no Authenticated Encryption Tag field)', () => {
  const v12: ProtocolVersion = { major: 1, minor: 2 };
  test('AEAD modes are refused with the reason; CBC works', async () => {
    const uid = await symKey(v12, Buffer.alloc(16, 8), CryptographicAlgorithm.AES);
    const msg = await fails(h, v12, Operation.Encrypt, cipherPayload(uid, Buffer.alloc(16), { p: params({ mode: BlockCipherMode.GCM }), iv: Buffer.alloc(12) }), ResultReason.InvalidField);
    expect(msg).toMatch(/KMIP 1.4/);
    const r = await encrypt(v12, uid, Buffer.alloc(16), { p: params({ mode: BlockCipherMode.CBC }), iv: Buffer.alloc(16) });
    expect(bytesOf(r, Tag.Data).length).toBe(16);
  });
});
