/**
 * Add, Modify, Delete, Set and Adjust Attribute over a real SQLite file and SoftHSM2 token, in
 * KMIP 1.4 (Attribute Name/Index/Value) and 2.1 (New/Current Attribute, Attribute Reference),
 * with every result reason the handlers give and the 1.x reason each maps to.
 */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { AdjustmentType, Operation, ResultReason, State } from '../../../src/spec/generated/enums';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { allOf, find, successPayload, textOf } from '../../helpers/kmip-client';
import {
  VERSIONS,
  V14,
  V21,
  attributeValues,
  bob,
  createAes,
  currentAttribute,
  failure,
  nameValue,
  newAttribute,
  openHarness,
  reference,
  uidItem,
  type Harness,
} from '../../helpers/ops-harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness('attrs');
});
afterAll(async () => {
  await h.close();
});

/** The 2.x reason, or the one a 1.x client gets for it. */
function reason(v: ProtocolVersion, v2: number, v1: number): number {
  return v.major >= 2 ? v2 : v1;
}

function custom(name: string, value: string) {
  return { name, value: ttlv.textString(Tag.AttributeValue, value) };
}

function description(text: string) {
  return { name: 'Description', value: ttlv.textString(Tag.Description, text) };
}

const add = (v: ProtocolVersion, uid: string, a: Parameters<typeof newAttribute>[1]) =>
  h.send(v, Operation.AddAttribute, [uidItem(uid), newAttribute(v, a)]);

function textValues(items: TtlvItem[]): string[] {
  return items.map((i) => (i.type === ItemType.TextString ? i.value : ''));
}

describe.each(VERSIONS)('KMIP %s', (label, v) => {
  test('Add Attribute: custom and standard attributes; 1.x echoes the instance with its index', async () => {
    const uid = await createAes(h, v);
    const before = (await attributeValues(h, v, uid, 'Last Change Date', Tag.LastChangeDate))[0]!;
    const r1 = successPayload(await add(v, uid, custom('x-team', 'blue')));
    const r2 = successPayload(await add(v, uid, custom('x-team', 'green')));
    expect(textOf(r1, Tag.UniqueIdentifier)).toBe(uid);
    if (v.major < 2) {
      const second = find(r2, Tag.Attribute) as TtlvStructure;
      expect(textOf(second, Tag.AttributeName)).toBe('x-team');
      expect((find(second, Tag.AttributeIndex) as { value: number }).value).toBe(1);
    } else {
      expect(find(r2, Tag.Attribute)).toBeUndefined();
    }
    successPayload(await add(v, uid, description('payroll key')));
    expect(textValues(await attributeValues(h, v, uid, 'x-team'))).toEqual(['blue', 'green']);
    expect(textValues(await attributeValues(h, v, uid, 'Description', Tag.Description))).toEqual(['payroll key']);
    const after = (await attributeValues(h, v, uid, 'Last Change Date', Tag.LastChangeDate))[0]!;
    expect(after.value >= before.value).toBe(true);
  });

  test('Add Attribute: single-valued twice, read-only, server custom, duplicate Name, unknown object', async () => {
    const uid = await createAes(h, v, [{ name: 'Name', value: nameValue(`dup-${label}`) }]);
    successPayload(await add(v, uid, description('one')));
    expect(failure(await add(v, uid, description('two')))).toBe(reason(v, ResultReason.AttributeSingleValued, ResultReason.InvalidField));
    expect(failure(await add(v, uid, { name: 'State', value: ttlv.enumeration(Tag.State, State.Active) }))).toBe(
      reason(v, ResultReason.AttributeReadOnly, ResultReason.PermissionDenied),
    );
    expect(failure(await add(v, uid, custom('y-server-owned', 'x')))).toBe(reason(v, ResultReason.AttributeReadOnly, ResultReason.PermissionDenied));
    // The object's own Name, and another live object's Name, are both taken.
    expect(failure(await add(v, uid, { name: 'Name', value: nameValue(`dup-${label}`) }))).toBe(
      reason(v, ResultReason.NonUniqueNameAttribute, ResultReason.InvalidField),
    );
    const other = await createAes(h, v);
    expect(failure(await add(v, other, { name: 'Name', value: nameValue(`dup-${label}`) }))).toBe(
      reason(v, ResultReason.NonUniqueNameAttribute, ResultReason.InvalidField),
    );
    expect(failure(await add(v, 'no-such-object', description('x')))).toBe(reason(v, ResultReason.ObjectNotFound, ResultReason.ItemNotFound));
    // Another identity's object is not found either.
    expect(failure(await h.send(v, Operation.AddAttribute, [uidItem(uid), newAttribute(v, description('b'))], bob))).toBe(
      reason(v, ResultReason.ObjectNotFound, ResultReason.ItemNotFound),
    );
  });

  test('Add Attribute: an attribute the version or the object type lacks is invalid', async () => {
    const uid = await createAes(h, v);
    if (v.major < 2) {
      // Quantum Safe exists from 2.0; a 1.4 client cannot name it.
      const r = await add(v, uid, { name: 'Quantum Safe', value: ttlv.boolean(Tag.QuantumSafe, true) });
      expect(failure(r)).toBe(ResultReason.InvalidField);
    } else {
      const r = await add(v, uid, { name: 'Cryptographic Domain Parameters', value: ttlv.structure(Tag.CryptographicDomainParameters, []) });
      expect(failure(r)).toBe(ResultReason.InvalidAttribute);
    }
  });

  test('Modify Attribute: new value, same index; Activation Date only while Pre-Active', async () => {
    const uid = await createAes(h, v);
    successPayload(await add(v, uid, custom('x-rack', 'r1')));
    successPayload(await add(v, uid, custom('x-rack', 'r2')));
    const payload =
      v.major >= 2
        ? [uidItem(uid), currentAttribute(custom('x-rack', 'r2')), newAttribute(v, custom('x-rack', 'r3'))]
        : [uidItem(uid), newAttribute(v, custom('x-rack', 'r3'), 1)];
    const p = successPayload(await h.send(v, Operation.ModifyAttribute, payload));
    if (v.major < 2) expect((find(find(p, Tag.Attribute) as TtlvStructure, Tag.AttributeIndex) as { value: number }).value).toBe(1);
    expect(textValues(await attributeValues(h, v, uid, 'x-rack'))).toEqual(['r1', 'r3']);

    const future = BigInt(Math.floor(Date.now() / 1000) + 86400);
    const act = (when: bigint) => ({ name: 'Activation Date', value: ttlv.dateTime(Tag.ActivationDate, when) });
    successPayload(await add(v, uid, act(future)));
    successPayload(await h.send(v, Operation.ModifyAttribute, [uidItem(uid), newAttribute(v, act(future + 10n))]));
    successPayload(await h.send(v, Operation.Activate, [uidItem(uid)]));
    const refused = await h.send(v, Operation.ModifyAttribute, [uidItem(uid), newAttribute(v, act(future))]);
    expect(failure(refused)).toBe(reason(v, ResultReason.WrongKeyLifecycleState, ResultReason.PermissionDenied));
  });

  test('Modify Attribute: read-only, absent attribute, absent instance, several instances', async () => {
    const uid = await createAes(h, v);
    const readOnly = await h.send(v, Operation.ModifyAttribute, [
      uidItem(uid),
      newAttribute(v, { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, 128) }),
    ]);
    expect(failure(readOnly)).toBe(reason(v, ResultReason.AttributeReadOnly, ResultReason.PermissionDenied));
    const absent = await h.send(v, Operation.ModifyAttribute, [uidItem(uid), newAttribute(v, custom('x-none', 'v'))]);
    expect(failure(absent)).toBe(reason(v, ResultReason.AttributeNotFound, ResultReason.InvalidField));
    successPayload(await add(v, uid, custom('x-pair', 'a')));
    successPayload(await add(v, uid, custom('x-pair', 'b')));
    if (v.major < 2) {
      const r = await h.send(v, Operation.ModifyAttribute, [uidItem(uid), newAttribute(v, custom('x-pair', 'c'), 7)]);
      expect(failure(r)).toBe(ResultReason.IndexOutOfBounds);
    } else {
      const noCurrent = await h.send(v, Operation.ModifyAttribute, [uidItem(uid), newAttribute(v, custom('x-pair', 'c'))]);
      expect(failure(noCurrent)).toBe(ResultReason.MultiValuedAttribute);
      const wrongCurrent = await h.send(v, Operation.ModifyAttribute, [
        uidItem(uid),
        currentAttribute(custom('x-pair', 'zzz')),
        newAttribute(v, custom('x-pair', 'c')),
      ]);
      expect(failure(wrongCurrent)).toBe(ResultReason.AttributeInstanceNotFound);
      const mismatch = await h.send(v, Operation.ModifyAttribute, [
        uidItem(uid),
        currentAttribute(custom('x-pair', 'a')),
        newAttribute(v, custom('x-other', 'c')),
      ]);
      expect(failure(mismatch)).toBe(ResultReason.InvalidField);
    }
  });

  test('Modify Attribute: a Name may not take another object\'s Name', async () => {
    const a = await createAes(h, v, [{ name: 'Name', value: nameValue(`mod-a-${label}`) }]);
    const b = await createAes(h, v, [{ name: 'Name', value: nameValue(`mod-b-${label}`) }]);
    const payload =
      v.major >= 2
        ? [uidItem(b), currentAttribute({ name: 'Name', value: nameValue(`mod-b-${label}`) }), newAttribute(v, { name: 'Name', value: nameValue(`mod-a-${label}`) })]
        : [uidItem(b), newAttribute(v, { name: 'Name', value: nameValue(`mod-a-${label}`) })];
    expect(failure(await h.send(v, Operation.ModifyAttribute, payload))).toBe(reason(v, ResultReason.NonUniqueNameAttribute, ResultReason.InvalidField));
    // Giving an object its own Name again is no conflict.
    const same =
      v.major >= 2
        ? [uidItem(a), currentAttribute({ name: 'Name', value: nameValue(`mod-a-${label}`) }), newAttribute(v, { name: 'Name', value: nameValue(`mod-a-${label}`) })]
        : [uidItem(a), newAttribute(v, { name: 'Name', value: nameValue(`mod-a-${label}`) })];
    successPayload(await h.send(v, Operation.ModifyAttribute, same));
  });

  test('Delete Attribute: one instance (1.x by index, 2.x by value) or every instance (2.x by reference)', async () => {
    const uid = await createAes(h, v);
    for (const val of ['p', 'q', 'r']) successPayload(await add(v, uid, custom('x-tag', val)));
    const one =
      v.major >= 2 ? [uidItem(uid), currentAttribute(custom('x-tag', 'q'))] : [uidItem(uid), ttlv.textString(Tag.AttributeName, 'x-tag'), ttlv.integer(Tag.AttributeIndex, 1)];
    const p = successPayload(await h.send(v, Operation.DeleteAttribute, one));
    if (v.major < 2) {
      const deleted = find(p, Tag.Attribute) as TtlvStructure;
      expect((find(deleted, Tag.AttributeValue) as { value: string }).value).toBe('q');
    }
    // Indexes do not move: r keeps index 2.
    expect(textValues(await attributeValues(h, v, uid, 'x-tag'))).toEqual(['p', 'r']);
    if (v.major < 2) {
      const r = await h.send(v, Operation.DeleteAttribute, [uidItem(uid), ttlv.textString(Tag.AttributeName, 'x-tag'), ttlv.integer(Tag.AttributeIndex, 1)]);
      expect(failure(r)).toBe(ResultReason.IndexOutOfBounds);
      successPayload(await h.send(v, Operation.DeleteAttribute, [uidItem(uid), ttlv.textString(Tag.AttributeName, 'x-tag'), ttlv.integer(Tag.AttributeIndex, 2)]));
      successPayload(await h.send(v, Operation.DeleteAttribute, [uidItem(uid), ttlv.textString(Tag.AttributeName, 'x-tag')]));
    } else {
      successPayload(await h.send(v, Operation.DeleteAttribute, [uidItem(uid), reference(v, 'x-tag')]));
    }
    expect(await attributeValues(h, v, uid, 'x-tag')).toEqual([]);
    const gone = v.major >= 2 ? [uidItem(uid), reference(v, 'x-tag')] : [uidItem(uid), ttlv.textString(Tag.AttributeName, 'x-tag')];
    expect(failure(await h.send(v, Operation.DeleteAttribute, gone))).toBe(reason(v, ResultReason.AttributeNotFound, ResultReason.InvalidField));
  });

  test('Delete Attribute: attributes a client may not delete, and a request naming none', async () => {
    const uid = await createAes(h, v);
    const alg = v.major >= 2 ? [uidItem(uid), reference(v, 'Cryptographic Algorithm', Tag.CryptographicAlgorithm)] : [uidItem(uid), ttlv.textString(Tag.AttributeName, 'Cryptographic Algorithm')];
    expect(failure(await h.send(v, Operation.DeleteAttribute, alg))).toBe(reason(v, ResultReason.AttributeReadOnly, ResultReason.PermissionDenied));
    const none = await h.send(v, Operation.DeleteAttribute, [uidItem(uid)]);
    expect(failure(none)).toBe(ResultReason.MissingData);
    if (v.major >= 2) {
      successPayload(await add(v, uid, custom('x-k', 'v')));
      const wrong = await h.send(v, Operation.DeleteAttribute, [uidItem(uid), currentAttribute(custom('x-k', 'other'))]);
      expect(failure(wrong)).toBe(ResultReason.AttributeInstanceNotFound);
    }
  });

  test('attribute changes on a destroyed object are refused', async () => {
    const uid = await createAes(h, v);
    successPayload(await h.send(v, Operation.Destroy, [uidItem(uid)]));
    expect(failure(await add(v, uid, description('late')))).toBe(reason(v, ResultReason.ObjectDestroyed, ResultReason.ItemNotFound));
  });

  test('Sensitive and Extractable keep Always Sensitive and Never Extractable up to date', async () => {
    const uid = await createAes(h, v, [{ name: 'Sensitive', value: ttlv.boolean(Tag.Sensitive, true) }]);
    expect((await attributeValues(h, v, uid, 'Always Sensitive', Tag.AlwaysSensitive))[0]!.value).toBe(true);
    const mod =
      v.major >= 2
        ? [uidItem(uid), newAttribute(v, { name: 'Sensitive', value: ttlv.boolean(Tag.Sensitive, false) })]
        : [uidItem(uid), newAttribute(v, { name: 'Sensitive', value: ttlv.boolean(Tag.Sensitive, false) })];
    successPayload(await h.send(v, Operation.ModifyAttribute, mod));
    expect((await attributeValues(h, v, uid, 'Always Sensitive', Tag.AlwaysSensitive))[0]!.value).toBe(false);
  });
});

describe('KMIP 1.x responses name the instance changed, index 0 included (PyKMIP reads it unconditionally)', () => {
  const V12 = { major: 1, minor: 2 };
  const indexIn = (p: TtlvStructure): number | undefined => (find(find(p, Tag.Attribute) as TtlvStructure, Tag.AttributeIndex) as { value: number } | undefined)?.value;
  test.each([
    ['1.2', V12],
    ['1.4', V14],
  ])('KMIP %s: Add, Modify and Delete Attribute answer Attribute Index 0 for the first instance', async (_label, v) => {
    const uid = await createAes(h, v);
    const contact = (text: string) => ({ name: 'Contact Information', value: ttlv.textString(Tag.ContactInformation, text) });
    expect(indexIn(successPayload(await add(v, uid, contact('first'))))).toBe(0);
    expect(indexIn(successPayload(await add(v, uid, custom('x-site', 'a'))))).toBe(0);
    expect(indexIn(successPayload(await add(v, uid, custom('x-site', 'b'))))).toBe(1);
    const modified = successPayload(await h.send(v, Operation.ModifyAttribute, [uidItem(uid), newAttribute(v, contact('second'))]));
    expect(indexIn(modified)).toBe(0);
    expect(textOf(find(modified, Tag.Attribute) as TtlvStructure, Tag.AttributeValue)).toBe('second');
    const deleted = successPayload(await h.send(v, Operation.DeleteAttribute, [uidItem(uid), ttlv.textString(Tag.AttributeName, 'x-site')]));
    expect(indexIn(deleted)).toBe(0);
    expect(textOf(find(deleted, Tag.Attribute) as TtlvStructure, Tag.AttributeValue)).toBe('a');
  });

  test.each([
    ['1.2', V12],
    ['1.4', V14],
  ])('KMIP %s: Get Attributes gives a multi-instance attribute its index, 0 included; a single-instance one none', async (_label, v) => {
    const uid = await createAes(h, v, [{ name: 'Name', value: nameValue(`indexed-${_label}`) }]);
    const p = successPayload(await h.send(v, Operation.GetAttributes, [uidItem(uid), reference(v, 'Name'), reference(v, 'Cryptographic Length')]));
    const attrs = p.value.filter((c): c is TtlvStructure => c.tag === Tag.Attribute && c.type === ItemType.Structure);
    const byName = (n: string) => attrs.find((a) => textOf(a, Tag.AttributeName) === n)!;
    expect((find(byName('Name'), Tag.AttributeIndex) as { value: number } | undefined)?.value).toBe(0);
    expect(find(byName('Cryptographic Length'), Tag.AttributeIndex)).toBeUndefined();
  });
});

describe('KMIP 2.1 only', () => {
  test('Set Attribute adds when absent, modifies when single; refuses several instances and read-only ones', async () => {
    const uid = await createAes(h, V21);
    successPayload(await h.send(V21, Operation.SetAttribute, [uidItem(uid), newAttribute(V21, description('first'))]));
    successPayload(await h.send(V21, Operation.SetAttribute, [uidItem(uid), newAttribute(V21, description('second'))]));
    expect(textValues(await attributeValues(h, V21, uid, 'Description', Tag.Description))).toEqual(['second']);
    successPayload(await add(V21, uid, custom('x-m', '1')));
    successPayload(await add(V21, uid, custom('x-m', '2')));
    expect(failure(await h.send(V21, Operation.SetAttribute, [uidItem(uid), newAttribute(V21, custom('x-m', '3'))]))).toBe(ResultReason.MultiValuedAttribute);
    const ro = await h.send(V21, Operation.SetAttribute, [uidItem(uid), newAttribute(V21, { name: 'Lease Time', value: ttlv.interval(Tag.LeaseTime, 5) })]);
    expect(failure(ro)).toBe(ResultReason.AttributeReadOnly);
    const empty = await h.send(V21, Operation.SetAttribute, [uidItem(uid), ttlv.structure(Tag.NewAttribute, [])]);
    expect(failure(empty)).toBe(ResultReason.InvalidField);
  });

  test('Set and Adjust Attribute do not exist for a 1.4 client', async () => {
    const uid = await createAes(h, V14);
    expect(failure(await h.send(V14, Operation.SetAttribute, [uidItem(uid)]))).toBe(ResultReason.OperationNotSupported);
    expect(failure(await h.send(V14, Operation.AdjustAttribute, [uidItem(uid)]))).toBe(ResultReason.OperationNotSupported);
  });

  test('Adjust Attribute increments, decrements and negates a numeric attribute; refuses others', async () => {
    const uid = await createAes(h, V21);
    const counter = { name: 'x-counter', value: ttlv.integer(Tag.AttributeValue, 10) };
    successPayload(await add(V21, uid, counter));
    const adjust = (type: number, by?: TtlvItem, name = 'x-counter', tag?: number) =>
      h.send(V21, Operation.AdjustAttribute, [uidItem(uid), reference(V21, name, tag), ttlv.enumeration(Tag.AdjustmentType, type), ...(by ? [by] : [])]);
    successPayload(await adjust(AdjustmentType.Increment, ttlv.integer(Tag.AdjustmentValue, 5)));
    successPayload(await adjust(AdjustmentType.Decrement));
    successPayload(await adjust(AdjustmentType.Negate));
    expect((await attributeValues(h, V21, uid, 'x-counter'))[0]!.value).toBe(-14);
    expect(failure(await adjust(AdjustmentType.Decrement, ttlv.integer(Tag.AdjustmentValue, 2 ** 31 - 1)))).toBe(ResultReason.NumericRange);
    successPayload(await add(V21, uid, custom('x-text', 'abc')));
    expect(failure(await adjust(AdjustmentType.Increment, undefined, 'x-text'))).toBe(ResultReason.InvalidDataType);
    expect(failure(await adjust(AdjustmentType.Increment, undefined, 'Cryptographic Length', Tag.CryptographicLength))).toBe(ResultReason.AttributeReadOnly);
    expect(failure(await adjust(AdjustmentType.Increment, undefined, 'x-absent'))).toBe(ResultReason.AttributeNotFound);
    const noRef = await h.send(V21, Operation.AdjustAttribute, [uidItem(uid), ttlv.enumeration(Tag.AdjustmentType, AdjustmentType.Increment)]);
    expect(failure(noRef)).toBe(ResultReason.MissingData);
  });

  test('an Activation Date set in the past moves a Pre-Active object to Active', async () => {
    const uid = await createAes(h, V21);
    const past = BigInt(Math.floor(Date.now() / 1000) - 60);
    successPayload(await h.send(V21, Operation.SetAttribute, [uidItem(uid), newAttribute(V21, { name: 'Activation Date', value: ttlv.dateTime(Tag.ActivationDate, past) })]));
    expect((await h.embedded.store.get(uid))!.state).toBe(State.Active);
    expect((await attributeValues(h, V21, uid, 'State', Tag.State))[0]!.value).toBe(State.Active);
  });

  test('Get Attribute List in 2.1 names the server-set attributes of a new key', async () => {
    const uid = await createAes(h, V21);
    const p = successPayload(await h.send(V21, Operation.GetAttributeList, [uidItem(uid)]));
    const refs = allOf(p, Tag.AttributeReference).map((r) => r.value);
    for (const tag of [
      Tag.ShortUniqueIdentifier,
      Tag.Fresh,
      Tag.Sensitive,
      Tag.AlwaysSensitive,
      Tag.Extractable,
      Tag.NeverExtractable,
      Tag.LeaseTime,
      Tag.RandomNumberGenerator,
      Tag.KeyFormatType,
      Tag.ProtectionStorageMask,
      Tag.OriginalCreationDate,
    ]) {
      expect(refs).toContain(tag);
    }
  });
});
