/** AES Key Wrap against the RFC 3394 and RFC 5649 test vectors, both directions. */
import { aesKeyUnwrap, aesKeyWrap } from '../../../src/objects/key-wrap';
import { KmipError } from '../../../src/kmip/errors';
import { ResultReason } from '../../../src/spec/generated/enums';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test.each([
  // RFC 3394 4.1: 128-bit KEK, 128-bit key.
  ['000102030405060708090A0B0C0D0E0F', '00112233445566778899AABBCCDDEEFF', '1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5'],
  // RFC 3394 4.6: 256-bit KEK, 256-bit key.
  [
    '000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F',
    '00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F',
    '28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21',
  ],
])('RFC 3394: KEK %s', (kek, key, wrapped) => {
  expect(Buffer.from(aesKeyWrap(hex(kek), hex(key), false)).equals(hex(wrapped))).toBe(true);
  expect(Buffer.from(aesKeyUnwrap(hex(kek), hex(wrapped), false)).equals(hex(key))).toBe(true);
});

test.each([
  // RFC 5649 section 6: 192-bit KEK, a 20-byte and a 7-byte key.
  ['5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8', 'c37b7e6492584340 bed1220780894115 5068f738', '138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a'],
  ['5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8', '466f7250617369', 'afbeb0f07dfbf541 9200f2ccb50bb24f'],
])('RFC 5649: key %s', (kek, key, wrapped) => {
  expect(Buffer.from(aesKeyWrap(hex(kek), hex(key), true)).equals(hex(wrapped))).toBe(true);
  expect(Buffer.from(aesKeyUnwrap(hex(kek), hex(wrapped), true)).equals(hex(key))).toBe(true);
});

test('a wrong key or damaged input fails the integrity check; RFC 3394 needs whole 8-byte blocks', () => {
  const kek = Buffer.alloc(32, 1);
  const wrapped = Buffer.from(aesKeyWrap(kek, Buffer.alloc(32, 2), false));
  wrapped[5]! ^= 1;
  expect(() => aesKeyUnwrap(kek, wrapped, false)).toThrow(KmipError);
  expect(() => aesKeyWrap(kek, Buffer.alloc(7), false)).toThrow(expect.objectContaining({ reason: ResultReason.BadCryptographicParameters }));
  expect(() => aesKeyWrap(Buffer.alloc(20), Buffer.alloc(16), false)).toThrow(KmipError);
});
