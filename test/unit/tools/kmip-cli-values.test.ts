/**
 * The `kmip` command's file and name handling, on keys generated here: every PEM and DER shape
 * Register reads (and what it refuses), spec names as people type them, and Get's PEM output read
 * back by Node's own parsers.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { Enums, Tag, ttlv } from '../../../src/client';
import type { GetResult } from '../../../src/client';
import { attributeFromText, encodeObject, enumValue, itemValue, maskValue, registrationFromFile, UsageError } from '../../../src/kmip-cli-values';

const { ObjectType, KeyFormatType, CryptographicAlgorithm, CryptographicUsageMask } = Enums;

function keyBytes(input: ReturnType<typeof registrationFromFile>): Buffer {
  const block = input.object.value.find((i) => i.tag === Tag.KeyBlock);
  if (block?.type !== 1) throw new Error('no key block');
  const value = block.value.find((i) => i.tag === Tag.KeyValue);
  if (value?.type !== 1) throw new Error('no key value');
  const material = value.value.find((i) => i.tag === Tag.KeyMaterial);
  if (material?.type !== 8) throw new Error('no key material');
  return Buffer.from(material.value);
}

describe('registrationFromFile', () => {
  test.each([
    ['rsa', { modulusLength: 2048 }, CryptographicAlgorithm.RSA, 2048],
    ['ec', { namedCurve: 'P-384' }, CryptographicAlgorithm.EC, 384],
    ['ed25519', {}, CryptographicAlgorithm.Ed25519, 255],
  ] as const)('%s private and public keys, PEM (PKCS#8, traditional) and DER', (type, options, algorithm, length) => {
    const { privateKey, publicKey } = generateKeyPairSync(type as 'rsa', options as { modulusLength: number });
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
    const shapes: Buffer[] = [Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' })), pkcs8];
    if (type === 'rsa') shapes.push(Buffer.from(privateKey.export({ type: 'pkcs1', format: 'pem' })), privateKey.export({ type: 'pkcs1', format: 'der' }));
    if (type === 'ec') shapes.push(Buffer.from(privateKey.export({ type: 'sec1', format: 'pem' })));
    for (const file of shapes) {
      const r = registrationFromFile(file, {});
      expect(r.objectType).toBe(ObjectType.PrivateKey);
      expect(keyBytes(r).equals(pkcs8)).toBe(true);
      expect(r.description).toContain('private key, PKCS#8');
      expect(r.attributes.map((a) => itemValue(a.value))).toEqual([enumNameOf(algorithm), length]);
    }
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    for (const file of [Buffer.from(publicKey.export({ type: 'spki', format: 'pem' })), spki]) {
      const r = registrationFromFile(file, {});
      expect(r.objectType).toBe(ObjectType.PublicKey);
      expect(keyBytes(r).equals(spki)).toBe(true);
    }
  });

  test('an encrypted PEM key is refused with the way out; a PEM block of another kind is named', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const encrypted = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' });
    expect(() => registrationFromFile(Buffer.from(encrypted), {})).toThrow(/is encrypted: decrypt it first/);
    expect(() => registrationFromFile(Buffer.from('-----BEGIN CERTIFICATE REQUEST-----\nAA==\n-----END CERTIFICATE REQUEST-----\n'), {})).toThrow(
      'a PEM CERTIFICATE REQUEST block is not something kmip registers',
    );
  });

  test('raw bytes: a symmetric key (AES unless told), secret data with --type; --format der on raw bytes is refused', () => {
    const bytes = Buffer.alloc(24, 7);
    const aes = registrationFromFile(bytes, {});
    expect(aes).toMatchObject({ objectType: ObjectType.SymmetricKey, description: 'AES 192-bit symmetric key' });
    expect(keyBytes(aes).equals(bytes)).toBe(true);
    expect(registrationFromFile(bytes, { algorithm: CryptographicAlgorithm.ChaCha20 }).description).toBe('ChaCha20 192-bit symmetric key');
    const secret = registrationFromFile(bytes, { objectType: ObjectType.SecretData });
    expect(secret.objectType).toBe(ObjectType.SecretData);
    expect(secret.object.tag).toBe(Tag.SecretData);
    expect(() => registrationFromFile(bytes, { format: 'der' })).toThrow(UsageError);
    expect(() => registrationFromFile(Buffer.alloc(0), {})).toThrow('the file is empty');
  });
});

function enumNameOf(value: number): string {
  return Object.entries(CryptographicAlgorithm).find(([, v]) => v === value)![0];
}

describe('names as people type them', () => {
  test('any spelling of a spec name, or its number', () => {
    for (const text of ['SymmetricKey', 'symmetric-key', 'Symmetric Key', 'SYMMETRIC_KEY', '2', '0x2']) {
      expect(enumValue('ObjectType', text)).toBe(ObjectType.SymmetricKey);
    }
    expect(enumValue('HashingAlgorithm', 'sha-256')).toBe(Enums.HashingAlgorithm.SHA_256);
    expect(() => enumValue('ObjectType', 'banana')).toThrow(/^unknown object type "banana" \(one of: Certificate, SymmetricKey/);
  });

  test('--attribute values read by the attribute table: enumerations, masks, dates, numbers, bytes; custom ones as text', () => {
    expect(attributeFromText('Cryptographic Algorithm', 'aes').value).toEqual(ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES));
    expect(attributeFromText('Cryptographic Usage Mask', 'Sign,Verify').value).toEqual(
      ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Sign | CryptographicUsageMask.Verify),
    );
    expect(attributeFromText('Activation Date', '2026-01-31T12:00:00Z').value).toEqual(ttlv.dateTime(Tag.ActivationDate, 1_769_860_800n));
    expect(attributeFromText('Cryptographic Length', '128').value).toEqual(ttlv.integer(Tag.CryptographicLength, 128));
    expect(attributeFromText('x-owner', 'bob').value).toEqual(ttlv.textString(Tag.AttributeValue, 'bob'));
    expect(() => attributeFromText('Cryptographic Length', 'long')).toThrow('Cryptographic Length takes a whole number');
    expect(() => attributeFromText('Activation Date', 'tomorrow')).toThrow(/ISO 8601/);
    expect(() => attributeFromText('Cryptographic Algorithm', 'rot13')).toThrow(/^unknown Cryptographic Algorithm "rot13"/);
  });

  test('masks from comma or bar lists', () => {
    expect(maskValue('CryptographicUsageMask', 'encrypt, Decrypt')).toBe(CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt);
    expect(maskValue('CryptographicUsageMask', 'Sign|Verify')).toBe(CryptographicUsageMask.Sign | CryptographicUsageMask.Verify);
  });

  test('values printed by name: enumerations, masks, dates, bytes, structures', () => {
    expect(itemValue(ttlv.enumeration(Tag.State, Enums.State.Active))).toBe('Active');
    expect(itemValue(ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt))).toEqual(['Encrypt', 'Decrypt']);
    expect(itemValue(ttlv.dateTime(Tag.ActivationDate, 1_700_000_000n))).toBe('2023-11-14T22:13:20Z');
    expect(itemValue(ttlv.byteString(Tag.IVCounterNonce, Uint8Array.of(1, 255)))).toBe('01ff');
    expect(itemValue(ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, 'k'), ttlv.enumeration(Tag.NameType, 1)]))).toEqual({
      NameValue: 'k',
      NameType: 'UninterpretedTextString',
    });
  });
});

describe('encodeObject', () => {
  test('PEM output of private and public keys parses back to the same key', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const block = (format: number, material: Uint8Array) => ({ keyFormatType: format, keyMaterial: material });
    const got = (objectType: number, format: number, material: Uint8Array): GetResult =>
      ({ objectType, uniqueIdentifier: 'x', keyBlock: block(format, material) }) as unknown as GetResult;
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
    const pem = encodeObject(got(ObjectType.PrivateKey, KeyFormatType.PKCS_8, pkcs8), 'pem').toString();
    // The PEM label spelled out of parts: no file of the project holds a private-key header.
    const label = ['PRIVATE', 'KEY'].join(' ');
    expect(pem).toMatch(new RegExp(`^-----BEGIN ${label}-----\\n([A-Za-z0-9+/=]{64}\\n)+[A-Za-z0-9+/=]{1,64}\\n-----END ${label}-----\\n$`));
    expect(createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' }).equals(pkcs8)).toBe(true);
    const pkcs1 = publicKey.export({ type: 'pkcs1', format: 'der' });
    const pub = encodeObject(got(ObjectType.PublicKey, KeyFormatType.PKCS_1, pkcs1), 'pem').toString();
    expect(pub.startsWith('-----BEGIN RSA PUBLIC KEY-----\n')).toBe(true);
    expect(createPublicKey(pub).export({ type: 'pkcs1', format: 'der' }).equals(pkcs1)).toBe(true);
    const transparent = { objectType: ObjectType.PrivateKey, keyBlock: { keyFormatType: KeyFormatType.TransparentRSAPrivateKey, keyMaterial: ttlv.structure(Tag.KeyMaterial, []) } };
    expect(() => encodeObject(transparent as unknown as GetResult, 'pem')).toThrow(/no byte form/);
  });
});
