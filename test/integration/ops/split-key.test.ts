/**
 * Create Split Key and Join Split Key (KMIP 1.2 on), Split Key and PGP Key objects through
 * Register / Get, against a real SQLite store and SoftHSM2 token, in KMIP 1.4 and 2.1.
 */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { CryptographicAlgorithm, KeyFormatType, ObjectType, Operation, ResultReason, SplitKeyMethod } from '../../../src/spec/generated/enums';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { allOf, attributesFor, find, successPayload, textOf } from '../../helpers/kmip-client';
import { ENCRYPT_DECRYPT, VERSIONS, aesTemplate, createAes, failure, getKeyBytes, openHarness, uidItem, V14, V21, type Harness } from '../../helpers/ops-harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness('split-key');
});
afterAll(async () => {
  await h.close();
});

const PRIME_129 = (1n << 128n) + 51n; // the least prime above 2^128

function splitFields(parts: number, threshold: number, method: number, prime?: bigint): TtlvItem[] {
  const out: TtlvItem[] = [
    ttlv.integer(Tag.SplitKeyParts, parts),
    ttlv.integer(Tag.SplitKeyThreshold, threshold),
    ttlv.enumeration(Tag.SplitKeyMethod, method),
  ];
  if (prime !== undefined) out.push(ttlv.bigInteger(Tag.PrimeFieldSize, prime));
  return out;
}

async function createSplit(v: ProtocolVersion, fields: TtlvItem[], attrs: KmipAttribute[], existing?: string, objectType: number = ObjectType.SymmetricKey): Promise<string[]> {
  const payload: TtlvItem[] = [ttlv.enumeration(Tag.ObjectType, objectType)];
  if (existing) payload.push(uidItem(existing));
  payload.push(...fields, attributesFor(v, attrs));
  const p = successPayload(await h.send(v, Operation.CreateSplitKey, payload));
  return allOf(p, Tag.UniqueIdentifier).map((i) => (i.type === ItemType.TextString ? i.value : ''));
}

async function join(v: ProtocolVersion, uids: string[], attrs: KmipAttribute[] = [], objectType: number = ObjectType.SymmetricKey) {
  return h.send(v, Operation.JoinSplitKey, [ttlv.enumeration(Tag.ObjectType, objectType), ...uids.map(uidItem), attributesFor(v, attrs)]);
}

async function getSplit(v: ProtocolVersion, uid: string): Promise<TtlvStructure> {
  const p = successPayload(await h.send(v, Operation.Get, [uidItem(uid)]));
  expect(find(p, Tag.ObjectType)?.value).toBe(ObjectType.SplitKey);
  return find(p, Tag.SplitKey) as TtlvStructure;
}

describe.each(VERSIONS)('KMIP %s Create Split Key / Join Split Key', (_label, v) => {
  test.each([
    ['XOR, 3 of 3', SplitKeyMethod.XOR, 3, 3, undefined, [0, 1, 2]],
    ['GF(2^8), 3 of 5', SplitKeyMethod.PolynomialSharingGF2_8, 5, 3, undefined, [4, 0, 2]],
    ['GF(2^16), 2 of 4', SplitKeyMethod.PolynomialSharingGF2_16, 4, 2, undefined, [3, 1]],
    ['prime field, 2 of 3', SplitKeyMethod.PolynomialSharingPrimeField, 3, 2, PRIME_129, [2, 1]],
  ])('splitting an existing AES key (%s) and joining the parts gives the same key', async (_n, method, parts, threshold, prime, pick) => {
    const key = await createAes(h, v, [], ENCRYPT_DECRYPT, undefined, 128);
    const uids = await createSplit(v, splitFields(parts, threshold, method, prime), [], key);
    expect(uids).toHaveLength(parts);
    // Each part is a Split Key object carrying the split's fields, in Key Part Identifier order.
    for (const [i, uid] of uids.entries()) {
      const body = await getSplit(v, uid);
      expect(find(body, Tag.KeyPartIdentifier)?.value).toBe(i + 1);
      expect(find(body, Tag.SplitKeyParts)?.value).toBe(parts);
      expect(find(body, Tag.SplitKeyThreshold)?.value).toBe(threshold);
      expect(find(body, Tag.SplitKeyMethod)?.value).toBe(method);
      const block = find(body, Tag.KeyBlock) as TtlvStructure;
      expect(find(block, Tag.CryptographicAlgorithm)?.value).toBe(CryptographicAlgorithm.AES);
      expect(find(block, Tag.CryptographicLength)?.value).toBe(128);
    }
    const joined = textOf(successPayload(await join(v, pick.map((i) => uids[i] as string), aesTemplate(undefined, ENCRYPT_DECRYPT, 128).slice(2))), Tag.UniqueIdentifier)!;
    expect(joined).not.toBe(key);
    expect((await getKeyBytes(h, v, joined)).equals(await getKeyBytes(h, v, key))).toBe(true);
  });

  test('a new key generated and split; the ID Placeholder names part 1 (Get in the same batch)', async () => {
    const r = await h.batch(v, [
      { operation: Operation.CreateSplitKey, payload: [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), ...splitFields(3, 2, SplitKeyMethod.PolynomialSharingGF2_8), attributesFor(v, aesTemplate(undefined, ENCRYPT_DECRYPT, 256))] },
      { operation: Operation.Get, payload: [] },
    ]);
    const uids = allOf(r.items[0]!.payload!, Tag.UniqueIdentifier).map((i) => i.value);
    expect(r.items[1]!.payload && find(r.items[1]!.payload, Tag.UniqueIdentifier)?.value).toBe(uids[0]);
    const body = find(r.items[1]!.payload!, Tag.SplitKey) as TtlvStructure;
    expect(find(body, Tag.KeyPartIdentifier)?.value).toBe(1);
    const joined = textOf(successPayload(await join(v, [uids[0] as string, uids[2] as string])), Tag.UniqueIdentifier)!;
    expect((await getKeyBytes(h, v, joined)).length).toBe(32);
  });

  test('fewer parts than the threshold: Cryptographic Failure', async () => {
    const uids = await createSplit(v, splitFields(4, 3, SplitKeyMethod.PolynomialSharingGF2_8), aesTemplate(undefined, ENCRYPT_DECRYPT, 128));
    expect(failure(await join(v, uids.slice(0, 2)))).toBe(ResultReason.CryptographicFailure);
  });

  test('parts of two different splits do not join; a key that is not a Split Key is refused', async () => {
    const a = await createSplit(v, splitFields(3, 2, SplitKeyMethod.PolynomialSharingGF2_8), aesTemplate(undefined, ENCRYPT_DECRYPT, 128));
    const b = await createSplit(v, splitFields(3, 2, SplitKeyMethod.PolynomialSharingGF2_16), aesTemplate(undefined, ENCRYPT_DECRYPT, 128));
    expect(failure(await join(v, [a[0] as string, b[1] as string]))).toBe(ResultReason.InvalidField);
    const plain = await createAes(h, v);
    expect(failure(await join(v, [a[0] as string, plain]))).toBe(v.major >= 2 ? ResultReason.InvalidObjectType : ResultReason.InvalidField);
  });

  test('bad split parameters are Invalid Field: XOR with a threshold, a prime that is too small, a threshold above the parts', async () => {
    const attrs = aesTemplate(undefined, ENCRYPT_DECRYPT, 128);
    const send = (fields: TtlvItem[]) => h.send(v, Operation.CreateSplitKey, [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), ...fields, attributesFor(v, attrs)]);
    expect(failure(await send(splitFields(3, 2, SplitKeyMethod.XOR)))).toBe(ResultReason.InvalidField);
    expect(failure(await send(splitFields(3, 2, SplitKeyMethod.PolynomialSharingPrimeField, 251n)))).toBe(ResultReason.InvalidField);
    expect(failure(await send(splitFields(3, 4, SplitKeyMethod.PolynomialSharingGF2_8)))).toBe(ResultReason.InvalidField);
  });

  test('a key that is not Extractable cannot be handed out in parts', async () => {
    const key = await createAes(h, v, [{ name: 'Extractable', value: ttlv.boolean(Tag.Extractable, false) }]);
    const r = await h.send(v, Operation.CreateSplitKey, [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), uidItem(key), ...splitFields(2, 2, SplitKeyMethod.XOR), attributesFor(v, [])]);
    // Not Extractable exists from 1.4 on (earlier versions get Permission Denied).
    expect(failure(r)).toBe(ResultReason.NotExtractable);
  });

  test('another client cannot split or join this client\'s objects', async () => {
    const key = await createAes(h, v);
    const parts = await createSplit(v, splitFields(2, 2, SplitKeyMethod.XOR), [], key);
    const mallory = { name: 'mallory', isAdmin: false };
    const notFound = v.major >= 2 ? ResultReason.ObjectNotFound : ResultReason.ItemNotFound;
    const split = await h.send(v, Operation.CreateSplitKey, [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), uidItem(key), ...splitFields(2, 2, SplitKeyMethod.XOR), attributesFor(v, [])], mallory);
    expect(failure(split)).toBe(notFound);
    const joined = await h.send(v, Operation.JoinSplitKey, [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), ...parts.map(uidItem), attributesFor(v, [])], mallory);
    expect(failure(joined)).toBe(notFound);
  });
});

describe('Split Key and PGP Key objects through Register and Get', () => {
  test.each(VERSIONS)('KMIP %s: a registered Split Key part is returned as given; a malformed one is refused', async (_label, v) => {
    const share = Buffer.alloc(16, 0x42);
    const block = ttlv.structure(Tag.KeyBlock, [
      ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
      ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, share)]),
      ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
      ttlv.integer(Tag.CryptographicLength, 128),
    ]);
    const body = (x: number) =>
      ttlv.structure(Tag.SplitKey, [
        ttlv.integer(Tag.SplitKeyParts, 3),
        ttlv.integer(Tag.KeyPartIdentifier, x),
        ttlv.integer(Tag.SplitKeyThreshold, 2),
        ttlv.enumeration(Tag.SplitKeyMethod, SplitKeyMethod.PolynomialSharingGF2_8),
        block,
      ]);
    const reg = (x: number) => h.send(v, Operation.Register, [ttlv.enumeration(Tag.ObjectType, ObjectType.SplitKey), attributesFor(v, []), body(x)]);
    const uid = textOf(successPayload(await reg(2)), Tag.UniqueIdentifier)!;
    const got = await getSplit(v, uid);
    expect(find(got, Tag.KeyPartIdentifier)?.value).toBe(2);
    expect(failure(await reg(4))).toBe(ResultReason.InvalidField);
  });

  const ARMOURED = Buffer.from('-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ0000BYJKwYBBAHaRw8BAQdA\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n');
  const pgpBody = (version: number) =>
    ttlv.structure(Tag.PGPKey, [
      ttlv.integer(Tag.PGPKeyVersion, version),
      ttlv.structure(Tag.KeyBlock, [ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, ARMOURED)])]),
    ]);

  test.each([
    ['1.2', { major: 1, minor: 2 }],
    ['1.4', V14],
    ['2.1', V21],
  ] as const)('KMIP %s: a PGP Key is registered, found and returned as the opaque blob it is', async (_label, v) => {
    const r = await h.send(v, Operation.Register, [ttlv.enumeration(Tag.ObjectType, ObjectType.PGPKey), attributesFor(v, []), pgpBody(4)]);
    const uid = textOf(successPayload(r), Tag.UniqueIdentifier)!;
    const p = successPayload(await h.send(v, Operation.Get, [uidItem(uid)]));
    expect(find(p, Tag.ObjectType)?.value).toBe(ObjectType.PGPKey);
    const body = find(p, Tag.PGPKey) as TtlvStructure;
    expect(find(body, Tag.PGPKeyVersion)?.value).toBe(4);
    const km = find(find(find(body, Tag.KeyBlock) as TtlvStructure, Tag.KeyValue) as TtlvStructure, Tag.KeyMaterial);
    expect(km?.type === ItemType.ByteString && Buffer.from(km.value).equals(ARMOURED)).toBe(true);
    const located = successPayload(await h.send(v, Operation.Locate, [attributesFor(v, [{ name: 'Object Type', value: ttlv.enumeration(Tag.ObjectType, ObjectType.PGPKey) }])]));
    expect(allOf(located, Tag.UniqueIdentifier).map((i) => i.value)).toContain(uid);
  });

  test('a PGP Key Version other than 3 or 4 is Invalid Field', async () => {
    const r = await h.send(V14, Operation.Register, [ttlv.enumeration(Tag.ObjectType, ObjectType.PGPKey), attributesFor(V14, []), pgpBody(5)]);
    expect(failure(r)).toBe(ResultReason.InvalidField);
  });

  test('Query Objects lists Split Key and PGP Key; Query Operations the new operations', async () => {
    const p = successPayload(
      await h.send(V14, Operation.Query, [ttlv.enumeration(Tag.QueryFunction, 1), ttlv.enumeration(Tag.QueryFunction, 2)]),
    );
    const ops = allOf(p, Tag.Operation).map((i) => i.value);
    for (const op of [Operation.CreateSplitKey, Operation.JoinSplitKey, Operation.DeriveKey, Operation.Certify, Operation.ReCertify, Operation.ObtainLease, Operation.GetUsageAllocation, Operation.Poll, Operation.Cancel]) {
      expect(ops).toContain(op);
    }
    const types = allOf(p, Tag.ObjectType).map((i) => i.value);
    expect(types).toEqual(expect.arrayContaining([ObjectType.SplitKey, ObjectType.PGPKey]));
    // 1.1 has neither the split-key operations nor PGP Key.
    const old = successPayload(await h.send({ major: 1, minor: 1 }, Operation.Query, [ttlv.enumeration(Tag.QueryFunction, 1), ttlv.enumeration(Tag.QueryFunction, 2)]));
    expect(allOf(old, Tag.Operation).map((i) => i.value)).not.toContain(Operation.CreateSplitKey);
    expect(allOf(old, Tag.ObjectType).map((i) => i.value)).not.toContain(ObjectType.PGPKey);
  });
});


