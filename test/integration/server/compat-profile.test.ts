/**
 * The "pykmip" compatibility profile, in-process over a real store and token: new objects of 1.x
 * clients get Operation Policy Name "default" (pykmip-server's behaviour, which its clients Locate
 * by); 2.x clients, and every client under the default profile, get none. Derive Key's HMAC and
 * NIST SP 800-108 methods compute what pykmip-server computes. A profile is chosen by
 * configuration, so the same requests against a core without it must show no trace of it.
 */
import { createHmac } from 'node:crypto';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag, TAG_INFO } from '../../../src/spec/generated/tags';
import { CryptographicAlgorithm, CryptographicUsageMask, DerivationMethod, HashingAlgorithm, KeyFormatType, ObjectType, Operation, ResultReason, SecretDataType } from '../../../src/spec/generated/enums';
import { COMPAT_PROFILES } from '../../../src/compat/profiles';
import type { ProtocolVersion } from '../../../src/spec/versions';
import type { ClientIdentity } from '../../../src/objects/context';
import { attributesFor, find, successPayload, textOf } from '../../helpers/kmip-client';
import { alice, attributeValues, bob, createAes, openHarness, type Harness } from '../../helpers/ops-harness';

const V1X: ProtocolVersion[] = [0, 1, 2, 3, 4].map((minor) => ({ major: 1, minor }));
const V2X: ProtocolVersion[] = [0, 1].map((minor) => ({ major: 2, minor }));
const name = (v: ProtocolVersion) => `${v.major}.${v.minor}`;

let pykmip: Harness;
/** A second core without a profile, over its own store, sharing the token (one per process). */
let plain: Harness;
beforeAll(async () => {
  pykmip = await openHarness('compat-pykmip', { compat: COMPAT_PROFILES.pykmip });
  plain = await openHarness('compat-none', { keys: pykmip.embedded.core.keys });
}, 60_000);
afterAll(async () => {
  await plain.close();
  await pykmip.close();
});

async function policyName(h: Harness, uid: string): Promise<string | undefined> {
  const attr = (await h.embedded.store.get(uid))!.attributes.find((a) => a.name === 'Operation Policy Name');
  return attr && attr.value.type === ItemType.TextString ? attr.value.value : undefined;
}

async function registerSecret(h: Harness, v: ProtocolVersion, extra: { name: string; value: TtlvItem }[] = [], client?: ClientIdentity): Promise<string> {
  const r = await h.send(v, Operation.Register, [
    ttlv.enumeration(Tag.ObjectType, ObjectType.SecretData),
    attributesFor(v, [{ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, 0) }, ...extra]),
    ttlv.structure(Tag.SecretData, [
      ttlv.enumeration(Tag.SecretDataType, SecretDataType.Password),
      ttlv.structure(Tag.KeyBlock, [
        ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque),
        ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, Buffer.from('correct horse battery staple'))]),
      ]),
    ]),
  ], client);
  return textOf(successPayload(r), Tag.UniqueIdentifier)!;
}

async function locateByPolicy(h: Harness, v: ProtocolVersion, policy: string): Promise<string[]> {
  const p = successPayload(
    await h.send(v, Operation.Locate, [ttlv.structure(Tag.Attribute, [ttlv.textString(Tag.AttributeName, 'Operation Policy Name'), ttlv.textString(Tag.AttributeValue, policy)])]),
  );
  return p.value.filter((c) => c.tag === Tag.UniqueIdentifier).map((c) => c.value as string);
}

describe.each(V1X.map((v) => [name(v), v] as const))('pykmip profile, KMIP %s client', (_n, v) => {
  test('Create and Register give Operation Policy Name "default"; Get Attributes shows it; Locate finds by it', async () => {
    const key = await createAes(pykmip, v);
    const secret = await registerSecret(pykmip, v);
    expect([await policyName(pykmip, key), await policyName(pykmip, secret)]).toEqual(['default', 'default']);
    const shown = await attributeValues(pykmip, v, key, 'Operation Policy Name');
    expect(shown.map((i) => i.value)).toEqual(['default']);
    const found = await locateByPolicy(pykmip, v, 'default');
    expect(found).toEqual(expect.arrayContaining([key, secret]));
  });

  test('Create Key Pair gives both keys the policy', async () => {
    const r = await pykmip.send(v, Operation.CreateKeyPair, [
      ttlv.structure(Tag.CommonTemplateAttribute, [
        ttlv.structure(Tag.Attribute, [ttlv.textString(Tag.AttributeName, 'Cryptographic Algorithm'), ttlv.enumeration(Tag.AttributeValue, CryptographicAlgorithm.RSA)]),
        ttlv.structure(Tag.Attribute, [ttlv.textString(Tag.AttributeName, 'Cryptographic Length'), ttlv.integer(Tag.AttributeValue, 2048)]),
      ]),
      ttlv.structure(Tag.PrivateKeyTemplateAttribute, [ttlv.structure(Tag.Attribute, [ttlv.textString(Tag.AttributeName, 'Cryptographic Usage Mask'), ttlv.integer(Tag.AttributeValue, 1)])]),
      ttlv.structure(Tag.PublicKeyTemplateAttribute, [ttlv.structure(Tag.Attribute, [ttlv.textString(Tag.AttributeName, 'Cryptographic Usage Mask'), ttlv.integer(Tag.AttributeValue, 2)])]),
    ]);
    const p = successPayload(r);
    const priv = textOf(p, Tag.PrivateKeyUniqueIdentifier)!;
    const pub = textOf(p, Tag.PublicKeyUniqueIdentifier)!;
    expect([await policyName(pykmip, priv), await policyName(pykmip, pub)]).toEqual(['default', 'default']);
  }, 60_000);

  test('a policy name the client sets is kept', async () => {
    const uid = await registerSecret(pykmip, v, [{ name: 'Operation Policy Name', value: ttlv.textString(Tag.OperationPolicyName, 'mine') }]);
    expect(await policyName(pykmip, uid)).toBe('mine');
    expect(await locateByPolicy(pykmip, v, 'default')).not.toContain(uid);
  });
});

test.each(V2X.map((v) => [name(v), v] as const))('pykmip profile, KMIP %s client: no Operation Policy Name (a 1.x attribute)', async (_n, v) => {
  const key = await createAes(pykmip, v);
  expect(await policyName(pykmip, key)).toBeUndefined();
});

test.each(V1X.map((v) => [name(v), v] as const))('no profile, KMIP %s client: no Operation Policy Name, Locate by "default" finds nothing', async (_n, v) => {
  const key = await createAes(plain, v, [], undefined, bob);
  const secret = await registerSecret(plain, v, [], bob);
  expect([await policyName(plain, key), await policyName(plain, secret)]).toEqual([undefined, undefined]);
  expect(await locateByPolicy(plain, v, 'default')).toEqual([]);
});

describe('Derive Key as pykmip-server computes it (profile) and as the spec reads (no profile)', () => {
  const v: ProtocolVersion = { major: 1, minor: 2 };
  const registerSeed = async (h: Harness, client: ClientIdentity, material: Buffer): Promise<string> => {
    const r = await h.send(
      v,
      Operation.Register,
      [
        ttlv.enumeration(Tag.ObjectType, ObjectType.SecretData),
        attributesFor(v, [{ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.DeriveKey) }]),
        ttlv.structure(Tag.SecretData, [
          ttlv.enumeration(Tag.SecretDataType, SecretDataType.Seed),
          ttlv.structure(Tag.KeyBlock, [ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, material)])]),
        ]),
      ],
      client,
    );
    return textOf(successPayload(r), Tag.UniqueIdentifier)!;
  };
  const derive = async (h: Harness, client: ClientIdentity, base: string, method: number, hash: number, data: Buffer, bits: number) => {
    const r = await h.send(
      v,
      Operation.DeriveKey,
      [
        ttlv.enumeration(Tag.ObjectType, ObjectType.SecretData),
        ttlv.textString(Tag.UniqueIdentifier, base),
        ttlv.enumeration(Tag.DerivationMethod, method),
        ttlv.structure(Tag.DerivationParameters, [
          ttlv.structure(Tag.CryptographicParameters, [ttlv.enumeration(Tag.HashingAlgorithm, hash)]),
          ttlv.byteString(Tag.DerivationData, data),
          ttlv.byteString(Tag.Salt, Buffer.alloc(0)),
        ]),
        attributesFor(v, [{ name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, bits) }]),
      ],
      client,
    );
    return r;
  };
  const material = async (h: Harness, client: ClientIdentity, uid: string): Promise<Buffer> => {
    const p = successPayload(await h.send(v, Operation.Get, [ttlv.textString(Tag.UniqueIdentifier, uid)], client));
    const km = find(find(find(find(p, Tag.SecretData) as TtlvStructure, Tag.KeyBlock) as TtlvStructure, Tag.KeyValue) as TtlvStructure, Tag.KeyMaterial);
    if (km?.type !== ItemType.ByteString) throw new Error('no key material');
    return Buffer.from(km.value);
  };

  test('HMAC: HKDF under the profile (RFC 5869 test case 7, 336 bits); one HMAC output at most without it', async () => {
    const ikm = Buffer.alloc(22, 0x0c);
    const expected = Buffer.from('2c91117204d745f3500d636a62f64f0ab3bae548aa53d423b0d1f27ebba6f5e5673a081d70cce7acfc48', 'hex');
    const base = await registerSeed(pykmip, alice, ikm);
    const derived = textOf(successPayload(await derive(pykmip, alice, base, DerivationMethod.HMAC, HashingAlgorithm.SHA_1, Buffer.alloc(0), 336)), Tag.UniqueIdentifier)!;
    expect((await material(pykmip, alice, derived)).toString('hex')).toBe(expected.toString('hex'));
    const plainBase = await registerSeed(plain, bob, ikm);
    const refused = await derive(plain, bob, plainBase, DerivationMethod.HMAC, HashingAlgorithm.SHA_1, Buffer.alloc(0), 336);
    expect(refused.items[0]!.reason).toBe(ResultReason.CryptographicFailure);
    const hmac = textOf(successPayload(await derive(plain, bob, plainBase, DerivationMethod.HMAC, HashingAlgorithm.SHA_1, Buffer.from('data'), 160)), Tag.UniqueIdentifier)!;
    expect((await material(plain, bob, hmac)).equals(createHmac('sha1', ikm).update('data').digest())).toBe(true);
  });

  test('NIST SP 800-108 counter mode: the Derivation Data as the whole fixed input with HMAC of the Hashing Algorithm under the profile only', async () => {
    const key = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff));
    const fixed = Buffer.from('fixed input data: label, context and length as the client encodes them');
    const counter = (i: number) => Buffer.from([0, 0, 0, i]);
    const block = (i: number, suffix: Buffer) => createHmac('sha512', key).update(Buffer.concat([counter(i), fixed, suffix])).digest();
    const base = await registerSeed(pykmip, alice, key);
    const uid = textOf(successPayload(await derive(pykmip, alice, base, DerivationMethod.NIST800_108_C, HashingAlgorithm.SHA_512, fixed, 1024)), Tag.UniqueIdentifier)!;
    expect((await material(pykmip, alice, uid)).equals(Buffer.concat([block(1, Buffer.alloc(0)), block(2, Buffer.alloc(0))]))).toBe(true);
    const plainBase = await registerSeed(plain, bob, key);
    const plainUid = textOf(successPayload(await derive(plain, bob, plainBase, DerivationMethod.NIST800_108_C, HashingAlgorithm.SHA_512, fixed, 1024)), Tag.UniqueIdentifier)!;
    // Without the profile the spec's reading applies ([L]32 appended; its PRF choice is not this
    // file's subject): the profile's answer must not leak into it.
    const got = await material(plain, bob, plainUid);
    expect(got).toHaveLength(128);
    expect(got.equals(Buffer.concat([block(1, Buffer.alloc(0)), block(2, Buffer.alloc(0))]))).toBe(false);
  });
});

describe('Get Attributes with no attribute named', () => {
  const allOf = async (h: Harness, v: ProtocolVersion, client: ClientIdentity, uid: string): Promise<TtlvStructure[]> => {
    const p = successPayload(await h.send(v, Operation.GetAttributes, [ttlv.textString(Tag.UniqueIdentifier, uid)], client));
    if (v.major >= 2) {
      // 2.x: one Attributes structure of typed attributes (vendor ones as Attribute structures).
      const attrs = find(p, Tag.Attributes) as TtlvStructure;
      return attrs.value.map((a) => (a.tag === Tag.Attribute ? (a as TtlvStructure) : ttlv.structure(Tag.Attribute, [ttlv.textString(Tag.AttributeName, TAG_INFO.get(a.tag)?.name ?? '?')])));
    }
    return p.value.filter((c): c is TtlvStructure => c.tag === Tag.Attribute && c.type === ItemType.Structure);
  };
  const names = (attrs: TtlvStructure[]) => attrs.map((a) => (textOf(a, Tag.VendorIdentification) ? `${textOf(a, Tag.VendorIdentification)}-${textOf(a, Tag.AttributeName)}` : textOf(a, Tag.AttributeName)));

  test.each([...V1X.filter((v) => v.minor >= 2), ...V2X].map((v) => [name(v), v] as const))('KMIP %s: under the profile only what PyKMIP reads; named ones still come; without it everything', async (_label, v) => {
    const mine = await createAes(pykmip, v, [{ name: 'x-tenant', value: ttlv.textString(Tag.AttributeValue, 'blue') }], CryptographicUsageMask.Encrypt, alice);
    const readable = COMPAT_PROFILES.pykmip.allAttributesReadable!;
    const unreadable = (list: (string | undefined)[]) => list.filter((n) => n !== undefined && !readable.has(n) && !n.startsWith('x-'));
    const got = names(await allOf(pykmip, v, alice, mine));
    expect(got).toEqual(expect.arrayContaining(['Unique Identifier', 'State', 'Cryptographic Algorithm', 'Digest', 'x-tenant']));
    expect(unreadable(got)).toEqual([]);
    // A client that names one still gets it.
    expect((await attributeValues(pykmip, v, mine, 'Original Creation Date', v.major >= 2 ? Tag.OriginalCreationDate : undefined, alice)).length).toBe(1);
    // Without the profile, "all" is all: Original Creation Date (1.2 on) among them.
    const theirs = await createAes(plain, v, [], CryptographicUsageMask.Encrypt, bob);
    expect(unreadable(names(await allOf(plain, v, bob, theirs)))).toContain('Original Creation Date');
  });

  test('KMIP 1.0: the Digest keeps its Key Format Type under the profile only (PyKMIP reads one in every version)', async () => {
    const v = { major: 1, minor: 0 };
    const digestOf = async (h: Harness, client: ClientIdentity, uid: string) => {
      const d = (await allOf(h, v, client, uid)).find((a) => textOf(a, Tag.AttributeName) === 'Digest')!;
      return find(d, Tag.AttributeValue) as TtlvStructure;
    };
    const mine = await createAes(pykmip, v, [], CryptographicUsageMask.Encrypt, alice);
    expect(find(await digestOf(pykmip, alice, mine), Tag.KeyFormatType)?.value).toBe(KeyFormatType.Raw);
    const theirs = await createAes(plain, v, [], CryptographicUsageMask.Encrypt, bob);
    expect(find(await digestOf(plain, bob, theirs), Tag.KeyFormatType)).toBeUndefined();
  });
});
