/**
 * Typed reads of a TTLV tree: each accessor checks the item type and turns a mismatch into the
 * KMIP error a client expects (Invalid Field / Missing Data), never a TypeError.
 */
import { ItemType, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { KmipError, Reason } from './errors';
import { TAG_INFO } from '../spec/generated/tags';

export function tagLabel(tag: number): string {
  return TAG_INFO.get(tag)?.name ?? `0x${tag.toString(16).toUpperCase()}`;
}

export function children(s: TtlvStructure, tag: number): TtlvItem[] {
  return s.value.filter((c) => c.tag === tag);
}

export function child(s: TtlvStructure, tag: number): TtlvItem | undefined {
  return s.value.find((c) => c.tag === tag);
}

function wrongType(item: TtlvItem, expected: string): KmipError {
  return new KmipError(Reason.InvalidField, `${tagLabel(item.tag)} must be ${expected}`);
}

function missing(parent: TtlvStructure, tag: number): KmipError {
  return new KmipError(Reason.MissingData, `${tagLabel(parent.tag)} lacks ${tagLabel(tag)}`);
}

export function asStructure(item: TtlvItem): TtlvStructure {
  if (item.type !== ItemType.Structure) throw wrongType(item, 'a Structure');
  return item;
}
export function asInteger(item: TtlvItem): number {
  if (item.type !== ItemType.Integer) throw wrongType(item, 'an Integer');
  return item.value;
}
export function asEnumeration(item: TtlvItem): number {
  if (item.type !== ItemType.Enumeration) throw wrongType(item, 'an Enumeration');
  return item.value;
}
export function asText(item: TtlvItem): string {
  if (item.type !== ItemType.TextString) throw wrongType(item, 'a Text String');
  return item.value;
}
function asBytes(item: TtlvItem): Uint8Array {
  if (item.type !== ItemType.ByteString) throw wrongType(item, 'a Byte String');
  return item.value;
}
export function asBoolean(item: TtlvItem): boolean {
  if (item.type !== ItemType.Boolean) throw wrongType(item, 'a Boolean');
  return item.value;
}
function asDateTime(item: TtlvItem): bigint {
  if (item.type !== ItemType.DateTime) throw wrongType(item, 'a Date-Time');
  return item.value;
}

/** Optional typed child readers. */
export const opt = {
  structure: (s: TtlvStructure, tag: number) => map(child(s, tag), asStructure),
  integer: (s: TtlvStructure, tag: number) => map(child(s, tag), asInteger),
  enumeration: (s: TtlvStructure, tag: number) => map(child(s, tag), asEnumeration),
  text: (s: TtlvStructure, tag: number) => map(child(s, tag), asText),
  bytes: (s: TtlvStructure, tag: number) => map(child(s, tag), asBytes),
  boolean: (s: TtlvStructure, tag: number) => map(child(s, tag), asBoolean),
  dateTime: (s: TtlvStructure, tag: number) => map(child(s, tag), asDateTime),
};

/** Required typed child readers: absence is Missing Data. */
export const req = {
  structure: (s: TtlvStructure, tag: number) => need(s, tag, asStructure),
  integer: (s: TtlvStructure, tag: number) => need(s, tag, asInteger),
  enumeration: (s: TtlvStructure, tag: number) => need(s, tag, asEnumeration),
  text: (s: TtlvStructure, tag: number) => need(s, tag, asText),
  bytes: (s: TtlvStructure, tag: number) => need(s, tag, asBytes),
};

function map<T>(item: TtlvItem | undefined, f: (i: TtlvItem) => T): T | undefined {
  return item === undefined ? undefined : f(item);
}

function need<T>(s: TtlvStructure, tag: number, f: (i: TtlvItem) => T): T {
  const item = child(s, tag);
  if (item === undefined) throw missing(s, tag);
  return f(item);
}

/** Re-tag an item (attribute values move between AttributeValue and their own tag). */
export function withTag(item: TtlvItem, tag: number): TtlvItem {
  return { ...item, tag } as TtlvItem;
}

