/**
 * Legacy key sizes behind the operator's cryptographic policy (config cryptoPolicy, profile legacy;
 * crypto.allowLegacy is its older name), through handleMessage over a real store and token: under
 * the default profile Create Key Pair and Re-key Key Pair refuse RSA-1024 with a message naming the
 * policy rule; under the legacy profile they make a real 1024-bit key. Registering an existing
 * 1024-bit key is not a generation and stays allowed either way (the OASIS BL cases register one).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, ObjectType, Operation, ResultReason } from '../../../src/spec/generated/enums';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { attributesFor, find, successPayload, textOf } from '../../helpers/kmip-client';
import { LEGACY_CRYPTO_POLICY } from '../../../src/crypto/policy-profiles';
import { VERSIONS, bytesOf, failure, keyBlockOf, openHarness, uidItem, type Harness } from '../../helpers/ops-harness';

let strict: Harness;
let legacy: Harness;
beforeAll(async () => {
  strict = await openHarness('legacy-off');
  legacy = await openHarness('legacy-on', { crypto: LEGACY_CRYPTO_POLICY, keys: strict.embedded.core.keys });
});
afterAll(async () => {
  await legacy.close();
  await strict.close();
});

const attr = (name: string, value: TtlvItem): KmipAttribute => ({ name, value });
const rsa = (bits: number): KmipAttribute[] => [
  attr('Cryptographic Algorithm', ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.RSA)),
  attr('Cryptographic Length', ttlv.integer(Tag.CryptographicLength, bits)),
];
const usage = (m: number): KmipAttribute => attr('Cryptographic Usage Mask', ttlv.integer(Tag.CryptographicUsageMask, m));
const active = (): KmipAttribute => attr('Activation Date', ttlv.dateTime(Tag.ActivationDate, BigInt(Math.floor(Date.now() / 1000) - 60)));

function createPairPayload(v: ProtocolVersion, bits: number): TtlvItem[] {
  if (v.major >= 2) {
    return [
      ttlv.structure(Tag.CommonAttributes, (attributesFor(v, rsa(bits)) as TtlvStructure).value),
      ttlv.structure(Tag.PrivateKeyAttributes, (attributesFor(v, [usage(CryptographicUsageMask.Sign)]) as TtlvStructure).value),
      ttlv.structure(Tag.PublicKeyAttributes, (attributesFor(v, [usage(CryptographicUsageMask.Verify)]) as TtlvStructure).value),
    ];
  }
  const wrap = (tag: number, attrs: KmipAttribute[]) => ttlv.structure(tag, (attributesFor(v, attrs) as TtlvStructure).value);
  return [
    wrap(Tag.CommonTemplateAttribute, rsa(bits)),
    wrap(Tag.PrivateKeyTemplateAttribute, [usage(CryptographicUsageMask.Sign)]),
    wrap(Tag.PublicKeyTemplateAttribute, [usage(CryptographicUsageMask.Verify)]),
  ];
}

async function registerRsa1024(h: Harness, v: ProtocolVersion): Promise<string> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const block = ttlv.structure(Tag.KeyBlock, [
    ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.PKCS_1),
    ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, privateKey.export({ format: 'der', type: 'pkcs1' }))]),
    ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.RSA),
    ttlv.integer(Tag.CryptographicLength, 1024),
  ]);
  const r = await h.send(v, Operation.Register, [
    ttlv.enumeration(Tag.ObjectType, ObjectType.PrivateKey),
    attributesFor(v, [usage(CryptographicUsageMask.Sign), active()]),
    ttlv.structure(Tag.PrivateKey, [block]),
  ]);
  return textOf(successPayload(r), Tag.UniqueIdentifier)!;
}

describe.each(VERSIONS)('KMIP %s legacy sizes', (_label, v) => {
  test('default profile: Create Key Pair RSA-1024 is refused, naming the policy rule; 2048 still works', async () => {
    const r = await strict.send(v, Operation.CreateKeyPair, createPairPayload(v, 1024));
    expect(failure(r)).toBe(ResultReason.InvalidField);
    expect(r.items[0]!.message).toMatch(/cryptographic policy \(profile default\) does not allow RSA keys of 1024 bits for CreateKeyPair \(rule cryptoPolicy CreateKeyPair\.algorithms\.RSA: at least 2048 bits\)/);
    successPayload(await strict.send(v, Operation.CreateKeyPair, createPairPayload(v, 2048)));
    // A size that is neither current nor legacy lists only what is offered.
    const odd = await strict.send(v, Operation.CreateKeyPair, createPairPayload(v, 1000));
    expect(failure(odd)).toBe(ResultReason.InvalidField);
    expect(odd.items[0]!.message).toMatch(/not offered \(2048, 3072, 4096\)/);
  });

  test('legacy profile: Create Key Pair RSA-1024 makes a 1024-bit pair that signs and verifies', async () => {
    const p = successPayload(await legacy.send(v, Operation.CreateKeyPair, createPairPayload(v, 1024)));
    const privUid = textOf(p, Tag.PrivateKeyUniqueIdentifier)!;
    const pubUid = textOf(p, Tag.PublicKeyUniqueIdentifier)!;
    const privBlock = keyBlockOf(successPayload(await legacy.send(v, Operation.Get, [uidItem(privUid)])), Tag.PrivateKey);
    const der = bytesOf(find(find(privBlock, Tag.KeyValue) as TtlvStructure, Tag.KeyMaterial));
    const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs1' });
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(1024);
    await legacy.send(v, Operation.Activate, [uidItem(privUid)]);
    const data = Buffer.from('signed with a legacy key');
    const sig = bytesOf(find(successPayload(await legacy.send(v, Operation.Sign, [uidItem(privUid), ttlv.byteString(Tag.Data, data)])), Tag.SignatureData));
    const pubBlock = keyBlockOf(successPayload(await legacy.send(v, Operation.Get, [uidItem(pubUid)])), Tag.PublicKey);
    const pub = createPublicKey({ key: bytesOf(find(find(pubBlock, Tag.KeyValue) as TtlvStructure, Tag.KeyMaterial)), format: 'der', type: 'pkcs1' });
    expect(verify('sha256', data, pub, sig)).toBe(true);
  });

  test('Re-key Key Pair of a registered RSA-1024 key: refused under the default profile, a new 1024-bit pair under legacy; registering one is allowed either way', async () => {
    const off = await registerRsa1024(strict, v);
    const r = await strict.send(v, Operation.ReKeyKeyPair, [ttlv.textString(Tag.PrivateKeyUniqueIdentifier, off)]);
    expect(failure(r)).toBe(ResultReason.InvalidField);
    expect(r.items[0]!.message).toMatch(/CreateKeyPair\.algorithms\.RSA/);

    const on = await registerRsa1024(legacy, v);
    const p = successPayload(await legacy.send(v, Operation.ReKeyKeyPair, [ttlv.textString(Tag.PrivateKeyUniqueIdentifier, on)]));
    const newPriv = textOf(p, Tag.PrivateKeyUniqueIdentifier)!;
    const block = keyBlockOf(successPayload(await legacy.send(v, Operation.Get, [uidItem(newPriv)])), Tag.PrivateKey);
    const der = bytesOf(find(find(block, Tag.KeyValue) as TtlvStructure, Tag.KeyMaterial));
    expect(createPrivateKey({ key: der, format: 'der', type: 'pkcs1' }).asymmetricKeyDetails?.modulusLength).toBe(1024);
  });
});
