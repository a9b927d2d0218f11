/** The SQLite store on a real file: group commit, savepoint isolation, and the row cache's coherence. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { SqliteObjectStore } from '../../../src/store/sqlite';
import { StoreError, type NewObject } from '../../../src/store/object-store';
import { ttlv, ItemType, type TtlvItem } from '../../../ttlv/types';

const NAME_TAG = 0x420053;
const NAME_VALUE_TAG = 0x420055;

let dir: string;
let stores: SqliteObjectStore[];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-store-'));
  stores = [];
});
afterEach(() => {
  for (const s of stores) s.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function open(cachedObjects?: number): SqliteObjectStore {
  const s = new SqliteObjectStore({ path: path.join(dir, 'objects.db'), cachedObjects });
  stores.push(s);
  return s;
}

function nameValue(text: string): TtlvItem {
  return ttlv.structure(NAME_TAG, [ttlv.textString(NAME_VALUE_TAG, text)]);
}

function newObject(uid: string, name: string): NewObject {
  return {
    uid,
    objectType: 2,
    state: 1,
    owner: 'alice',
    attributes: [{ name: 'Name', index: 0, value: nameValue(name) }],
    protectedMaterial: { kekId: 'kek', mechanism: 'aes-gcm', iv: randomBytes(12), ciphertext: randomBytes(48) },
  };
}

function firstName(record: { attributes: readonly { name: string; value: TtlvItem }[] } | undefined): string | undefined {
  const v = record?.attributes.find((a) => a.name === 'Name')?.value;
  if (v?.type !== ItemType.Structure) return undefined;
  const text = v.value[0];
  return text?.type === ItemType.TextString ? text.value : undefined;
}

test('a record handed out is the caller’s: changing it does not change the next read', async () => {
  const store = open();
  const obj = newObject('u1', 'first');
  await store.insert(obj);
  const a = store.get('u1')!;
  const name = a.attributes[0]!.value;
  if (name.type !== ItemType.Structure) throw new Error('Name is a structure');
  name.value.push(ttlv.textString(NAME_VALUE_TAG, 'extra'));
  (a.protectedMaterial!.ciphertext as Uint8Array).fill(0);
  const b = store.get('u1')!;
  const bName = b.attributes[0]!.value;
  expect(bName.type === ItemType.Structure && bName.value.length).toBe(1);
  expect(Buffer.from(b.protectedMaterial!.ciphertext).equals(Buffer.from(obj.protectedMaterial!.ciphertext))).toBe(true);
});

test('reads after a committed update, batch or removal see the new rows, not cached ones', async () => {
  const store = open();
  await store.insert(newObject('u1', 'before'));
  await store.insert(newObject('u2', 'other'));
  expect(firstName(store.get('u1'))).toBe('before'); // now cached
  await store.update('u1', { state: 2, attributes: [{ name: 'Name', index: 0, value: nameValue('after') }] });
  expect(store.get('u1')?.state).toBe(2);
  expect(firstName(store.get('u1'))).toBe('after');
  await store.writeBatch([{ uid: 'u1', update: { state: 3 } }, { uid: 'u2', update: { state: 4 } }]);
  expect([store.get('u1')?.state, store.get('u2')?.state]).toEqual([3, 4]);
  await store.remove('u1');
  expect(store.get('u1')).toBeUndefined();
  expect(store.get('u2')?.state).toBe(4);
});

test('an update is invisible until it commits, and a failed write leaves its neighbours and the cache intact', async () => {
  const store = open();
  await store.insert(newObject('u1', 'kept'));
  expect(store.get('u1')?.state).toBe(1);
  const pending = store.update('u1', { state: 2 });
  expect(store.get('u1')?.state).toBe(1); // queued for the group commit, not yet committed
  const duplicate = expect(store.insert(newObject('u1', 'duplicate'))).rejects.toBeInstanceOf(StoreError);
  const neighbour = store.insert(newObject('u3', 'neighbour'));
  await pending;
  await duplicate;
  await neighbour;
  expect(store.get('u1')?.state).toBe(2);
  expect(firstName(store.get('u1'))).toBe('kept');
  expect(firstName(store.get('u3'))).toBe('neighbour');
});

test('concurrent inserts share commits, and every acknowledged one is in the file after reopening', async () => {
  const store = open(2); // a cache smaller than the working set: evictions on every read
  const objs = Array.from({ length: 200 }, (_, i) => newObject(`u${i}`, `name-${i}`));
  await Promise.all(objs.map((o) => store.insert(o)));
  for (let round = 0; round < 2; round++) {
    for (const o of objs) expect(firstName(store.get(o.uid))).toBe(firstName(o));
  }
  store.close();
  stores = [];
  const again = open();
  expect(again.integrityCheck()).toBe('ok');
  for (const o of objs) {
    const r = again.get(o.uid);
    expect(Buffer.from(r!.protectedMaterial!.ciphertext).equals(Buffer.from(o.protectedMaterial!.ciphertext))).toBe(true);
  }
  expect(again.locate({ conditions: [{ kind: 'equals', name: 'Name', value: nameValue('name-7') }] })).toEqual(['u7']);
});
