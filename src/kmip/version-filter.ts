/**
 * The invariant of section 4 of the architecture: nothing newer than the client's version goes
 * out. Handlers shape responses per version; this is the last guard on the way out, and the test
 * suite checks every response it produces with `findNewerThan`.
 */
import { ItemType, type TtlvItem } from '../../ttlv/types';
import type { ProtocolVersion } from '../spec/versions';
import { enumValueInVersion, tagInVersion } from '../spec/registry';
import { tagLabel } from './tree';

/** Drops every item whose tag or enumeration value the version lacks. */
export function pruneForVersion<T extends TtlvItem>(item: T, v: ProtocolVersion): T {
  if (item.type !== ItemType.Structure) return item;
  const kept: TtlvItem[] = [];
  let changed = false;
  for (const c of item.value) {
    if (!fits(c, v)) {
      changed = true;
      continue;
    }
    const p = pruneForVersion(c, v);
    if (p !== c) changed = true;
    kept.push(p);
  }
  return changed ? ({ ...item, value: kept } as T) : item;
}

function fits(item: TtlvItem, v: ProtocolVersion): boolean {
  if (!tagInVersion(item.tag, v)) return false;
  if (item.type === ItemType.Enumeration && !enumValueInVersion(item.tag, item.value, v)) return false;
  return true;
}

/** Paths of everything in `item` that the version lacks (empty when the invariant holds). */
export function findNewerThan(item: TtlvItem, v: ProtocolVersion, path = ''): string[] {
  const here = `${path}/${tagLabel(item.tag)}`;
  const found = fits(item, v) ? [] : [here];
  if (item.type === ItemType.Structure) {
    for (const c of item.value) found.push(...findNewerThan(c, v, here));
  }
  return found;
}
