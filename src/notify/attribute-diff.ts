/**
 * Which attribute instances a write changed: an instance is its name and 1.x index; it changed
 * when it is new or its value differs, and it was deleted when only the set before has it.
 */
import type { StoredAttribute } from '../store/object-store';
import { sameValue } from '../objects/managed-object';

export interface AttributeDiff {
  /** Instances as they are now. */
  readonly changed: readonly StoredAttribute[];
  /** Instances as they were. */
  readonly deleted: readonly StoredAttribute[];
}

function key(a: StoredAttribute): string {
  return `${a.index}\u0000${a.name}`;
}

export function diffAttributes(before: readonly StoredAttribute[], after: readonly StoredAttribute[]): AttributeDiff {
  const old = new Map(before.map((a) => [key(a), a]));
  const now = new Set(after.map(key));
  const changed = after.filter((a) => {
    const was = old.get(key(a));
    return was === undefined || !sameValue(was.value, a.value);
  });
  return { changed, deleted: before.filter((a) => !now.has(key(a))) };
}
