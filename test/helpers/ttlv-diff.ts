/**
 * Compares two TTLV trees and names the first difference by path, so a corpus failure says
 * where ("RequestMessage/BatchItem[0]/...") instead of dumping two whole trees.
 */
import { ItemType } from '../../ttlv/types';
import type { TtlvDictionary, TtlvItem } from '../../ttlv/types';

function label(tag: number, dict?: TtlvDictionary): string {
  return dict?.tagName(tag) ?? '0x' + tag.toString(16).toUpperCase().padStart(6, '0');
}

function show(item: TtlvItem): string {
  if (item.type === ItemType.Structure) return `Structure(${item.value.length} items)`;
  if (item.type === ItemType.ByteString) return `ByteString(${Buffer.from(item.value).toString('hex')})`;
  return `${item.type}:${typeof item.value === 'bigint' ? `${item.value}n` : JSON.stringify(item.value)}`;
}

/** undefined when equal; else a one-line description of the first difference. */
export function diffTtlv(a: TtlvItem, b: TtlvItem, dict?: TtlvDictionary, path = ''): string | undefined {
  const here = `${path}/${label(a.tag, dict)}`;
  if (a.tag !== b.tag) return `${here}: tag ${label(a.tag, dict)} vs ${label(b.tag, dict)}`;
  if (a.type !== b.type) return `${here}: type ${a.type} vs ${b.type}`;
  if (a.type === ItemType.Structure && b.type === ItemType.Structure) {
    const n = Math.min(a.value.length, b.value.length);
    for (let i = 0; i < n; i++) {
      const d = diffTtlv(a.value[i] as TtlvItem, b.value[i] as TtlvItem, dict, `${here}[${i}]`);
      if (d !== undefined) return d;
    }
    if (a.value.length !== b.value.length) return `${here}: ${a.value.length} vs ${b.value.length} children`;
    return undefined;
  }
  if (a.type === ItemType.ByteString && b.type === ItemType.ByteString) {
    return Buffer.from(a.value).equals(Buffer.from(b.value)) ? undefined : `${here}: ${show(a)} vs ${show(b)}`;
  }
  return a.value === b.value ? undefined : `${here}: ${show(a)} vs ${show(b)}`;
}

/** Throws with the difference, for use inside tests. */
export function expectSameTree(actual: TtlvItem, expected: TtlvItem, dict?: TtlvDictionary, what = 'trees'): void {
  const d = diffTtlv(actual, expected, dict);
  if (d !== undefined) throw new Error(`${what} differ at ${d}`);
}
