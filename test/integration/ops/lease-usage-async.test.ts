/**
 * Obtain Lease, Get Usage Allocation, Poll and Cancel through handleMessage (real SQLite, real
 * SoftHSM2), in KMIP 1.0, 1.4 and 2.1, following the spec and the KMIP 1.0 use cases 5.1 (usage
 * allocation) and 9.5 (a lease refused for a compromised key).
 */
import { ItemType, ttlv, type TtlvItem } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import {
  BlockCipherMode,
  CancellationResult,
  CryptographicUsageMask,
  ObjectType,
  Operation,
  PaddingMethod,
  ResultReason,
  RevocationReasonCode,
  UsageLimitsUnit,
} from '../../../src/spec/generated/enums';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { LEASE_TIME_SECONDS } from '../../../src/objects/new-object';
import { attributesFor, find, successPayload } from '../../helpers/kmip-client';
import { ENCRYPT_DECRYPT, V14, V21, aesTemplate, attributeValues, createAes, failure, newAttribute, openHarness, uidItem, type Harness } from '../../helpers/ops-harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness('lease-usage');
});
afterAll(async () => {
  await h.close();
});

const V10: ProtocolVersion = { major: 1, minor: 0 };
const ALL: readonly [string, ProtocolVersion][] = [
  ['1.0', V10],
  ['1.4', V14],
  ['2.1', V21],
];
const now = () => BigInt(Math.floor(Date.now() / 1000));
const activation = (at: bigint): KmipAttribute => ({ name: 'Activation Date', value: ttlv.dateTime(Tag.ActivationDate, at) });
const limits = (total: bigint): KmipAttribute => ({
  name: 'Usage Limits',
  value: ttlv.structure(Tag.UsageLimits, [ttlv.longInteger(Tag.UsageLimitsTotal, total), ttlv.enumeration(Tag.UsageLimitsUnit, UsageLimitsUnit.Byte)]),
});

function revoke(uid: string, code: number): TtlvItem[] {
  const reason = ttlv.structure(Tag.RevocationReason, [ttlv.enumeration(Tag.RevocationReasonCode, code)]);
  return code === RevocationReasonCode.KeyCompromise
    ? [uidItem(uid), reason, ttlv.dateTime(Tag.CompromiseOccurrenceDate, now() - 10n)]
    : [uidItem(uid), reason];
}

async function usageCount(v: ProtocolVersion, uid: string): Promise<bigint | undefined> {
  const [ul] = await attributeValues(h, v, uid, 'Usage Limits', Tag.UsageLimits);
  const count = ul && ul.type === ItemType.Structure ? find(ul, Tag.UsageLimitsCount) : undefined;
  return count?.type === ItemType.LongInteger ? count.value : undefined;
}

describe.each(ALL)('KMIP %s Obtain Lease', (_label, v) => {
  test('an Active key gets the server\'s Lease Time and its current Last Change Date', async () => {
    const uid = await createAes(h, v, [activation(now() - 60n)]);
    const p = successPayload(await h.send(v, Operation.ObtainLease, [uidItem(uid)]));
    expect(find(p, Tag.UniqueIdentifier)?.value).toBe(uid);
    expect(find(p, Tag.LeaseTime)).toMatchObject({ type: ItemType.Interval, value: LEASE_TIME_SECONDS });
    const [lastChange] = await attributeValues(h, v, uid, 'Last Change Date', Tag.LastChangeDate);
    expect(find(p, Tag.LastChangeDate)?.value).toBe(lastChange?.value);
  });

  test('the lease never runs past the Deactivation Date', async () => {
    const before = now();
    const uid = await createAes(h, v, [activation(before - 60n), { name: 'Deactivation Date', value: ttlv.dateTime(Tag.DeactivationDate, before + 100n) }]);
    const lease = find(successPayload(await h.send(v, Operation.ObtainLease, [uidItem(uid)])), Tag.LeaseTime)?.value as number;
    const after = now();
    // The time left until the Deactivation Date when the server answered: between our two clock readings.
    expect(lease).toBeGreaterThanOrEqual(100 - Number(after - before) - 1);
    expect(lease).toBeLessThanOrEqual(100);
  });

  test('use case 9.5: a compromised key gets no new lease (Permission Denied); neither does a Pre-Active one', async () => {
    const uid = await createAes(h, v, [activation(now() - 60n)]);
    successPayload(await h.send(v, Operation.Revoke, revoke(uid, RevocationReasonCode.KeyCompromise)));
    expect(failure(await h.send(v, Operation.ObtainLease, [uidItem(uid)]))).toBe(ResultReason.PermissionDenied);
    const pre = await createAes(h, v);
    expect(failure(await h.send(v, Operation.ObtainLease, [uidItem(pre)]))).toBe(ResultReason.PermissionDenied);
  });

  test('the ID Placeholder stands in for the identifier; an unknown object is not found', async () => {
    const r = await h.batch(v, [
      { operation: Operation.Create, payload: [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), ...createPayload(v)] },
      { operation: Operation.ObtainLease, payload: [] },
    ]);
    expect(r.items[1]!.payload && find(r.items[1]!.payload, Tag.LeaseTime)?.value).toBe(LEASE_TIME_SECONDS);
    expect(failure(await h.send(v, Operation.ObtainLease, [uidItem('no-such-object')]))).toBe(v.major >= 2 ? ResultReason.ObjectNotFound : ResultReason.ItemNotFound);
  });
});

function createPayload(v: ProtocolVersion): TtlvItem[] {
  return [attributesFor(v, [...aesTemplate(undefined, ENCRYPT_DECRYPT), activation(now() - 60n)])];
}

describe.each(ALL)('KMIP %s Get Usage Allocation', (_label, v) => {
  const allocate = (uid: string, n: bigint) => h.send(v, Operation.GetUsageAllocation, [uidItem(uid), ttlv.longInteger(Tag.UsageLimitsCount, n)]);

  test('use case 5.1: two allocations of 500 from 1000 succeed, a third is refused; the count goes down', async () => {
    const uid = await createAes(h, v, [activation(now() - 60n), limits(1000n)]);
    expect(find(successPayload(await allocate(uid, 500n)), Tag.UniqueIdentifier)?.value).toBe(uid);
    expect(await usageCount(v, uid)).toBe(500n);
    successPayload(await allocate(uid, 500n));
    expect(await usageCount(v, uid)).toBe(0n);
    expect(failure(await allocate(uid, 500n))).toBe(v.major >= 2 ? ResultReason.UsageLimitExceeded : ResultReason.PermissionDenied);
  });

  test('an object without Usage Limits, or one that cannot protect, is refused', async () => {
    const plain = await createAes(h, v, [activation(now() - 60n)]);
    expect(failure(await allocate(plain, 1n))).toBe(v.major >= 2 ? ResultReason.AttributeNotFound : ResultReason.IllegalOperation);
    const secret = successPayload(
      await h.send(v, Operation.Create, [
        ttlv.enumeration(Tag.ObjectType, ObjectType.SecretData),
        attributesFor(v, [{ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.DeriveKey) }]),
      ]),
    );
    const sid = find(secret, Tag.UniqueIdentifier)?.value as string;
    expect(failure(await allocate(sid, 1n))).toBe(v.major >= 2 ? ResultReason.InvalidObjectType : ResultReason.IllegalOperation);
  });

  test('only while protection is enabled: a Pre-Active or Deactivated key is refused', async () => {
    const pre = await createAes(h, v, [limits(1000n)]);
    expect(failure(await allocate(pre, 1n))).toBe(ResultReason.PermissionDenied);
    const done = await createAes(h, v, [activation(now() - 60n), limits(1000n)]);
    successPayload(await h.send(v, Operation.Revoke, revoke(done, RevocationReasonCode.CessationOfOperation)));
    expect(failure(await allocate(done, 1n))).toBe(ResultReason.PermissionDenied);
  });

  test('the Usage Limits Count to allocate is required (Invalid Message)', async () => {
    const uid = await createAes(h, v, [activation(now() - 60n), limits(10n)]);
    expect(failure(await h.send(v, Operation.GetUsageAllocation, [uidItem(uid)]))).toBe(ResultReason.InvalidMessage);
  });
});

describe.each(ALL)('KMIP %s Poll and Cancel of a value no operation was given', (_label, v) => {
  const acv = Buffer.from('48D43C207CD1FB3A', 'hex');

  test('Cancel answers Unavailable and echoes the Asynchronous Correlation Value', async () => {
    const p = successPayload(await h.send(v, Operation.Cancel, [ttlv.byteString(Tag.AsynchronousCorrelationValue, acv)]));
    const echoed = find(p, Tag.AsynchronousCorrelationValue);
    expect(echoed?.type === ItemType.ByteString && Buffer.from(echoed.value).equals(acv)).toBe(true);
    expect(find(p, Tag.CancellationResult)?.value).toBe(CancellationResult.Unavailable);
  });

  test('Poll: no outstanding operation has this value', async () => {
    const r = await h.send(v, Operation.Poll, [ttlv.byteString(Tag.AsynchronousCorrelationValue, acv)]);
    expect(failure(r)).toBe(v.major >= 2 ? ResultReason.InvalidAsynchronousCorrelationValue : ResultReason.ItemNotFound);
  });

  test('the Asynchronous Correlation Value is required', async () => {
    expect(failure(await h.send(v, Operation.Poll, []))).toBe(ResultReason.MissingData);
    expect(failure(await h.send(v, Operation.Cancel, []))).toBe(ResultReason.MissingData);
  });
});

describe.each(ALL)('KMIP %s Usage Limits Count (1.0 3.16: set to the Total when first set, counted down with use)', (_label, v) => {
  const withCount = (total: bigint, count: bigint): KmipAttribute => ({
    name: 'Usage Limits',
    value: ttlv.structure(Tag.UsageLimits, [
      ttlv.longInteger(Tag.UsageLimitsTotal, total),
      ttlv.longInteger(Tag.UsageLimitsCount, count),
      ttlv.enumeration(Tag.UsageLimitsUnit, UsageLimitsUnit.Byte),
    ]),
  });
  const encrypt = (uid: string, bytes: number) =>
    h.send(v, Operation.Encrypt, [
      uidItem(uid),
      // CTR (the default profile refuses ECB for Encrypt): no padding, one output byte per input byte.
      ttlv.structure(Tag.CryptographicParameters, [ttlv.enumeration(Tag.BlockCipherMode, BlockCipherMode.CTR), ttlv.enumeration(Tag.PaddingMethod, PaddingMethod.None)]),
      ttlv.byteString(Tag.Data, Buffer.alloc(bytes, 1)),
    ]);

  test('Create: the Count is the Total (a Count the client sends is ignored), and goes down as the key encrypts', async () => {
    const uid = await createAes(h, v, [activation(now() - 60n), limits(64n)]);
    expect(await usageCount(v, uid)).toBe(64n);
    const ignored = await createAes(h, v, [activation(now() - 60n), withCount(64n, 3n)]);
    expect(await usageCount(v, ignored)).toBe(64n);
    if (v.major > 1 || v.minor >= 2) {
      successPayload(await encrypt(uid, 16));
      expect(await usageCount(v, uid)).toBe(48n);
      successPayload(await encrypt(uid, 32));
      expect(await usageCount(v, uid)).toBe(16n);
      expect(failure(await encrypt(uid, 32))).toBe(ResultReason.PermissionDenied);
      expect(await usageCount(v, uid)).toBe(16n);
    }
  });

  test('Add Attribute sets the Count to the Total; Modify Attribute corrects the Total, and the Count follows only while unused', async () => {
    const uid = await createAes(h, v, [activation(now() - 60n)]);
    const add = v.major >= 2 ? Operation.SetAttribute : Operation.AddAttribute;
    successPayload(await h.send(v, add, [uidItem(uid), newAttribute(v, withCount(100n, 7n))]));
    expect(await usageCount(v, uid)).toBe(100n);
    successPayload(await h.send(v, Operation.ModifyAttribute, [uidItem(uid), newAttribute(v, withCount(200n, 7n))]));
    expect(await usageCount(v, uid)).toBe(200n);
    successPayload(await h.send(v, Operation.GetUsageAllocation, [uidItem(uid), ttlv.longInteger(Tag.UsageLimitsCount, 50n)]));
    expect(await usageCount(v, uid)).toBe(150n);
  });
});
