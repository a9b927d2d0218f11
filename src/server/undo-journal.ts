/**
 * Batch Error Continuation Option "Undo": the batch's writes go through this journal, which keeps
 * each object's state from before the batch first touched it, so a failure can put everything
 * back. Each write is still committed as it happens (the undo is compensating writes), so a crash
 * in the middle of an Undo batch leaves the items that completed; the spec's Undo is best effort
 * across items in that case.
 */
import type { DeferredAttribute, DeferredWrite, ManagedObjectRecord, NewObject, ObjectStore, ObjectUpdate } from '../store/object-store';
import { BorrowedStore, type StoreWrite } from '../store/borrowed-store';

export class UndoJournalStore extends BorrowedStore {
  /** uid -> the record before the batch (undefined: the batch created it). */
  private readonly before = new Map<string, ManagedObjectRecord | undefined>();
  /** The batch's deferred writes (Fresh cleared by Get), dropped on rollback if not yet committed. */
  private readonly deferred: DeferredWrite[] = [];

  constructor(inner: ObjectStore) {
    super(inner);
  }

  private remember(uid: string): void {
    if (!this.before.has(uid)) this.before.set(uid, this.inner.get(uid));
  }

  override insert(obj: NewObject): Promise<void> {
    this.remember(obj.uid);
    return this.inner.insert(obj);
  }

  override update(uid: string, change: ObjectUpdate): Promise<void> {
    this.remember(uid);
    return this.inner.update(uid, change);
  }

  override writeBatch(ops: readonly StoreWrite[]): Promise<void> {
    for (const op of ops) this.remember('insert' in op ? op.insert.uid : op.uid);
    return this.inner.writeBatch(ops);
  }

  override remove(uid: string): Promise<void> {
    this.remember(uid);
    return this.inner.remove(uid);
  }

  override deferAttribute(uid: string, attribute: DeferredAttribute): DeferredWrite {
    this.remember(uid);
    const w = this.inner.deferAttribute(uid, attribute);
    this.deferred.push(w);
    return w;
  }

  /** Puts every object the batch touched back as it was, in one commit. */
  async rollback(): Promise<void> {
    // Not committed yet: dropped, or they would run after the restore below and undo it in part.
    // Committed ones are undone by the restore like any write.
    for (const w of this.deferred.splice(0)) w.cancel();
    const ops: Array<{ insert: NewObject } | { uid: string; update: ObjectUpdate }> = [];
    const removals: string[] = [];
    for (const [uid, rec] of this.before) {
      const now = this.inner.get(uid);
      if (rec === undefined) {
        if (now !== undefined) removals.push(uid);
      } else if (now === undefined) {
        ops.push({ insert: rec });
      } else {
        // Unconditional: the batch's own writes moved the revision on.
        ops.push({ uid, update: { state: rec.state, attributes: rec.attributes, protectedMaterial: rec.protectedMaterial, digestMac: rec.digestMac, sealedDigest: rec.sealedDigest, expectedRevision: null } });
      }
    }
    await Promise.all([this.inner.writeBatch(ops), ...removals.map((u) => this.inner.remove(u))]);
    this.before.clear();
  }
}
