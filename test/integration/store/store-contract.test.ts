/**
 * The store port's contract, run against both engines: the embedded SQLite store on a real file
 * and the PostgreSQL store on a real throwaway cluster (test/helpers/postgres.ts). What a handler
 * may rely on: inserts and reads, EXISTS/NOT_FOUND, revisions and CONFLICT, all-or-nothing
 * batches, Locate's conditions, order and paging, deferred writes, and durability across a reopen.
 * Engine-specific behaviour (SQLite's group commit and row cache) stays in sqlite-store.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { type NewObject, type ObjectStore, type StoredAttribute } from '../../../src/store/object-store';
import { Tag } from '../../../src/spec/generated/tags';
import { ttlv, ItemType, type TtlvItem } from '../../../ttlv/types';
import { requireEnvironment } from '../../helpers/environment';
import { STORE_ENGINES, stopTestPostgres, type Engine } from '../../helpers/store-engines';

function nameValue(text: string): TtlvItem {
  return ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, text), ttlv.enumeration(Tag.NameType, 1)]);
}

function newObject(uid: string, name: string, extra: StoredAttribute[] = [], owner = 'alice'): NewObject {
  return {
    uid,
    objectType: 2,
    state: 1,
    owner,
    attributes: [{ name: 'Name', index: 0, value: nameValue(name) }, ...extra],
    protectedMaterial: { kekId: 'kek', mechanism: 'aes-gcm', iv: randomBytes(12), ciphertext: randomBytes(48) },
  };
}

function firstName(record: { attributes: readonly { name: string; value: TtlvItem }[] } | undefined): string | undefined {
  const v = record?.attributes.find((a) => a.name === 'Name')?.value;
  if (v?.type !== ItemType.Structure) return undefined;
  const text = v.value[0];
  return text?.type === ItemType.TextString ? text.value : undefined;
}

const byName = (n: string) => ({ kind: 'equals' as const, name: 'Name', value: nameValue(n) });

afterAll(() => stopTestPostgres());

for (const [label, make, missing] of STORE_ENGINES) {
  requireEnvironment(`${label}`, missing).describe(`the store port on ${label}`, () => {
    let engine: Engine;
    beforeEach(async () => {
      engine = await make();
    });
    afterEach(async () => engine.cleanup());

    test('insert then get returns the object whole; a second insert of the uid is EXISTS; unknown uids read undefined', async () => {
      const store = await engine.open();
      const obj = { ...newObject('u1', 'first'), digestMac: randomBytes(32) };
      await store.insert(obj);
      const r = (await store.get('u1'))!;
      expect([r.uid, r.objectType, r.state, r.owner, r.revision, firstName(r)]).toEqual(['u1', 2, 1, 'alice', 0, 'first']);
      expect(Buffer.from(r.protectedMaterial!.ciphertext).equals(Buffer.from(obj.protectedMaterial!.ciphertext))).toBe(true);
      expect(Buffer.from(r.digestMac!).equals(Buffer.from(obj.digestMac))).toBe(true);
      expect(r.sealedDigest).toBeNull();
      await expect(store.insert(newObject('u1', 'again'))).rejects.toMatchObject({ code: 'EXISTS' });
      expect(await store.get('nope')).toBeUndefined();
      await expect(store.update('nope', { state: 2, expectedRevision: null })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    test('an update computed from a stale read is refused whole (CONFLICT), with its index entries; each update moves the revision by one', async () => {
      const store = await engine.open();
      await store.insert(newObject('u1', 'first'));
      const read = (await store.get('u1'))!;
      const a = store.update('u1', { attributes: [{ name: 'Name', index: 0, value: nameValue('a') }], expectedRevision: read.revision });
      await a;
      await expect(store.update('u1', { state: 2, attributes: [{ name: 'Name', index: 0, value: nameValue('b') }], expectedRevision: read.revision })).rejects.toMatchObject({
        code: 'CONFLICT',
        uid: 'u1',
      });
      const now = (await store.get('u1'))!;
      expect([firstName(now), now.state, now.revision]).toEqual(['a', 1, 1]);
      await store.update('u1', { state: 2, expectedRevision: now.revision });
      await store.update('u1', { state: 3, expectedRevision: null });
      expect([(await store.get('u1'))!.state, (await store.get('u1'))!.revision]).toEqual([3, 3]);
      expect(await store.locate({ conditions: [byName('b')] })).toEqual([]);
      expect(await store.locate({ conditions: [byName('first')] })).toEqual([]);
      expect(await store.locate({ conditions: [byName('a')] })).toEqual(['u1']);
    });

    test('concurrent updates from one read: exactly one wins, the others are CONFLICT', async () => {
      const store = await engine.open();
      await store.insert(newObject('u1', 'first'));
      const read = (await store.get('u1'))!;
      const outcomes = await Promise.allSettled(
        Array.from({ length: 8 }, (_, i) => store.update('u1', { attributes: [{ name: 'Name', index: 0, value: nameValue(`w${i}`) }], expectedRevision: read.revision })),
      );
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toMatchObject({ code: 'CONFLICT' });
      expect((await store.get('u1'))!.revision).toBe(1);
    });

    test('a batch is all or nothing; material and Digest seals are replaced and dropped; remove takes the object and its index entries', async () => {
      const store = await engine.open();
      await store.insert(newObject('u1', 'one'));
      await expect(store.writeBatch([{ insert: newObject('u2', 'two') }, { uid: 'u1', update: { state: 2, expectedRevision: 5 } }])).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(await store.get('u2')).toBeUndefined();
      expect(await store.locate({ conditions: [byName('two')] })).toEqual([]);
      await store.writeBatch([{ insert: newObject('u2', 'two') }, { uid: 'u1', update: { state: 2, expectedRevision: 0 } }]);
      expect([(await store.get('u1'))!.state, firstName(await store.get('u2'))]).toEqual([2, 'two']);
      const sealed = { kekId: 'kek2', mechanism: 'aes-gcm', iv: randomBytes(12), ciphertext: randomBytes(40) };
      await store.update('u1', { protectedMaterial: null, sealedDigest: sealed, digestMac: null, expectedRevision: null });
      const r = (await store.get('u1'))!;
      expect(r.protectedMaterial).toBeNull();
      expect(r.digestMac).toBeNull();
      expect(Buffer.from(r.sealedDigest!.ciphertext).equals(sealed.ciphertext)).toBe(true);
      await store.remove('u2');
      expect(await store.get('u2')).toBeUndefined();
      expect(await store.locate({ conditions: [byName('two')] })).toEqual([]);
    });

    test('Locate: owner, type, states, equals/equalsAny/range/mask/absent/digest, blob conditions, order, offset and limit', async () => {
      const store = await engine.open();
      const date = (n: number) => ttlv.dateTime(Tag.ActivationDate, BigInt(n));
      const usage = (m: number) => ttlv.integer(Tag.CryptographicUsageMask, m);
      for (let i = 0; i < 6; i++) {
        await store.insert(
          newObject(
            `k${i}`,
            i % 2 === 0 ? 'even' : 'odd',
            [
              { name: 'Activation Date', index: 0, value: date(1_000 + i) },
              { name: 'Cryptographic Usage Mask', index: 0, value: usage(i % 3 === 0 ? 12 : 4) },
              // Not indexed: checked on the candidates' blobs.
              { name: 'Fresh', index: 0, value: ttlv.boolean(Tag.Fresh, i < 3) },
              ...(i === 5 ? [{ name: 'Archive Date', index: 0, value: ttlv.dateTime(Tag.ArchiveDate, 5n) }] : []),
            ],
            i === 4 ? 'bob' : 'alice',
          ),
        );
      }
      const mac = randomBytes(32);
      await store.update('k1', { digestMac: mac, expectedRevision: null });
      const all = (q: Partial<Parameters<ObjectStore['locate']>[0]> = {}) => store.locate({ conditions: [], ...q });
      expect(await all()).toEqual(['k5', 'k4', 'k3', 'k2', 'k1', 'k0']);
      expect(await all({ order: 'oldest', offset: 1, limit: 2 })).toEqual(['k1', 'k2']);
      expect(await all({ owner: 'bob' })).toEqual(['k4']);
      expect(await all({ objectType: 3 })).toEqual([]);
      await store.update('k2', { state: 2, expectedRevision: null });
      expect(await all({ states: [2] })).toEqual(['k2']);
      expect(await all({ conditions: [byName('even')], order: 'oldest' })).toEqual(['k0', 'k2', 'k4']);
      expect(await all({ conditions: [{ kind: 'equalsAny', name: 'Name', values: [nameValue('odd'), nameValue('none')] }], order: 'oldest' })).toEqual(['k1', 'k3', 'k5']);
      expect(await all({ conditions: [{ kind: 'range', name: 'Activation Date', min: 1_002n, max: 1_003n }], order: 'oldest' })).toEqual(['k2', 'k3']);
      expect(await all({ conditions: [{ kind: 'range', name: 'Activation Date' }] })).toHaveLength(6);
      expect(await all({ conditions: [{ kind: 'maskContains', name: 'Cryptographic Usage Mask', bits: 8 }], order: 'oldest' })).toEqual(['k0', 'k3']);
      expect(await all({ conditions: [{ kind: 'absent', name: 'Archive Date' }] })).not.toContain('k5');
      expect(await all({ conditions: [{ kind: 'absent', name: 'Archive Date' }] })).toHaveLength(5);
      const fresh = { kind: 'equals' as const, name: 'Fresh', value: ttlv.boolean(Tag.Fresh, true) };
      expect(await all({ conditions: [fresh], order: 'oldest' })).toEqual(['k0', 'k1', 'k2']);
      expect(await all({ conditions: [fresh], order: 'oldest', offset: 1, limit: 1 })).toEqual(['k1']);
      const digest = ttlv.structure(Tag.Digest, [ttlv.enumeration(Tag.HashingAlgorithm, 6)]);
      expect(await all({ conditions: [{ kind: 'digest', name: 'Digest', value: digest, mac }] })).toEqual(['k1']);
    });

    test("Locate by a client's custom attributes whose names cannot be SQL literals (a quote, a question mark): parameters in the right order", async () => {
      const store = await engine.open();
      const text = "x-it's? odd";
      const num = "y-n'um?";
      for (let i = 0; i < 4; i++) {
        await store.insert(
          newObject(`c${i}`, `custom-${i}`, [
            { name: text, index: 0, value: ttlv.textString(Tag.AttributeValue, i % 2 === 0 ? 'even' : 'odd') },
            ...(i < 3 ? [{ name: num, index: 0, value: ttlv.integer(Tag.AttributeValue, 10 + i) }] : []),
          ]),
        );
      }
      const q = (conditions: Parameters<ObjectStore['locate']>[0]['conditions']) => store.locate({ owner: 'alice', states: [1], conditions, order: 'oldest' });
      expect(await q([{ kind: 'equals', name: text, value: ttlv.textString(Tag.AttributeValue, 'even') }])).toEqual(['c0', 'c2']);
      expect(await q([{ kind: 'range', name: num, min: 11n, max: 12n }, { kind: 'equals', name: text, value: ttlv.textString(Tag.AttributeValue, 'odd') }])).toEqual(['c1']);
      expect(await q([{ kind: 'absent', name: num }, byName('custom-3')])).toEqual(['c3']);
      expect(await q([{ kind: 'absent', name: num }, byName('custom-2')])).toEqual([]);
    });

    test('deferred writes: shown by get() at once, committed with no caller waiting and moving the revision; cancelled ones write nothing', async () => {
      const store = await engine.open();
      await store.insert(newObject('d1', 'fresh', [{ name: 'Fresh', index: 0, value: ttlv.boolean(Tag.Fresh, true) }]));
      await store.insert(newObject('d2', 'fresh', [{ name: 'Fresh', index: 0, value: ttlv.boolean(Tag.Fresh, true) }]));
      const fresh = (r: { attributes: readonly StoredAttribute[] } | undefined) => r?.attributes.find((a) => a.name === 'Fresh')?.value.value;
      // A read asked for before the deferral answers without it (the Undo journal's before-image).
      const before = store.get('d1');
      const w = store.deferAttribute('d1', { name: 'Fresh', value: ttlv.boolean(Tag.Fresh, false) });
      expect(fresh(await before)).toBe(true);
      const cancelled = store.deferAttribute('d2', { name: 'Fresh', value: ttlv.boolean(Tag.Fresh, false) });
      expect(fresh(await store.get('d1'))).toBe(false);
      cancelled.cancel();
      expect(await cancelled.durable).toBe(false);
      expect(await w.durable).toBe(true);
      const again = await engine.open();
      expect([fresh(await again.get('d1')), (await again.get('d1'))!.revision]).toEqual([false, 1]);
      expect([fresh(await again.get('d2')), (await again.get('d2'))!.revision]).toEqual([true, 0]);
      await expect(store.update('d1', { state: 2, expectedRevision: 0 })).rejects.toMatchObject({ code: 'CONFLICT' });
    });

    test('what was acknowledged is there for a store opened again, 200 concurrent inserts included', async () => {
      const store = await engine.open();
      const objs = Array.from({ length: 200 }, (_, i) => newObject(`c${i}`, `name-${i}`));
      await Promise.all(objs.map((o) => store.insert(o)));
      const again = await engine.open();
      for (const o of objs) {
        const r = await again.get(o.uid);
        expect(Buffer.from(r!.protectedMaterial!.ciphertext).equals(Buffer.from(o.protectedMaterial!.ciphertext))).toBe(true);
      }
      expect(await again.locate({ conditions: [byName('name-7')] })).toEqual(['c7']);
    });
  });
}
