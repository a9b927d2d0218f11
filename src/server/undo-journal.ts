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
  /**
   * uid -> the record before the batch (undefined: the batch created it). The read is asked for
   * before the first write to the object is handed on, so it cannot see that write.
   */
  private readonly before = new Map<string, Promise<ManagedObjectRecord | undefined>>();
  /** The batch's deferred writes (Fresh cleared by Get), dropped on rollback if not yet committed. */
  private readonly deferred: DeferredWrite[] = [];

  constructor(inner: ObjectStore) {
    super(inner);
  }

  /** Starts the read of the object's state before the batch, once per object; resolves when it is in. */
  private remember(uid: string): Promise<ManagedObjectRecord | undefined> {
    let rec = this.before.get(uid);
    if (rec === undefined) {
      rec = this.inner.get(uid);
      this.before.set(uid, rec);
    }
    return rec;
  }

  // Each write waits for its before-read: an engine that serves requests out of order (across a
  // network, from a pool of connections) must not let the read see the write.

  override async insert(obj: NewObject): Promise<void> {
    await this.remember(obj.uid);
    return this.inner.insert(obj);
  }

  override async update(uid: string, change: ObjectUpdate): Promise<void> {
    await this.remember(uid);
    return this.inner.update(uid, change);
  }

  override async writeBatch(ops: readonly StoreWrite[]): Promise<void> {
    await Promise.all(ops.map((op) => this.remember('insert' in op ? op.insert.uid : op.uid)));
    return this.inner.writeBatch(ops);
  }

  override async remove(uid: string): Promise<void> {
    await this.remember(uid);
    return this.inner.remove(uid);
  }

  override deferAttribute(uid: string, attribute: DeferredAttribute): DeferredWrite {
    // Cannot wait (the caller gets the DeferredWrite at once), nor does it need to: a deferred
    // write is applied no sooner than the next commit, well after a read asked for before it.
    void this.remember(uid).catch(() => undefined); // rollback() skips it then
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
    const touched = await Promise.all(
      [...this.before].map(async ([uid, before]) => {
        // A before-read that failed failed its write too (a deferred one aside, which is Fresh alone):
        // nothing of that object to put back.
        const rec = await before.then((r) => ({ r }), () => null);
        return rec === null ? null : { uid, rec: rec.r, now: await this.inner.get(uid) };
      }),
    );
    for (const t of touched) {
      if (t === null) continue;
      const { uid, rec, now } = t;
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
