/**
 * A store wrapper for one batch (the Undo journal, the notification observer): reads and writes go
 * to the server's store, which the wrapper borrows and so never closes. Subclasses override the
 * writes they watch.
 */
import type { DeferredAttribute, DeferredWrite, LocateQuery, ManagedObjectRecord, NewObject, ObjectStore, ObjectUpdate } from './object-store';

export type StoreWrite = { insert: NewObject } | { uid: string; update: ObjectUpdate };

export class BorrowedStore implements ObjectStore {
  constructor(protected readonly inner: ObjectStore) {}

  insert(obj: NewObject): Promise<void> {
    return this.inner.insert(obj);
  }

  update(uid: string, change: ObjectUpdate): Promise<void> {
    return this.inner.update(uid, change);
  }

  writeBatch(ops: readonly StoreWrite[]): Promise<void> {
    return this.inner.writeBatch(ops);
  }

  remove(uid: string): Promise<void> {
    return this.inner.remove(uid);
  }

  deferAttribute(uid: string, attribute: DeferredAttribute): DeferredWrite {
    return this.inner.deferAttribute(uid, attribute);
  }

  get(uid: string): Promise<ManagedObjectRecord | undefined> {
    return this.inner.get(uid);
  }

  locate(query: LocateQuery): Promise<string[]> {
    return this.inner.locate(query);
  }

  close(): void {
    // Borrowed: closing the server's store is the server's business.
  }
}
