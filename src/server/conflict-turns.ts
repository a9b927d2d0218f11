/**
 * Turns per object for batch items that met a concurrent change (store CONFLICT). If n requests
 * change one object at once, every one of them reads the same committed state and only one write
 * wins each commit; running the losers again all together would let one more win each time, so
 * the last would need n attempts. Run again one at a time per object instead, each after the
 * previous one's write is durable, they need about one more attempt each.
 */
import type { ObjectStore } from '../store/object-store';

export class ConflictTurns {
  /** uid -> the end of the last turn queued for it. */
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `fn` when the turns queued before it on `uid` are over. */
  async run<T>(uid: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(uid) ?? Promise.resolve();
    let release!: () => void;
    const tail = previous.then(() => new Promise<void>((r) => (release = r)));
    this.tails.set(uid, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(uid) === tail) this.tails.delete(uid);
    }
  }
}

const byStore = new WeakMap<ObjectStore, ConflictTurns>();

/** The turns of one store (one per server process; a store's writers share it). */
export function conflictTurnsFor(store: ObjectStore): ConflictTurns {
  let turns = byStore.get(store);
  if (turns === undefined) {
    turns = new ConflictTurns();
    byStore.set(store, turns);
  }
  return turns;
}
