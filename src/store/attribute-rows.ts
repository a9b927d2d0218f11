/**
 * How an object's attributes sit in SQLite (schema 3): all of them in one TTLV blob on the object's
 * row, read and written whole, and an index entry per searchable instance in `attr_text` (by
 * canonical text) or `attr_num` (by number), each table its own primary-key B-tree.
 *
 * Not indexed: attributes the `objects` columns already hold (Unique Identifier, Object Type,
 * State) and the server-set flags and bookkeeping every object carries and no client narrows a
 * search by (Fresh, Sensitive, Digest, Last Change Date, ...). Locate still answers conditions on
 * them, from the blob of the candidates the indexed conditions leave (store/sqlite.ts): the index
 * is a cost paid on every write, worth it only where it narrows a search.
 */
import { encodeTtlv } from '../../ttlv/encode';
import { decodeTtlv } from '../../ttlv/decode';
import { ItemType, ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { attributeByTag } from '../spec/registry';
import type { LocateCondition, StoredAttribute } from './object-store';

const UNINDEXED = new Set([
  'Unique Identifier',
  'Object Type',
  'State',
  'Fresh',
  'Sensitive',
  'Always Sensitive',
  'Extractable',
  'Never Extractable',
  'Key Value Present',
  'Key Value Location',
  'Random Number Generator',
  'Digest',
  'Last Change Date',
  'Original Creation Date',
  'Lease Time',
  'Key Format Type',
]);

/** Whether instances of `name` have index entries (a condition on it is an SQL condition). */
export function isIndexed(name: string): boolean {
  return !UNINDEXED.has(name);
}

/** Canonical text of a value for equality matching in Locate. */
export function attributeSearchKey(value: TtlvItem): string {
  switch (value.type) {
    case ItemType.TextString:
      return value.value;
    case ItemType.ByteString:
      return Buffer.from(value.value).toString('hex');
    case ItemType.Boolean:
      return value.value ? '1' : '0';
    case ItemType.Structure:
      // Structures (Name, Link, ...) match as a whole: tag-independent encoding of the children.
      return value.value.map((c) => Buffer.from(encodeTtlv(c)).toString('hex')).join('');
    default:
      return value.value.toString();
  }
}

/** Numeric value for ranges and masks, where the type has one. */
export function attributeNumber(value: TtlvItem): bigint | null {
  switch (value.type) {
    case ItemType.Integer:
    case ItemType.Enumeration:
    case ItemType.Interval:
      return BigInt(value.value);
    case ItemType.LongInteger:
    case ItemType.DateTime:
    case ItemType.DateTimeExtended:
      return value.value;
    default:
      return null;
  }
}

/** One index entry: a number (attr_num) or a canonical text (attr_text). */
export interface IndexEntry {
  readonly name: string;
  readonly index: number;
  readonly number: bigint | null;
  readonly text: string;
}

function indexEntryOf(a: StoredAttribute): IndexEntry {
  const number = attributeNumber(a.value);
  return { name: a.name, index: a.index, number, text: number === null ? attributeSearchKey(a.value) : '' };
}

/** Identity of an entry, for comparing an object's entries before and after an update. */
export function entryKey(e: IndexEntry): string {
  return `${e.index}\u0000${e.name}\u0000${e.number === null ? 't' + e.text : 'n' + e.number.toString()}`;
}

/** The index entries of an object's attributes. */
export function indexEntries(attributes: readonly StoredAttribute[]): IndexEntry[] {
  const out: IndexEntry[] = [];
  for (const a of attributes) if (isIndexed(a.name)) out.push(indexEntryOf(a));
  return out;
}

/**
 * All attribute instances as one TTLV structure, by name then index (the order reads have always
 * returned). A standard attribute whose value carries the attribute's own tag, at index 0, is
 * stored as the bare value: its name comes back from the tag. Any other instance (custom names,
 * later indexes) is wrapped as Attribute { [Attribute Name], [Attribute Index], value }, the name
 * only where the tag does not give it and the index only above 0. Bare values halve a Create's
 * blob (about 1,600 -> 550 bytes): fewer pages per commit, less to decode on every read. The
 * reader also takes blobs written before (every instance wrapped, with name and index).
 */
export function encodeAttributeBlob(attributes: readonly StoredAttribute[]): Buffer {
  const ordered = [...attributes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.index - b.index));
  return Buffer.from(
    encodeTtlv(
      ttlv.structure(
        Tag.Attributes,
        ordered.map((a) => {
          const named = attributeByTag(a.value.tag)?.name === a.name;
          if (named && a.index === 0) return a.value;
          const fields: TtlvItem[] = [];
          if (!named) fields.push(ttlv.textString(Tag.AttributeName, a.name));
          if (a.index !== 0) fields.push(ttlv.integer(Tag.AttributeIndex, a.index));
          fields.push(a.value);
          return ttlv.structure(Tag.Attribute, fields);
        }),
      ),
    ),
  );
}

export function decodeAttributeBlob(blob: Uint8Array): StoredAttribute[] {
  const root = decodeTtlv(blob);
  if (root.type !== ItemType.Structure) throw new Error('attribute blob is not a structure');
  return root.value.map((item) => {
    if (item.tag !== Tag.Attribute) {
      const rule = attributeByTag(item.tag);
      if (rule === undefined) throw new Error('attribute blob entry has an unknown tag');
      return { name: rule.name, index: 0, value: item };
    }
    if (item.type !== ItemType.Structure || item.value.length === 0) throw new Error('attribute blob entry is malformed');
    const fields = item.value;
    const value = fields[fields.length - 1]!;
    let name: string | undefined;
    let index = 0;
    for (let i = 0; i < fields.length - 1; i++) {
      const f = fields[i]!;
      if (f.tag === Tag.AttributeName && f.type === ItemType.TextString) name = f.value;
      else if (f.tag === Tag.AttributeIndex && f.type === ItemType.Integer) index = f.value;
      else throw new Error('attribute blob entry is malformed');
    }
    name ??= attributeByTag(value.tag)?.name;
    if (name === undefined) throw new Error('attribute blob entry has no name');
    return { name, index, value };
  });
}

/** Whether `attributes` satisfy `c`, by the rules the SQL conditions apply to index entries. */
export function attributesMatch(attributes: readonly StoredAttribute[], c: LocateCondition): boolean {
  const named = attributes.filter((a) => a.name === c.name);
  switch (c.kind) {
    case 'absent':
      return named.length === 0;
    case 'equals':
    case 'equalsAny':
    // A withheld Digest (its index MAC) is the store's to compare (sqlite.ts): here the clear one.
    case 'digest': {
      const wants = (c.kind === 'equalsAny' ? c.values : [c.value]).map((value) => indexEntryOf({ name: c.name, index: 0, value }));
      return named.some((a) => {
        const got = indexEntryOf(a);
        return wants.some((want) => (want.number === null ? got.number === null && got.text === want.text : got.number === want.number));
      });
    }
    case 'range':
      return named.some((a) => {
        const n = attributeNumber(a.value);
        return n !== null && (c.min === undefined || n >= c.min) && (c.max === undefined || n <= c.max);
      });
    case 'maskContains':
      return named.some((a) => {
        const n = attributeNumber(a.value);
        return n !== null && (n & BigInt(c.bits)) === BigInt(c.bits);
      });
  }
}

/**
 * The blob with one bare standard attribute's value replaced in place, when it is there once with
 * an encoding of the same length (a Boolean, Integer, Enumeration, Date-Time...): 'same' when it
 * already holds the value, undefined when the blob must be decoded and encoded again. Clearing
 * Fresh on a first Get is this: no decode, no encode, one UPDATE.
 */
export function patchBareValue(blob: Buffer, value: TtlvItem): Buffer | 'same' | undefined {
  const encoded = encodeTtlv(value);
  const tagBytes = encoded.subarray(0, 3);
  let found = -1;
  // The blob is one Structure; its items follow its 8-byte header, each padded to 8 bytes.
  for (let off = 8; off + 8 <= blob.length; ) {
    const length = blob.readUInt32BE(off + 4);
    const total = 8 + Math.ceil(length / 8) * 8;
    if (blob.subarray(off, off + 3).equals(tagBytes)) {
      if (found >= 0 || total !== encoded.length) return undefined;
      found = off;
    }
    off += total;
  }
  if (found < 0) return undefined;
  if (blob.subarray(found, found + encoded.length).equals(encoded)) return 'same';
  const out = Buffer.from(blob);
  out.set(encoded, found);
  return out;
}
