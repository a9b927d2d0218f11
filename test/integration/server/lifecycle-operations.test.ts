/**
 * Check, Re-key, Archive and Recover (with Locate's Storage Status Mask) over a real SQLite file
 * and SoftHSM2 token, in KMIP 1.4 and 2.1, with every result reason the handlers give.
 */
import { ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  CryptographicUsageMask,
  LinkType,
  ObjectType,
  Operation,
  ResultReason,
  ResultStatus,
  State,
  StorageStatusMask,
  UsageLimitsUnit,
} from '../../../src/spec/generated/enums';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { attributesFor, allOf, find, successPayload, textOf } from '../../helpers/kmip-client';
import {
  VERSIONS,
  V21,
  attributeValues,
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
  h = await openHarness('lifecycle');
});
afterAll(async () => {
  await h.close();
});

function reason(v: ProtocolVersion, v2: number, v1: number): number {
  return v.major >= 2 ? v2 : v1;
}

const now = () => BigInt(Math.floor(Date.now() / 1000));

function check(v: ProtocolVersion, uid: string, fields: TtlvItem[]) {
  return h.send(v, Operation.Check, [uidItem(uid), ...fields]);
}

function locateByName(v: ProtocolVersion, name: string, mask?: number): TtlvItem[] {
  const filter = attributesFor(v, [{ name: 'Name', value: nameValue(name) }]) as TtlvStructure;
  const attrs = v.major >= 2 ? [filter] : filter.value;
  return mask === undefined ? attrs : [ttlv.integer(Tag.StorageStatusMask, mask), ...attrs];
}

async function located(v: ProtocolVersion, name: string, mask?: number): Promise<string[]> {
  const p = successPayload(await h.send(v, Operation.Locate, locateByName(v, name, mask)));
  return allOf(p, Tag.UniqueIdentifier).map((i) => String(i.value));
}

function linksOf(items: TtlvItem[]): { type: number; uid: string }[] {
  return items.map((l) => {
    const s = l as TtlvStructure;
    return { type: (find(s, Tag.LinkType) as { value: number }).value, uid: textOf(s, Tag.LinkedObjectIdentifier)! };
  });
}

describe.each(VERSIONS)('KMIP %s', (label, v) => {
  test('Check: a permitted usage mask passes; another mask, a longer lease, more uses than left fail', async () => {
    const limits = ttlv.structure(Tag.UsageLimits, [
      ttlv.longInteger(Tag.UsageLimitsTotal, 10n),
      ttlv.longInteger(Tag.UsageLimitsCount, 10n),
      ttlv.enumeration(Tag.UsageLimitsUnit, UsageLimitsUnit.Object),
    ]);
    const uid = await createAes(h, v, [{ name: 'Usage Limits', value: limits }], CryptographicUsageMask.Encrypt);
    const ok = successPayload(await check(v, uid, [ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt)]));
    expect(textOf(ok, Tag.UniqueIdentifier)).toBe(uid);
    successPayload(await check(v, uid, [ttlv.longInteger(Tag.UsageLimitsCount, 10n), ttlv.interval(Tag.LeaseTime, 60)]));
    const mask = await check(v, uid, [ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Decrypt)]);
    expect(failure(mask)).toBe(reason(v, ResultReason.IncompatibleCryptographicUsageMask, ResultReason.PermissionDenied));
    // 1.0-2.0: the failure's payload names the object and the field that failed (PyKMIP reads it); 2.1: none.
    const failedPayload = mask.items[0]!.payload;
    if (v.major < 2) {
      expect(textOf(failedPayload!, Tag.UniqueIdentifier)).toBe(uid);
      expect(find(failedPayload!, Tag.CryptographicUsageMask)?.value).toBe(CryptographicUsageMask.Decrypt);
    } else expect(failedPayload).toBeUndefined();
    const uses = await check(v, uid, [ttlv.longInteger(Tag.UsageLimitsCount, 11n)]);
    expect(failure(uses)).toBe(reason(v, ResultReason.UsageLimitExceeded, ResultReason.PermissionDenied));
    if (v.major < 2) expect(find(uses.items[0]!.payload!, Tag.UsageLimitsCount)?.value).toBe(11n);
    const lease = await check(v, uid, [ttlv.interval(Tag.LeaseTime, 10 * 24 * 3600)]);
    expect(failure(lease)).toBe(ResultReason.PermissionDenied);
    const badType = await check(v, uid, [ttlv.integer(Tag.UsageLimitsCount, 1)]);
    expect(failure(badType)).toBe(ResultReason.InvalidField);
  });

  test('Check: unknown, destroyed and archived objects', async () => {
    expect(failure(await check(v, 'nope', []))).toBe(reason(v, ResultReason.ObjectNotFound, ResultReason.ItemNotFound));
    const destroyed = await createAes(h, v);
    successPayload(await h.send(v, Operation.Destroy, [uidItem(destroyed)]));
    expect(failure(await check(v, destroyed, []))).toBe(reason(v, ResultReason.ObjectDestroyed, ResultReason.ItemNotFound));
    const archived = await createAes(h, v);
    successPayload(await h.send(v, Operation.Archive, [uidItem(archived)]));
    expect(failure(await check(v, archived, []))).toBe(ResultReason.ObjectArchived);
  });

  test('Re-key: new identifier, fresh bytes of the same kind, links both ways, Names moved, old state kept', async () => {
    const name = `rekey-${label}`;
    const old = await createAes(h, v, [{ name: 'Name', value: nameValue(name) }, { name: 'x-app', value: ttlv.textString(Tag.AttributeValue, 'db') }]);
    successPayload(await h.send(v, Operation.Activate, [uidItem(old)]));
    const p = successPayload(await h.send(v, Operation.ReKey, [uidItem(old)]));
    const fresh = textOf(p, Tag.UniqueIdentifier)!;
    expect(fresh).not.toBe(old);
    const [a, b] = [await getKeyBytes(h, v, old), await getKeyBytes(h, v, fresh)];
    expect(b.length).toBe(a.length);
    expect(b.equals(a)).toBe(false);
    expect(linksOf(await attributeValues(h, v, old, 'Link', Tag.Link))).toEqual([{ type: LinkType.ReplacementObjectLink, uid: fresh }]);
    expect(linksOf(await attributeValues(h, v, fresh, 'Link', Tag.Link))).toEqual([{ type: LinkType.ReplacedObjectLink, uid: old }]);
    expect(await located(v, name)).toEqual([fresh]);
    expect((await attributeValues(h, v, old, 'State', Tag.State))[0]!.value).toBe(State.Active);
    // No Offset: the replacement has the existing key's Activation Date, so it is Active too.
    expect((await attributeValues(h, v, fresh, 'State', Tag.State))[0]!.value).toBe(State.Active);
    expect((await attributeValues(h, v, fresh, 'x-app'))[0]!.value).toBe('db');
  });

  test("Re-key with Names in the request: the replacement keeps the existing key's Names and adds the request's", async () => {
    const [first, second, added] = [`keep-a-${label}`, `keep-b-${label}`, `added-${label}`];
    const old = await createAes(h, v, [{ name: 'Name', value: nameValue(first) }, { name: 'Name', value: nameValue(second) }]);
    const request = attributesFor(v, [{ name: 'Name', value: nameValue(added) }, { name: 'Name', value: nameValue(first) }]);
    const fresh = textOf(successPayload(await h.send(v, Operation.ReKey, [uidItem(old), request])), Tag.UniqueIdentifier)!;
    const names = (await attributeValues(h, v, fresh, 'Name', Tag.Name)).map((n) => textOf(n as TtlvStructure, Tag.NameValue));
    // Each Name once: the one both carry is not doubled.
    expect(names.sort()).toEqual([added, first, second].sort());
    expect(await attributeValues(h, v, old, 'Name', Tag.Name)).toEqual([]);
    expect(await located(v, added)).toEqual([fresh]);
  });

  test('Re-key with Offset: the new Activation Date is now + Offset, other dates keep their distance', async () => {
    const t = now();
    const old = await createAes(h, v, [
      { name: 'Activation Date', value: ttlv.dateTime(Tag.ActivationDate, t - 100n) },
      { name: 'Deactivation Date', value: ttlv.dateTime(Tag.DeactivationDate, t + 1000n) },
    ]);
    const p = successPayload(await h.send(v, Operation.ReKey, [uidItem(old), ttlv.interval(Tag.Offset, 3600)]));
    const answered = now();
    const fresh = textOf(p, Tag.UniqueIdentifier)!;
    const act = (await attributeValues(h, v, fresh, 'Activation Date', Tag.ActivationDate))[0]!.value as bigint;
    const deact = (await attributeValues(h, v, fresh, 'Deactivation Date', Tag.DeactivationDate))[0]!.value as bigint;
    // "Now" is when the server ran the Re-key: between our two readings of the clock, however slow.
    expect(act - 3600n >= t && act - 3600n <= answered).toBe(true);
    expect(deact - act).toBe(1100n);
    expect((await attributeValues(h, v, fresh, 'State', Tag.State))[0]!.value).toBe(State.PreActive);
  });

  test('Re-key sets the ID Placeholder for the next item of the batch', async () => {
    const old = await createAes(h, v);
    const r = await h.batch(v, [
      { operation: Operation.ReKey, payload: [uidItem(old)] },
      { operation: Operation.GetAttributes, payload: [] },
    ]);
    expect(r.items.map((i) => i.status)).toEqual([ResultStatus.Success, ResultStatus.Success]);
    expect(textOf(r.items[1]!.payload!, Tag.UniqueIdentifier)).toBe(textOf(r.items[0]!.payload!, Tag.UniqueIdentifier));
  });

  test('Re-key refuses other object types, destroyed and archived keys, and server-set template attributes', async () => {
    const secret = textOf(
      successPayload(
        await h.send(v, Operation.Create, [
          ttlv.enumeration(Tag.ObjectType, ObjectType.SecretData),
          attributesFor(v, [{ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt) }]),
        ]),
      ),
      Tag.UniqueIdentifier,
    )!;
    expect(failure(await h.send(v, Operation.ReKey, [uidItem(secret)]))).toBe(reason(v, ResultReason.IllegalObjectType, ResultReason.InvalidField));
    const destroyed = await createAes(h, v);
    successPayload(await h.send(v, Operation.Destroy, [uidItem(destroyed)]));
    expect(failure(await h.send(v, Operation.ReKey, [uidItem(destroyed)]))).toBe(reason(v, ResultReason.ObjectDestroyed, ResultReason.ItemNotFound));
    const archived = await createAes(h, v);
    successPayload(await h.send(v, Operation.Archive, [uidItem(archived)]));
    expect(failure(await h.send(v, Operation.ReKey, [uidItem(archived)]))).toBe(ResultReason.ObjectArchived);
    const live = await createAes(h, v);
    const state = attributesFor(v, [{ name: 'State', value: ttlv.enumeration(Tag.State, State.Active) }]);
    expect(failure(await h.send(v, Operation.ReKey, [uidItem(live), state]))).toBe(reason(v, ResultReason.AttributeReadOnly, ResultReason.PermissionDenied));
    expect(failure(await h.send(v, Operation.ReKey, [uidItem('missing')]))).toBe(reason(v, ResultReason.ObjectNotFound, ResultReason.ItemNotFound));
  });

  test('Archive and Recover: archived objects are not served and Locate finds them only in archival storage', async () => {
    const name = `archive-${label}`;
    const uid = await createAes(h, v, [{ name: 'Name', value: nameValue(name) }]);
    successPayload(await h.send(v, Operation.Archive, [uidItem(uid)]));
    const date = (await attributeValues(h, v, uid, 'Archive Date', Tag.ArchiveDate))[0];
    expect(date).toBeDefined();
    successPayload(await h.send(v, Operation.Archive, [uidItem(uid)]));
    expect((await attributeValues(h, v, uid, 'Archive Date', Tag.ArchiveDate))[0]!.value).toBe(date!.value);
    expect(failure(await h.send(v, Operation.Get, [uidItem(uid)]))).toBe(ResultReason.ObjectArchived);
    expect(await located(v, name)).toEqual([]);
    expect(await located(v, name, StorageStatusMask.ArchivalStorage)).toEqual([uid]);
    expect(await located(v, name, StorageStatusMask.OnLineStorage | StorageStatusMask.ArchivalStorage)).toEqual([uid]);
    successPayload(await h.send(v, Operation.Recover, [uidItem(uid)]));
    successPayload(await h.send(v, Operation.Recover, [uidItem(uid)]));
    expect(await attributeValues(h, v, uid, 'Archive Date', Tag.ArchiveDate)).toEqual([]);
    expect((await getKeyBytes(h, v, uid)).length).toBe(32);
    expect(await located(v, name)).toEqual([uid]);
    expect(await located(v, name, StorageStatusMask.ArchivalStorage)).toEqual([]);
    expect(failure(await h.send(v, Operation.Archive, [uidItem('missing')]))).toBe(reason(v, ResultReason.ObjectNotFound, ResultReason.ItemNotFound));
    expect(failure(await h.send(v, Operation.Recover, [uidItem('missing')]))).toBe(reason(v, ResultReason.ObjectNotFound, ResultReason.ItemNotFound));
  });

  test('Locate: destroyed objects only in 2.x Destroyed Storage', async () => {
    const name = `destroyed-${label}`;
    const uid = await createAes(h, v, [{ name: 'Name', value: nameValue(name) }]);
    successPayload(await h.send(v, Operation.Destroy, [uidItem(uid)]));
    expect(await located(v, name)).toEqual([]);
    expect(await located(v, name, 0)).toEqual([]);
    expect(await located(v, name, StorageStatusMask.DestroyedStorage)).toEqual(v.major >= 2 ? [uid] : []);
  });
});

test('Check passes on a Pre-Active key (usage is checked, not state)', async () => {
  const uid = await createAes(h, V21, [], CryptographicUsageMask.Encrypt);
  successPayload(await check(V21, uid, [ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Encrypt)]));
});
