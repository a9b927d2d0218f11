/**
 * Query (profiles, capabilities, RNGs, storage masks), the 2.x Interop, Log and Set Endpoint Role
 * operations, Export and Import, 1.x Templates, and what Create decides from its attributes
 * (Quantum Safe, Protection Storage Masks), over a real SQLite file and SoftHSM2 token.
 */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  BatchErrorContinuationOption,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  EndpointRole,
  InteropFunction,
  ObjectType,
  Operation,
  ProfileName,
  ProtectionStorageMask,
  QueryFunction,
  ResultReason,
  State,
} from '../../../src/spec/generated/enums';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { attributeToV1 } from '../../../src/kmip/attributes';
import { allOf, attributesFor, find, successPayload, textOf } from '../../helpers/kmip-client';
import type { MemoryAuditSink } from '../../../src/audit/audit-log';
import {
  ENCRYPT_DECRYPT,
  VERSIONS,
  V14,
  V21,
  aesTemplate,
  attributeValues,
  bob,
  createAes,
  failure,
  getKeyBytes,
  nameValue,
  openHarness,
  uidItem,
  type Harness,
} from '../../helpers/ops-harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness('server-ops');
});
afterAll(async () => {
  await h.close();
});

const V10: ProtocolVersion = { major: 1, minor: 0 };
const V12: ProtocolVersion = { major: 1, minor: 2 };

function query(v: ProtocolVersion, ...functions: number[]) {
  return h.send(v, Operation.Query, functions.map((f) => ttlv.enumeration(Tag.QueryFunction, f)));
}

function enumsOf(p: TtlvStructure, tag: number): number[] {
  return allOf(p, tag).map((i) => i.value as number);
}

describe('Query', () => {
  test('operations and objects per version: Templates for 1.x only, the attribute operations everywhere', async () => {
    const p14 = successPayload(await query(V14, QueryFunction.QueryOperations, QueryFunction.QueryObjects, QueryFunction.QueryApplicationNamespaces));
    expect(enumsOf(p14, Tag.Operation)).toEqual(
      expect.arrayContaining([Operation.AddAttribute, Operation.ModifyAttribute, Operation.DeleteAttribute, Operation.Check, Operation.ReKey, Operation.Archive, Operation.Recover]),
    );
    expect(enumsOf(p14, Tag.Operation)).not.toContain(Operation.SetAttribute);
    expect(enumsOf(p14, Tag.ObjectType)).toContain(ObjectType.Template);
    expect(allOf(p14, Tag.ApplicationNamespace)).toEqual([]);
    const p21 = successPayload(await query(V21, QueryFunction.QueryOperations, QueryFunction.QueryObjects));
    expect(enumsOf(p21, Tag.Operation)).toEqual(
      expect.arrayContaining([Operation.SetAttribute, Operation.AdjustAttribute, Operation.Interop, Operation.Log, Operation.Import, Operation.Export, Operation.SetEndpointRole]),
    );
    expect(enumsOf(p21, Tag.ObjectType)).not.toContain(ObjectType.Template);
  });

  test('profiles, capabilities, RNGs and storage protection masks', async () => {
    const p21 = successPayload(
      await query(V21, QueryFunction.QueryProfiles, QueryFunction.QueryCapabilities, QueryFunction.QueryRNGs, QueryFunction.QueryStorageProtectionMasks),
    );
    const names = allOf(p21, Tag.ProfileInformation).map((pi) => (find(pi as TtlvStructure, Tag.ProfileName) as { value: number }).value);
    expect(names).toEqual(expect.arrayContaining([ProfileName.BaselineServer, ProfileName.SymmetricKeyLifecycleServer]));
    const caps = find(p21, Tag.CapabilityInformation) as TtlvStructure;
    expect((find(caps, Tag.BatchContinueCapability) as { value: boolean }).value).toBe(true);
    expect(find(p21, Tag.RNGParameters)).toBeDefined();
    const masks = find(p21, Tag.ProtectionStorageMasks) as TtlvStructure;
    expect((find(masks, Tag.ProtectionStorageMask) as { value: number }).value).toBe(ProtectionStorageMask.Software);
    const p14 = successPayload(await query(V14, QueryFunction.QueryProfiles, QueryFunction.QueryCapabilities));
    const names14 = allOf(p14, Tag.ProfileInformation).map((pi) => (find(pi as TtlvStructure, Tag.ProfileName) as { value: number }).value);
    expect(names14).toContain(ProfileName.SymmetricKeyLifecycleServerKMIPV1_4);
    // 1.2 has no Query Profiles: nothing comes back for it.
    expect(successPayload(await query(V12, QueryFunction.QueryProfiles)).value).toEqual([]);
  });
});

describe('2.x Interop, Log and Set Endpoint Role', () => {
  test('Interop Begin, End and Reset are acknowledged; an unknown function is invalid; 1.4 has no Interop', async () => {
    for (const fn of [InteropFunction.Begin, InteropFunction.End, InteropFunction.Reset]) {
      const p = successPayload(
        await h.send(V21, Operation.Interop, [ttlv.enumeration(Tag.InteropFunction, fn), ttlv.textString(Tag.InteropIdentifier, 'case-1')]),
      );
      expect(p.value).toEqual([]);
    }
    expect(failure(await h.send(V21, Operation.Interop, [ttlv.enumeration(Tag.InteropFunction, 99)]))).toBe(ResultReason.InvalidField);
    expect(failure(await h.send(V21, Operation.Interop, []))).toBe(ResultReason.MissingData);
    expect(failure(await h.send(V14, Operation.Interop, [ttlv.enumeration(Tag.InteropFunction, InteropFunction.Begin)]))).toBe(
      ResultReason.OperationNotSupported,
    );
  });

  test('Log accepts a message, refuses an over-long or missing one', async () => {
    expect(successPayload(await h.send(V21, Operation.Log, [ttlv.textString(Tag.LogMessage, 'rotated the payroll key')])).value).toEqual([]);
    // A refused access is audited with the identifier the client named.
    const theirs = await createAes(h, V21);
    expect(failure(await h.send(V21, Operation.Get, [uidItem(theirs)], bob))).toBe(ResultReason.ObjectNotFound);
    const refused = (h.embedded.core.audit as MemoryAuditSink).records.filter((r) => r.operation === 'Get' && r.client === 'bob');
    expect(refused.at(-1)).toMatchObject({ uniqueIdentifiers: [theirs], resultStatus: 'OperationFailed' });
    // The message is in the trail, with who sent it.
    const logged = (h.embedded.core.audit as MemoryAuditSink).records.filter((r) => r.operation === 'Log' && r.resultStatus === 'Success');
    expect(logged.at(-1)).toMatchObject({ client: 'alice', clientMessage: 'rotated the payroll key' });
    expect(failure(await h.send(V21, Operation.Log, [ttlv.textString(Tag.LogMessage, 'x'.repeat(5000))]))).toBe(ResultReason.InvalidField);
    expect(failure(await h.send(V21, Operation.Log, []))).toBe(ResultReason.MissingData);
  });

  test('Locate is audited with how many it returned and the first identifiers', async () => {
    const name = `audit-locate-${Date.now()}`;
    const uids: string[] = [];
    for (let i = 0; i < 12; i++) uids.push(await createAes(h, V21, [{ name: 'Object Group', value: ttlv.textString(Tag.ObjectGroup, name) }]));
    const located = successPayload(
      await h.send(V21, Operation.Locate, [attributesFor(V21, [{ name: 'Object Group', value: ttlv.textString(Tag.ObjectGroup, name) }]), ttlv.integer(Tag.MaximumItems, 11)]),
    );
    const answered = allOf(located, Tag.UniqueIdentifier).map((i) => i.value as string);
    expect(answered).toHaveLength(11);
    const record = (h.embedded.core.audit as MemoryAuditSink).records.filter((r) => r.operation === 'Locate').at(-1);
    expect(record).toMatchObject({ locatedReturned: 11, locatedMatched: 12, uniqueIdentifiers: answered.slice(0, 10) });
    expect(new Set(answered)).toEqual(new Set(answered.filter((u) => uids.includes(u))));
  });

  test('a burst of identical failures in one message is one audit record with the exact count', async () => {
    const audit = h.embedded.core.audit as MemoryAuditSink;
    const before = audit.records.length;
    const own = await createAes(h, V21);
    const missing = Array.from({ length: 500 }, (_, i) => `no-such-object-${i}`);
    const items = [
      ...missing.slice(0, 300).map((uid) => ({ operation: Operation.Get, payload: [uidItem(uid)] })),
      { operation: Operation.Get, payload: [uidItem(own)] },
      ...missing.slice(300).map((uid) => ({ operation: Operation.Get, payload: [uidItem(uid)] })),
    ];
    const r = await h.batch(V21, items, [ttlv.enumeration(Tag.BatchErrorContinuationOption, BatchErrorContinuationOption.Continue)]);
    expect(r.items).toHaveLength(501);
    const gets = audit.records.slice(before).filter((rec) => rec.operation === 'Get');
    // A success between two bursts splits them: three records for 501 items, counts exact.
    expect(gets.map((g) => [g.resultStatus, g.count ?? 1])).toEqual([
      ['OperationFailed', 300],
      ['Success', 1],
      ['OperationFailed', 200],
    ]);
    expect(gets[0]!.uniqueIdentifiers).toEqual(missing.slice(0, 10));
    expect(gets[2]!.uniqueIdentifiers).toEqual(missing.slice(300, 310));
    // Different failures are not folded together.
    const mixed = await h.batch(
      V21,
      [
        { operation: Operation.Get, payload: [uidItem('no-such-a')] },
        { operation: Operation.Destroy, payload: [uidItem('no-such-b')] },
        { operation: Operation.Get, payload: [uidItem('no-such-c')] },
      ],
      [ttlv.enumeration(Tag.BatchErrorContinuationOption, BatchErrorContinuationOption.Continue)],
    );
    expect(mixed.items).toHaveLength(3);
    const last = audit.records.slice(-3);
    expect(last.map((rec) => [rec.operation, rec.count])).toEqual([
      ['Get', undefined],
      ['Destroy', undefined],
      ['Get', undefined],
    ]);
  });

  test('Set Endpoint Role: this endpoint is a server only', async () => {
    const p = successPayload(await h.send(V21, Operation.SetEndpointRole, [ttlv.enumeration(Tag.EndpointRole, EndpointRole.Server)]));
    expect((find(p, Tag.EndpointRole) as { value: number }).value).toBe(EndpointRole.Server);
    expect(failure(await h.send(V21, Operation.SetEndpointRole, [ttlv.enumeration(Tag.EndpointRole, EndpointRole.Client)]))).toBe(
      ResultReason.FeatureNotSupported,
    );
  });
});

const administrator = { name: 'operator', isAdmin: true };

describe.each(VERSIONS)('KMIP %s Export and Import', (label, v) => {
  test('Export returns the key with all its attributes; Import recreates it under the same identifier (an administrator\'s operations)', async () => {
    const uid = await createAes(h, v, [{ name: 'Name', value: nameValue(`export-${label}`) }]);
    successPayload(await h.send(v, Operation.Activate, [uidItem(uid)]));
    const key = await getKeyBytes(h, v, uid);
    // Not for ordinary identities, not even on their own objects: Import would tell them which identifiers exist.
    expect(failure(await h.send(v, Operation.Export, [uidItem(uid)]))).toBe(ResultReason.PermissionDenied);
    const exported = successPayload(await h.send(v, Operation.Export, [uidItem(uid)], administrator));
    expect(textOf(exported, Tag.UniqueIdentifier)).toBe(uid);
    const attrs = v.major >= 2 ? (find(exported, Tag.Attributes) as TtlvStructure) : (find(exported, Tag.TemplateAttribute) as TtlvStructure);
    expect(attrs.value.length).toBeGreaterThan(5);
    const body = find(exported, Tag.SymmetricKey) as TtlvStructure;
    const newUid = `imported-${label}-${Date.now()}`;
    const importPayload = (id: string, replace?: boolean): TtlvItem[] => [
      ttlv.textString(Tag.UniqueIdentifier, id),
      ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      ...(replace === undefined ? [] : [ttlv.boolean(Tag.ReplaceExisting, replace)]),
      v.major >= 2
        ? ttlv.structure(Tag.Attributes, attrs.value.filter((a) => a.tag !== Tag.UniqueIdentifier && a.tag !== Tag.ShortUniqueIdentifier))
        : ttlv.structure(Tag.TemplateAttribute, attrs.value.filter((a) => textOf(a as TtlvStructure, Tag.AttributeName) !== 'Unique Identifier')),
      body,
    ];
    expect(failure(await h.send(v, Operation.Import, importPayload(newUid)))).toBe(ResultReason.PermissionDenied);
    expect(textOf(successPayload(await h.send(v, Operation.Import, importPayload(newUid), administrator)), Tag.UniqueIdentifier)).toBe(newUid);
    expect((await getKeyBytes(h, v, newUid, administrator)).equals(key)).toBe(true);
    // The state came with the attributes.
    expect((await attributeValues(h, v, newUid, 'State', Tag.State, administrator))[0]!.value).toBe(State.Active);
    expect(failure(await h.send(v, Operation.Import, importPayload(newUid), administrator))).toBe(ResultReason.ObjectAlreadyExists);
    successPayload(await h.send(v, Operation.Import, importPayload(newUid, true), administrator));
    // Another identity learns nothing: the identifier taken or not, the answer is the same refusal.
    expect(failure(await h.send(v, Operation.Import, importPayload(newUid, true), bob))).toBe(ResultReason.PermissionDenied);
    expect(failure(await h.send(v, Operation.Import, importPayload(`${newUid}-free`, true), bob))).toBe(ResultReason.PermissionDenied);
    const wrongType = [
      ttlv.textString(Tag.UniqueIdentifier, newUid),
      ttlv.enumeration(Tag.ObjectType, ObjectType.OpaqueObject),
      ttlv.boolean(Tag.ReplaceExisting, true),
      attributesFor(v, []),
      ttlv.structure(Tag.OpaqueObject, [ttlv.enumeration(Tag.OpaqueDataType, 0x80000001), ttlv.byteString(Tag.OpaqueDataValue, Buffer.from('x'))]),
    ];
    expect(failure(await h.send(v, Operation.Import, wrongType, administrator))).toBe(v.major >= 2 ? ResultReason.InvalidObjectType : ResultReason.InvalidField);
  });

  test('an administrator\'s Re-key leaves the replacement with the key\'s owner', async () => {
    const uid = await createAes(h, v);
    successPayload(await h.send(v, Operation.Activate, [uidItem(uid)]));
    const replacement = textOf(successPayload(await h.send(v, Operation.ReKey, [uidItem(uid)], administrator)), Tag.UniqueIdentifier)!;
    expect((await h.embedded.store.get(replacement))?.owner).toBe('alice');
    expect((await getKeyBytes(h, v, replacement)).length).toBe(32);
  });
});

describe('1.x Templates', () => {
  test('a registered Template gives its attributes (not its Name) to an object that names it', async () => {
    const template = ttlv.structure(Tag.Template, [
      attributeToV1({ name: 'Object Group', value: ttlv.textString(Tag.ObjectGroup, 'tape-pool') }),
      attributeToV1({ name: 'x-site', value: ttlv.textString(Tag.AttributeValue, 'north') }),
      attributeToV1({ name: 'Name', value: nameValue('pool-template') }),
    ]);
    const t = successPayload(
      await h.send(V14, Operation.Register, [ttlv.enumeration(Tag.ObjectType, ObjectType.Template), ttlv.structure(Tag.TemplateAttribute, []), template]),
    );
    const templateUid = textOf(t, Tag.UniqueIdentifier)!;
    const created = successPayload(
      await h.send(V14, Operation.Create, [
        ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        ttlv.structure(Tag.TemplateAttribute, [nameValue('pool-template'), ...aesTemplate('pool-key', ENCRYPT_DECRYPT).map((a) => attributeToV1(a))]),
      ]),
    );
    const uid = textOf(created, Tag.UniqueIdentifier)!;
    expect((await attributeValues(h, V14, uid, 'Object Group'))[0]!.value).toBe('tape-pool');
    expect((await attributeValues(h, V14, uid, 'x-site'))[0]!.value).toBe('north');
    const names = (await attributeValues(h, V14, uid, 'Name')).map((n) => textOf(n as TtlvStructure, Tag.NameValue));
    expect(names).toEqual(['pool-key']);
    // The Template is found by its Name and returned by Get.
    const located = successPayload(
      await h.send(V14, Operation.Locate, [
        attributeToV1({ name: 'Object Type', value: ttlv.enumeration(Tag.ObjectType, ObjectType.Template) }),
        attributeToV1({ name: 'Name', value: nameValue('pool-template') }),
      ]),
    );
    expect(allOf(located, Tag.UniqueIdentifier).map((i) => i.value)).toEqual([templateUid]);
    expect(find(successPayload(await h.send(V14, Operation.Get, [uidItem(templateUid)])), Tag.Template)).toBeDefined();
  });

  test('Template and request attributes merge: the request wins for single-instance ones, multi-instance ones are the union', async () => {
    const template = ttlv.structure(Tag.Template, [
      attributeToV1({ name: 'Contact Information', value: ttlv.textString(Tag.ContactInformation, 'template-desk') }),
      attributeToV1({ name: 'Object Group', value: ttlv.textString(Tag.ObjectGroup, 'from-template') }),
      attributeToV1({ name: 'x-site', value: ttlv.textString(Tag.AttributeValue, 'north') }),
      attributeToV1({ name: 'Name', value: nameValue('merge-template') }),
    ]);
    successPayload(await h.send(V14, Operation.Register, [ttlv.enumeration(Tag.ObjectType, ObjectType.Template), ttlv.structure(Tag.TemplateAttribute, []), template]));
    const created = successPayload(
      await h.send(V14, Operation.Create, [
        ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        ttlv.structure(Tag.TemplateAttribute, [
          nameValue('merge-template'),
          ...aesTemplate('merge-key', ENCRYPT_DECRYPT).map((a) => attributeToV1(a)),
          attributeToV1({ name: 'Contact Information', value: ttlv.textString(Tag.ContactInformation, 'request-desk') }),
          attributeToV1({ name: 'Object Group', value: ttlv.textString(Tag.ObjectGroup, 'from-request') }),
          attributeToV1({ name: 'x-site', value: ttlv.textString(Tag.AttributeValue, 'south') }),
          attributeToV1({ name: 'x-site', value: ttlv.textString(Tag.AttributeValue, 'north') }),
        ]),
      ]),
    );
    const uid = textOf(created, Tag.UniqueIdentifier)!;
    expect((await attributeValues(h, V14, uid, 'Contact Information')).map((i) => i.value)).toEqual(['request-desk']);
    expect((await attributeValues(h, V14, uid, 'Object Group')).map((i) => i.value)).toEqual(['from-template', 'from-request']);
    expect((await attributeValues(h, V14, uid, 'x-site')).map((i) => i.value)).toEqual(['north', 'south']);
  });

  test.each([
    ['1.4', V14],
    ['2.1', V21],
  ])('KMIP %s: a single-instance attribute given twice in one request is Invalid Message', async (_label, v) => {
    const twice = [...aesTemplate(undefined, ENCRYPT_DECRYPT), { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, 128) }];
    const r = await h.send(v, Operation.Create, [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), attributesFor(v, twice)]);
    expect(failure(r)).toBe(ResultReason.InvalidMessage);
    expect(r.items[0]!.message).toMatch(/Cryptographic Length is given more than once/);
  });

  test('naming a Template that does not exist is Item Not Found; 2.x has no Templates', async () => {
    const r = await h.send(V14, Operation.Create, [
      ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      ttlv.structure(Tag.TemplateAttribute, [nameValue('no-such-template'), ...aesTemplate(undefined, ENCRYPT_DECRYPT).map((a) => attributeToV1(a))]),
    ]);
    expect(failure(r)).toBe(ResultReason.ItemNotFound);
    const t = await h.send(V21, Operation.Register, [ttlv.enumeration(Tag.ObjectType, ObjectType.Template), ttlv.structure(Tag.Attributes, []), ttlv.structure(Tag.Template, [])]);
    expect(failure(t)).toBe(ResultReason.InvalidObjectType);
  });
});

describe('what Create decides from the request', () => {
  test('Quantum Safe: an AES-256 key is, an AES-128 key is not', async () => {
    const qs = { name: 'Quantum Safe', value: ttlv.boolean(Tag.QuantumSafe, true) };
    await createAes(h, V21, [qs]);
    const r = await h.send(V21, Operation.Create, [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), attributesFor(V21, [...aesTemplate(undefined, ENCRYPT_DECRYPT, 128), qs])]);
    expect(failure(r)).toBe(ResultReason.GeneralFailure);
  });

  test('Protection Storage Masks: software storage is offered, nothing else', async () => {
    const masks = (...m: number[]) => ttlv.structure(Tag.ProtectionStorageMasks, m.map((x) => ttlv.integer(Tag.ProtectionStorageMask, x)));
    const create = (m: TtlvItem) =>
      h.send(V21, Operation.Create, [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), attributesFor(V21, aesTemplate(undefined, ENCRYPT_DECRYPT)), m]);
    successPayload(await create(masks(ProtectionStorageMask.Hardware | ProtectionStorageMask.Software)));
    expect(failure(await create(masks(ProtectionStorageMask.Hardware)))).toBe(ResultReason.ProtectionStorageUnavailable);
  });

  test('server-set attributes in a template are refused; a 1.0 Digest has no Key Format Type', async () => {
    const r = await h.send(V14, Operation.Create, [
      ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      attributesFor(V14, [...aesTemplate(undefined, ENCRYPT_DECRYPT), { name: 'Lease Time', value: ttlv.interval(Tag.LeaseTime, 1) }]),
    ]);
    expect(failure(r)).toBe(ResultReason.PermissionDenied);
    // AES: the default cryptographic policy creates no SKIPJACK keys.
    const key = successPayload(
      await h.send(V10, Operation.Create, [
        ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
        attributesFor(V10, [
          { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES) },
          { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, 128) },
          { name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt) },
        ]),
      ]),
    );
    const uid = textOf(key, Tag.UniqueIdentifier)!;
    const digest = (await attributeValues(h, V10, uid, 'Digest'))[0] as TtlvStructure;
    expect(digest.type).toBe(ItemType.Structure);
    expect(find(digest, Tag.DigestValue)).toBeDefined();
    expect(find(digest, Tag.KeyFormatType)).toBeUndefined();
    expect((await getKeyBytes(h, V10, uid)).length).toBe(16);
  });
});
