/**
 * The store as a batch's handlers see it when notifications are configured: every write passes
 * through unchanged, and once it has resolved (it is durable) a change to an object whose owner
 * has an endpoint is recorded. The batch publishes the record when it is over; an Undo batch that
 * rolls back discards it (the objects are as they were, so there is nothing to tell).
 */
import type { DeferredAttribute, DeferredWrite, ManagedObjectRecord, ObjectStore, ObjectUpdate, StoredAttribute } from '../store/object-store';
import { BorrowedStore, type StoreWrite } from '../store/borrowed-store';
import { ItemType } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { LinkType } from '../spec/generated/enums';
import type { Notifier, ObjectEvent } from './events';

export class ChangeObserver extends BorrowedStore {
  private events: ObjectEvent[] = [];
  /** Published or discarded: events of deferred writes that become durable later go straight out, or nowhere. */
  private ended: 'published' | 'discarded' | undefined;

  constructor(
    inner: ObjectStore,
    private readonly notifier: Notifier,
  ) {
    super(inner);
  }

  // insert() passes through: a new object is news to nobody (its creator has the answer) unless
  // it replaces one (see writeBatch). remove() only comes from an Undo rollback, not through here.

  override async update(uid: string, change: ObjectUpdate): Promise<void> {
    const before = await this.watched(uid);
    await this.inner.update(uid, change);
    if (before) this.noteUpdate(before, change);
  }

  /**
   * Re-key, Re-key Key Pair and Re-certify store the replacement together with the change to the
   * object it replaces: an inserted object whose Replaced Object Link names an object written in
   * the same batch is a replacement.
   */
  override async writeBatch(ops: readonly StoreWrite[]): Promise<void> {
    const before = await Promise.all(ops.map((op) => ('insert' in op ? undefined : this.watched(op.uid))));
    await this.inner.writeBatch(ops);
    const updated = new Set(ops.flatMap((op) => ('insert' in op ? [] : [op.uid])));
    ops.forEach((op, i) => {
      if ('insert' in op) {
        const replaced = replacedUid(op.insert.attributes);
        if (replaced !== undefined && updated.has(replaced) && this.notifier.wants(op.insert.owner)) {
          this.events.push({ kind: 'replaced', uid: op.insert.uid, owner: op.insert.owner, replacedUid: replaced });
        }
      } else {
        const rec = before[i];
        if (rec) this.noteUpdate(rec, op.update);
      }
    });
  }

  /**
   * A deferred write (Fresh cleared by Get) is news once it is durable, which may be after the
   * batch is over: then it is published on its own, unless the batch was undone.
   */
  override deferAttribute(uid: string, attribute: DeferredAttribute): DeferredWrite {
    // Asked for before the write is handed on, as in update(); not waited for, as the caller
    // gets the DeferredWrite at once. A read that fails costs the event, not the write.
    const watched = this.watched(uid).catch(() => undefined);
    const w = this.inner.deferAttribute(uid, attribute);
    void Promise.all([watched, w.durable]).then(([before, durable]) => {
      if (before && durable) {
        const after = before.attributes.map((a) => (a.name === attribute.name ? { ...a, value: attribute.value } : a));
        const event: ObjectEvent = { kind: 'attributes-changed', uid: before.uid, owner: before.owner, before: before.attributes, after };
        if (this.ended === undefined) this.events.push(event);
        else if (this.ended === 'published') this.notifier.publish([event]);
      }
    });
    return w;
  }

  /** Hands what the batch changed to the notifier. */
  publish(): void {
    if (this.events.length > 0) this.notifier.publish(this.events);
    this.events = [];
    this.ended ??= 'published';
  }

  discard(): void {
    this.events = [];
    this.ended = 'discarded';
  }

  private async watched(uid: string): Promise<ManagedObjectRecord | undefined> {
    const rec = await this.inner.get(uid);
    return rec && this.notifier.wants(rec.owner) ? rec : undefined;
  }

  private noteUpdate(before: ManagedObjectRecord, change: ObjectUpdate): void {
    // A state is never written without the attribute set that carries it (objects/managed-object.ts withState).
    const after = change.attributes;
    // Material alone (Destroy drops it with a State change, which is the news) says nothing new.
    if (after === undefined) return;
    this.events.push({ kind: 'attributes-changed', uid: before.uid, owner: before.owner, before: before.attributes, after });
  }
}

/** Read without the throwing tree readers: nothing here may fail a request whose write is done. */
function replacedUid(attrs: readonly StoredAttribute[]): string | undefined {
  for (const a of attrs) {
    if (a.name !== 'Link' || a.value.type !== ItemType.Structure) continue;
    const type = a.value.value.find((c) => c.tag === Tag.LinkType);
    const target = a.value.value.find((c) => c.tag === Tag.LinkedObjectIdentifier);
    if (type?.type === ItemType.Enumeration && type.value === LinkType.ReplacedObjectLink && target?.type === ItemType.TextString) {
      return target.value;
    }
  }
  return undefined;
}
