/**
 * The store wrappers (undo journal, change observer) over an engine whose reads answer late and
 * whose writes land at once, as one across the network with a pool of connections may: a read
 * asked for before a write must still see the object as it was before that write.
 */
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { UndoJournalStore } from '../../../src/server/undo-journal';
import { ChangeObserver } from '../../../src/notify/change-observer';
import type { ObjectEvent } from '../../../src/notify/events';
import {
  StoreError,
  type DeferredAttribute,
  type DeferredWrite,
  type LocateQuery,
  type ManagedObjectRecord,
  type NewObject,
  type ObjectStore,
  type ObjectUpdate,
} from '../../../src/store/object-store';

/** In memory; a read takes the state it answers with only after a turn of the event loop. */
class LateReadStore implements ObjectStore {
  readonly objects = new Map<string, ManagedObjectRecord>();
  private seq = 0;

  async insert(obj: NewObject): Promise<void> {
    if (this.objects.has(obj.uid)) throw new StoreError('EXISTS', obj.uid);
    this.objects.set(obj.uid, { ...obj, seq: ++this.seq, revision: 0, digestMac: obj.digestMac ?? null, sealedDigest: obj.sealedDigest ?? null });
  }

  async update(uid: string, change: ObjectUpdate): Promise<void> {
    const rec = this.objects.get(uid);
    if (rec === undefined) throw new StoreError('NOT_FOUND', uid);
    if (change.expectedRevision !== null && change.expectedRevision !== rec.revision) throw new StoreError('CONFLICT', uid, uid);
    const { expectedRevision: _, ...fields } = change;
    const defined = Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
    this.objects.set(uid, { ...rec, ...defined, revision: rec.revision + 1 });
  }

  async writeBatch(ops: ReadonlyArray<{ insert: NewObject } | { uid: string; update: ObjectUpdate }>): Promise<void> {
    for (const op of ops) await ('insert' in op ? this.insert(op.insert) : this.update(op.uid, op.update));
  }

  deferAttribute(uid: string, attribute: DeferredAttribute): DeferredWrite {
    const durable = this.update(uid, {
      expectedRevision: null,
      attributes: this.objects.get(uid)!.attributes.map((a) => (a.name === attribute.name ? { ...a, value: attribute.value } : a)),
    }).then(() => true);
    return { durable, cancel: () => undefined };
  }

  async remove(uid: string): Promise<void> {
    this.objects.delete(uid);
  }

  async get(uid: string): Promise<ManagedObjectRecord | undefined> {
    await new Promise((r) => setImmediate(r));
    return this.objects.get(uid);
  }

  async locate(_query: LocateQuery): Promise<string[]> {
    await new Promise((r) => setImmediate(r));
    return [...this.objects.keys()];
  }

  close(): void {}
}

const named = (text: string) => [{ name: 'Name', index: 0, value: ttlv.structure(Tag.Name, [ttlv.textString(Tag.NameValue, text), ttlv.enumeration(Tag.NameType, 1)]) }];

function object(uid: string, name: string): NewObject {
  return { uid, objectType: 2, state: 1, owner: 'alice', attributes: named(name), protectedMaterial: null };
}

test('an Undo rollback puts back the object as it was before the batch, not as the batch left it', async () => {
  const inner = new LateReadStore();
  await inner.insert(object('k', 'before'));
  const journal = new UndoJournalStore(inner);
  await journal.update('k', { state: 2, attributes: named('during'), expectedRevision: 0 });
  await journal.insert(object('new', 'made by the batch'));
  expect(inner.objects.get('k')!.state).toBe(2);
  await journal.rollback();
  expect(inner.objects.get('k')).toMatchObject({ state: 1, attributes: named('before') });
  expect(inner.objects.has('new')).toBe(false);
});

test('the change observer reports the attributes from before the write', async () => {
  const inner = new LateReadStore();
  await inner.insert(object('k', 'before'));
  const published: ObjectEvent[] = [];
  const observer = new ChangeObserver(inner, { wants: () => true, publish: (e) => published.push(...e), close: async () => undefined });
  await observer.update('k', { attributes: named('after'), expectedRevision: 0 });
  observer.publish();
  expect(published).toEqual([{ kind: 'attributes-changed', uid: 'k', owner: 'alice', before: named('before'), after: named('after') }]);
});
