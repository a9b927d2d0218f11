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
  const a = (await store.get('u1'))!;
  const name = a.attributes[0]!.value;
  if (name.type !== ItemType.Structure) throw new Error('Name is a structure');
  name.value.push(ttlv.textString(NAME_VALUE_TAG, 'extra'));
  (a.protectedMaterial!.ciphertext as Uint8Array).fill(0);
  const b = (await store.get('u1'))!;
  const bName = b.attributes[0]!.value;
  expect(bName.type === ItemType.Structure && bName.value.length).toBe(1);
  expect(Buffer.from(b.protectedMaterial!.ciphertext).equals(Buffer.from(obj.protectedMaterial!.ciphertext))).toBe(true);
});

test('a row inserted is cached as committed: what get() answers right after equals what a reopened store reads', async () => {
  const store = open();
  const objects = ['c1', 'c2', 'c3'].map((u) => newObject(u, `name-${u}`));
  // One alone, two in one batch, one inserted and updated in the same commit (not cached from the insert).
  await store.insert(objects[0]!);
  await Promise.all([store.insert(objects[1]!), store.writeBatch([{ insert: objects[2]! }])]);
  const both = newObject('c4', 'before');
  const done = Promise.all([store.insert(both), store.update('c4', { attributes: [{ name: 'Name', index: 0, value: nameValue('after') }], expectedRevision: null })]);
  await done;
  const cached = await Promise.all(['c1', 'c2', 'c3', 'c4'].map((u) => store.get(u)));
  const reopened = new SqliteObjectStore({ path: path.join(dir, 'objects.db'), cachedObjects: 0 });
  stores.push(reopened);
  expect(cached).toEqual(await Promise.all(['c1', 'c2', 'c3', 'c4'].map((u) => reopened.get(u))));
  expect(firstName(cached[3])).toBe('after');
});

test('reads after a committed update, batch or removal see the new rows, not cached ones', async () => {
  const store = open();
  await store.insert(newObject('u1', 'before'));
  await store.insert(newObject('u2', 'other'));
  expect(firstName(await store.get('u1'))).toBe('before'); // now cached
  await store.update('u1', { state: 2, attributes: [{ name: 'Name', index: 0, value: nameValue('after') }], expectedRevision: 0 });
  expect((await store.get('u1'))?.state).toBe(2);
  expect(firstName(await store.get('u1'))).toBe('after');
  await store.writeBatch([{ uid: 'u1', update: { state: 3, expectedRevision: 1 } }, { uid: 'u2', update: { state: 4, expectedRevision: 0 } }]);
  expect([(await store.get('u1'))?.state, (await store.get('u2'))?.state]).toEqual([3, 4]);
  await store.remove('u1');
  expect(await store.get('u1')).toBeUndefined();
  expect((await store.get('u2'))?.state).toBe(4);
});

test('an update computed from a stale read is refused whole (CONFLICT); each committed update moves the revision by one', async () => {
  const store = open();
  await store.insert(newObject('u1', 'first'));
  const read = (await store.get('u1'))!;
  expect(read.revision).toBe(0);
  // Two changes computed from the same read, as two connections would: the second must not win.
  const a = store.update('u1', { attributes: [{ name: 'Name', index: 0, value: nameValue('a') }], expectedRevision: read.revision });
  const b = store.update('u1', { state: 2, attributes: [{ name: 'Name', index: 0, value: nameValue('b') }], expectedRevision: read.revision });
  await Promise.all([a, expect(b).rejects.toMatchObject({ code: 'CONFLICT' })]);
  const now = (await store.get('u1'))!;
  expect([firstName(now), now.state, now.revision]).toEqual(['a', 1, 1]);
  // Based on the fresh read, it goes through; null (undo) overwrites whatever is there.
  await store.update('u1', { state: 2, expectedRevision: now.revision });
  await store.update('u1', { state: 3, expectedRevision: null });
  expect([(await store.get('u1'))!.state, (await store.get('u1'))!.revision]).toEqual([3, 3]);
  // The index entries of a refused update were not written either.
  expect(await store.locate({ conditions: [{ kind: 'equals', name: 'Name', value: nameValue('b') }], order: 'oldest' })).toEqual([]);
});

test('an update is invisible until it commits, and a failed write leaves its neighbours and the cache intact', async () => {
  const store = open();
  await store.insert(newObject('u1', 'kept'));
  expect((await store.get('u1'))?.state).toBe(1);
  const pending = store.update('u1', { state: 2, expectedRevision: null });
  expect((await store.get('u1'))?.state).toBe(1); // queued for the group commit, not yet committed
  const duplicate = expect(store.insert(newObject('u1', 'duplicate'))).rejects.toBeInstanceOf(StoreError);
  const neighbour = store.insert(newObject('u3', 'neighbour'));
  await pending;
  await duplicate;
  await neighbour;
  expect((await store.get('u1'))?.state).toBe(2);
  expect(firstName(await store.get('u1'))).toBe('kept');
  expect(firstName(await store.get('u3'))).toBe('neighbour');
});

test('concurrent inserts share commits, and every acknowledged one is in the file after reopening', async () => {
  const store = open(2); // a cache smaller than the working set: evictions on every read
  const objs = Array.from({ length: 200 }, (_, i) => newObject(`u${i}`, `name-${i}`));
  await Promise.all(objs.map((o) => store.insert(o)));
  for (let round = 0; round < 2; round++) {
    for (const o of objs) expect(firstName(await store.get(o.uid))).toBe(firstName(o));
  }
  store.close();
  stores = [];
  const again = open();
  expect(again.integrityCheck()).toBe('ok');
  for (const o of objs) {
    const r = await again.get(o.uid);
    expect(Buffer.from(r!.protectedMaterial!.ciphertext).equals(Buffer.from(o.protectedMaterial!.ciphertext))).toBe(true);
  }
  expect(await again.locate({ conditions: [{ kind: 'equals', name: 'Name', value: nameValue('name-7') }] })).toEqual(['u7']);
});

// ---------------------------------------------------------------------------------------------
// Locate over index entries and over attribute blobs (attributes without index entries).

const FRESH_TAG = 0x420096;
const LENGTH_TAG = 0x42002a;
const MASK_TAG = 0x42002c;

function keyWith(uid: string, name: string, fresh: boolean, length: number, mask: number, extra: NewObject['attributes'] = []): NewObject {
  return {
    ...newObject(uid, name),
    attributes: [
      { name: 'Name', index: 0, value: nameValue(name) },
      { name: 'Fresh', index: 0, value: ttlv.boolean(FRESH_TAG, fresh) },
      { name: 'Cryptographic Length', index: 0, value: ttlv.integer(LENGTH_TAG, length) },
      { name: 'Cryptographic Usage Mask', index: 0, value: ttlv.integer(MASK_TAG, mask) },
      ...extra,
    ],
  };
}

test('Locate answers conditions on indexed and on unindexed attributes alike, with offset and limit counting matches', async () => {
  const store = open();
  await store.writeBatch([
    { insert: keyWith('k1', 'alpha', true, 128, 4) },
    { insert: keyWith('k2', 'beta', false, 256, 12) },
    { insert: keyWith('k3', 'gamma', true, 256, 8) },
    { insert: keyWith('k4', 'delta', true, 256, 12) },
    { insert: keyWith('k5', 'alpha', false, 128, 4) },
  ]);
  const locate = (conditions: Parameters<SqliteObjectStore['locate']>[0]['conditions'], more: { offset?: number; limit?: number } = {}) =>
    store.locate({ owner: 'alice', conditions, order: 'oldest', ...more });
  const fresh = { kind: 'equals' as const, name: 'Fresh', value: ttlv.boolean(FRESH_TAG, true) };
  expect(await locate([fresh])).toEqual(['k1', 'k3', 'k4']);
  expect(await locate([fresh, { kind: 'range', name: 'Cryptographic Length', min: 200n, max: 300n }])).toEqual(['k3', 'k4']);
  expect(await locate([fresh, { kind: 'maskContains', name: 'Cryptographic Usage Mask', bits: 8 }])).toEqual(['k3', 'k4']);
  expect(await locate([{ kind: 'equals', name: 'Name', value: nameValue('alpha') }])).toEqual(['k1', 'k5']);
  expect(await locate([fresh], { offset: 1, limit: 1 })).toEqual(['k3']);
  expect(await locate([fresh], { offset: 3 })).toEqual([]);
  expect(await store.locate({ owner: 'alice', conditions: [fresh], order: 'newest', limit: 2 })).toEqual(['k4', 'k3']);
  // absent, on an unindexed and on an indexed attribute
  expect(await locate([{ kind: 'absent', name: 'Digest' }])).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);
  expect(await locate([{ kind: 'absent', name: 'Name' }])).toEqual([]);
  // after an update the blob and the index entries both follow
  const k2 = (await store.get('k2'))!;
  await store.update('k2', {
    expectedRevision: k2.revision,
    attributes: k2.attributes.map((a) =>
      a.name === 'Fresh' ? { ...a, value: ttlv.boolean(FRESH_TAG, true) } : a.name === 'Name' ? { ...a, value: nameValue('zeta') } : a,
    ),
  });
  expect(await locate([fresh])).toEqual(['k1', 'k2', 'k3', 'k4']);
  expect(await locate([{ kind: 'equals', name: 'Name', value: nameValue('beta') }])).toEqual([]);
  expect(await locate([{ kind: 'equals', name: 'Name', value: nameValue('zeta') }])).toEqual(['k2']);
  await store.remove('k3');
  expect(await locate([fresh, { kind: 'range', name: 'Cryptographic Length', min: 256n }])).toEqual(['k2', 'k4']);
  expect(store.integrityCheck()).toBe('ok');
});

test('a schema 2 store (one row per attribute) is converted on open: same records, same Locate answers', async () => {
  const file = path.join(dir, 'objects.db');
  // Schema 2 as the previous release left it, written with plain SQL.
  const { MIGRATIONS } = await import('../../../src/store/migrations');
  const Database = (await import('better-sqlite3')).default;
  const { encodeTtlv } = await import('../../../ttlv/encode');
  const old = new Database(file);
  old.pragma('journal_mode = WAL');
  for (const m of MIGRATIONS.filter((x) => x.version <= 2)) old.exec(m.sql);
  old.pragma('user_version = 2');
  const put = old.prepare(
    `INSERT INTO objects (uid, object_type, state, owner, kek_id, mechanism, iv, ciphertext, created_at, updated_at) VALUES (?, 2, 1, 'alice', 'kek', 'aes-gcm', ?, ?, 0, 0)`,
  );
  const putAttr = old.prepare(`INSERT INTO attributes (object_seq, name, idx, ttlv, skey, nval) VALUES (?, ?, ?, ?, ?, ?)`);
  for (const [uid, name, fresh] of [['o1', 'one', true], ['o2', 'two', false]] as const) {
    const seq = Number(put.run(uid, randomBytes(12), randomBytes(48)).lastInsertRowid);
    putAttr.run(seq, 'Name', 0, Buffer.from(encodeTtlv(nameValue(name))), '', null);
    putAttr.run(seq, 'Fresh', 0, Buffer.from(encodeTtlv(ttlv.boolean(FRESH_TAG, fresh))), fresh ? '1' : '0', null);
    putAttr.run(seq, 'Cryptographic Length', 0, Buffer.from(encodeTtlv(ttlv.integer(LENGTH_TAG, 256))), '', 256);
  }
  old.close();

  const store = open();
  expect(firstName(await store.get('o2'))).toBe('two');
  expect((await store.get('o1'))!.attributes.map((a) => a.name)).toEqual(['Cryptographic Length', 'Fresh', 'Name']);
  expect(await store.locate({ owner: 'alice', conditions: [{ kind: 'equals', name: 'Name', value: nameValue('one') }] })).toEqual(['o1']);
  expect(await store.locate({ owner: 'alice', conditions: [{ kind: 'equals', name: 'Fresh', value: ttlv.boolean(FRESH_TAG, false) }] })).toEqual(['o2']);
  expect(await store.locate({ owner: 'alice', conditions: [{ kind: 'range', name: 'Cryptographic Length', min: 256n, max: 256n }], order: 'oldest' })).toEqual(['o1', 'o2']);
  expect(store.integrityCheck()).toBe('ok');
});

// ---------------------------------------------------------------------------------------------
// Deferred writes (Fresh cleared by Get): nobody waits for them, yet nothing is lost or overwritten.

const SERVED = { name: 'Fresh', value: ttlv.boolean(FRESH_TAG, false) };

function freshOf(record: { attributes: readonly { name: string; value: TtlvItem }[] } | undefined): boolean | undefined {
  const v = record?.attributes.find((a) => a.name === 'Fresh')?.value;
  return v?.type === ItemType.Boolean ? v.value : undefined;
}

function renamed(attrs: NewObject['attributes'], name: string): NewObject['attributes'] {
  return attrs.map((a) => (a.name === 'Name' ? { ...a, value: nameValue(name) } : a));
}

describe('deferred writes', () => {
  test('shown by get() at once, committed by the next group commit with no caller waiting, moving the revision on', async () => {
    const store = open();
    await store.insert(keyWith('k', 'n', true, 256, 12));
    expect((await store.get('k'))!.revision).toBe(0); // cached now: the overlay must show over a cached row
    const before = store.writeStats();
    const w = store.deferAttribute('k', SERVED);
    // Queued, not committed, not synced: yet reads show it (the committed revision stays).
    expect(store.writeStats()).toEqual({ ...before, deferredQueued: 1 });
    expect([freshOf(await store.get('k')), (await store.get('k'))!.revision]).toEqual([false, 0]);
    expect(await w.durable).toBe(true);
    const after = store.writeStats();
    expect([after.commits, after.deferredQueued]).toEqual([before.commits + 1, 0]);
    expect(after.syncs).toBeGreaterThan(before.syncs);
    expect([freshOf(await store.get('k')), (await store.get('k'))!.revision]).toEqual([false, 1]);
    expect(await store.locate({ conditions: [{ kind: 'equals', name: 'Fresh', value: SERVED.value }] })).toEqual(['k']);
    // Already so: durable, nothing written.
    expect(await store.deferAttribute('k', SERVED).durable).toBe(true);
    expect((await store.get('k'))!.revision).toBe(1);
    // An object without the attribute does not get it.
    await store.insert(newObject('plain', 'p'));
    expect(await store.deferAttribute('plain', SERVED).durable).toBe(true);
    expect([(await store.get('plain'))!.attributes.map((a) => a.name), (await store.get('plain'))!.revision]).toEqual([['Name'], 0]);
  });

  test('an update committed with it, computed before or after the deferral, keeps both changes without a conflict', async () => {
    const store = open();
    await store.writeBatch([{ insert: keyWith('k1', 'one', true, 256, 12) }, { insert: keyWith('k2', 'two', true, 256, 12) }]);
    const staleRead = (await store.get('k1'))!; // Fresh true: an update from it must not put true back
    const d1 = store.deferAttribute('k1', SERVED);
    const d2 = store.deferAttribute('k2', SERVED);
    const laterRead = (await store.get('k2'))!; // Fresh false already (the overlay), revision 0
    expect(freshOf(laterRead)).toBe(false);
    await Promise.all([
      store.update('k1', { attributes: renamed(staleRead.attributes, 'one-b'), expectedRevision: staleRead.revision }),
      store.update('k2', { attributes: renamed(laterRead.attributes, 'two-b'), expectedRevision: laterRead.revision }),
    ]);
    expect([await d1.durable, await d2.durable]).toEqual([true, true]);
    // k1: the update, then the deferred write on top of it; k2's update already carried it.
    for (const [uid, name, revision] of [['k1', 'one-b', 2], ['k2', 'two-b', 1]] as const) {
      const r = (await store.get(uid))!;
      expect([firstName(r), freshOf(r), r.revision]).toEqual([name, false, revision]);
    }
  });

  test('once committed, an update computed from a read before it is refused (CONFLICT) rather than putting the old value back', async () => {
    const store = open();
    await store.insert(keyWith('k', 'n', true, 256, 12));
    const staleRead = (await store.get('k'))!;
    expect(await store.deferAttribute('k', SERVED).durable).toBe(true);
    await expect(store.update('k', { attributes: renamed(staleRead.attributes, 'lost'), expectedRevision: staleRead.revision })).rejects.toMatchObject({ code: 'CONFLICT' });
    const r = (await store.get('k'))!;
    expect([firstName(r), freshOf(r), r.revision]).toEqual(['n', false, 1]);
  });

  test('cancelled before its commit, it writes nothing', async () => {
    const store = open();
    await store.insert(keyWith('k', 'n', true, 256, 12));
    const w = store.deferAttribute('k', SERVED);
    w.cancel();
    expect(await w.durable).toBe(false);
    await store.update('k', { state: 2, expectedRevision: 0 }); // a commit after it: still nothing
    expect([freshOf(await store.get('k')), (await store.get('k'))!.revision, store.writeStats().deferredQueued]).toEqual([true, 1, 0]);
  });

  test('a clean close commits a queued one: it is there after reopening', async () => {
    const store = open();
    await store.insert(keyWith('k', 'n', true, 256, 12));
    const w = store.deferAttribute('k', SERVED);
    store.close();
    stores = [];
    expect(await w.durable).toBe(true);
    const again = open();
    expect(again.integrityCheck()).toBe('ok');
    expect([freshOf(await again.get('k')), (await again.get('k'))!.revision]).toEqual([false, 1]);
  });

  test('shared with another process: applied on top of its commit, and its stale update is refused', async () => {
    const file = path.join(dir, 'shared.db');
    const a = new SqliteObjectStore({ path: file, sharedWithOtherProcesses: true });
    const b = new SqliteObjectStore({ path: file, sharedWithOtherProcesses: true });
    stores.push(a, b);
    await a.insert(keyWith('k', 'n', true, 256, 12));
    const bRead = (await b.get('k'))!;
    expect((await a.get('k'))!.revision).toBe(0); // cached in a
    // The other process renames it; then this one serves it (from its now stale cache).
    await b.update('k', { attributes: renamed(bRead.attributes, 'renamed'), expectedRevision: bRead.revision });
    const w = a.deferAttribute('k', SERVED);
    const shown = (await a.get('k'))!;
    expect([firstName(shown), freshOf(shown), shown.revision]).toEqual(['renamed', false, 1]);
    expect(await w.durable).toBe(true);
    for (const s of [a, b]) {
      const r = (await s.get('k'))!;
      expect([firstName(r), freshOf(r), r.revision]).toEqual(['renamed', false, 2]);
    }
    // The other process's update computed before the deferred write committed does not win.
    await expect(b.update('k', { attributes: renamed(bRead.attributes, 'stale'), expectedRevision: 1 })).rejects.toMatchObject({ code: 'CONFLICT' });
  });
});
