/**
 * A key's first Get, where Fresh turns false: answered without waiting for a commit or a disk
 * sync (the Fresh write rides a later group commit), yet Fresh reads false at once, concurrent
 * changes to the key are all kept, and a Get undone by its batch leaves the key Fresh.
 */
import { ttlv, type TtlvItem } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { BatchErrorContinuationOption, Operation, ResultStatus, State } from '../../../src/spec/generated/enums';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { attributeValues, createAes, getKeyBytes, newAttribute, HARNESS_ENGINE, openHarness, sqliteStoreOf, uidItem, V14, VERSIONS, type Harness } from '../../helpers/ops-harness';
import { successPayload } from '../../helpers/kmip-client';

let h: Harness;
beforeAll(async () => {
  h = await openHarness('first-get');
});
afterAll(async () => {
  await h.close();
});

async function fresh(v: ProtocolVersion, uid: string): Promise<unknown> {
  const values = await attributeValues(h, v, uid, 'Fresh', Tag.Fresh);
  expect(values).toHaveLength(1);
  return values[0]!.value;
}

async function customValue(v: ProtocolVersion, uid: string, name: string): Promise<unknown[]> {
  return (await attributeValues(h, v, uid, name)).map((i) => i.value);
}

function custom(v: ProtocolVersion, name: string, value: string): TtlvItem {
  return newAttribute(v, { name, value: ttlv.textString(Tag.AttributeValue, value) });
}

test.each(VERSIONS)('%s: the first Get is answered before any commit or sync, and Fresh reads false at once and once durable', async (_name, v) => {
  const uid = await createAes(h, v);
  expect(await fresh(v, uid)).toBe(true);
  // The commit and sync counts are SQLite's group commit (sqlite.ts); the behaviour holds on both engines.
  const store = HARNESS_ENGINE === 'sqlite' ? sqliteStoreOf(h.embedded.store) : undefined;
  const before = store?.writeStats();
  const key = await getKeyBytes(h, v, uid);
  // The answer came with its Fresh write still queued: no commit and no sync since (the write
  // used to be committed and fdatasync'd before the answer).
  if (store) expect(store.writeStats()).toEqual({ ...before, deferredQueued: 1 });
  expect(await fresh(v, uid)).toBe(false);
  // A durable write after it is acknowledged only after a sync that covers the Fresh write too.
  successPayload(await h.send(v, Operation.AddAttribute, [uidItem(uid), custom(v, 'x-after', 'yes')]));
  if (store) {
    const after = store.writeStats();
    expect(after.deferredQueued).toBe(0);
    expect(after.syncs).toBeGreaterThan(before!.syncs);
  } else await h.embedded.store.settled();
  expect(await fresh(v, uid)).toBe(false);
  expect(await customValue(v, uid, 'x-after')).toEqual(['yes']);
  // Later Gets write nothing at all.
  const settled = store?.writeStats();
  const revision = (await h.embedded.store.get(uid))!.revision;
  expect(await getKeyBytes(h, v, uid)).toEqual(key);
  if (store) expect(store.writeStats()).toEqual(settled);
  await h.embedded.store.settled();
  expect((await h.embedded.store.get(uid))!.revision).toBe(revision);
});

test('first Gets, Add Attribute and Activate of the same keys at once, in either order: every change is kept', async () => {
  const uids: string[] = [];
  for (let i = 0; i < 8; i++) uids.push(await createAes(h, V14));
  const answers = await Promise.all(
    uids.flatMap((uid, i) => {
      const requests = [
        () => h.send(V14, Operation.Get, [uidItem(uid)]),
        () => h.send(V14, Operation.AddAttribute, [uidItem(uid), custom(V14, 'x-concurrent', `v${i}`)]),
        () => h.send(V14, Operation.Activate, [uidItem(uid)]),
      ];
      // Rotate which request reaches the store first.
      return [...requests.slice(i % 3), ...requests.slice(0, i % 3)].map((send) => send());
    }),
  );
  for (const a of answers) expect(a.items[0]!.status).toBe(ResultStatus.Success);
  for (const [i, uid] of uids.entries()) {
    expect(await fresh(V14, uid)).toBe(false);
    expect(await customValue(V14, uid, 'x-concurrent')).toEqual([`v${i}`]);
    expect((await attributeValues(h, V14, uid, 'State', Tag.State))[0]!.value).toBe(State.Active);
  }
});

test('a Get undone by its batch (Batch Error Continuation Option Undo) leaves the key Fresh', async () => {
  const uid = await createAes(h, V14);
  const r = await h.batch(
    V14,
    [
      { operation: Operation.Get, payload: [uidItem(uid)] },
      { operation: Operation.Get, payload: [uidItem('no-such-object')] },
    ],
    [ttlv.enumeration(Tag.BatchErrorContinuationOption, BatchErrorContinuationOption.Undo)],
  );
  expect(r.items.map((i) => i.status)).toEqual([ResultStatus.OperationUndone, ResultStatus.OperationFailed]);
  // Once a durable write after it is in, a Fresh write of the undone Get would be in too.
  successPayload(await h.send(V14, Operation.AddAttribute, [uidItem(uid), custom(V14, 'x-after', 'yes')]));
  // Every deferred write is committed or given up by now: an undone Get's would have been committed.
  await h.embedded.store.settled();
  expect(await fresh(V14, uid)).toBe(true);
  // Served for real now.
  await getKeyBytes(h, V14, uid);
  expect(await fresh(V14, uid)).toBe(false);
});
