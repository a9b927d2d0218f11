/**
 * The JSON form of TTLV trees used by `spec-vectors/ttlv/*.json` (see its README.md), and the
 * loaders of those files and of the shared OASIS examples.
 *
 *   { "tag": "0x420020", "type": "Integer", "value": 8 }
 *
 * `type` is an ItemType name; values: Structure an array of trees, Integer / Enumeration /
 * Interval a JSON number, Long Integer / Big Integer / Date-Time / Date-Time Extended a decimal
 * string, Boolean a JSON boolean, Text String a JSON string, Byte String a hex string.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { DecodeLimits } from '../../ttlv/decode';
import { ItemType, type ItemTypeName, type TtlvItem } from '../../ttlv/types';

export interface JsonTree {
  readonly tag: string;
  readonly type: ItemTypeName;
  readonly value: unknown;
}

export interface ValidVector {
  readonly name: string;
  readonly hex: string;
  readonly tree: JsonTree;
}

export interface DecodeErrorVector {
  readonly name: string;
  readonly hex: string;
  readonly code: string;
  readonly offset: number;
  readonly limits?: Partial<DecodeLimits>;
}

export interface FramerErrorVector {
  readonly name: string;
  readonly hex: string;
  readonly maxMessageBytes: number;
  readonly code: string;
  readonly offset: number;
}

export interface EncodeErrorVector {
  readonly name: string;
  readonly tree: JsonTree;
  readonly code: string;
  readonly offset: number;
}

const BIGINT_TYPES: ReadonlySet<ItemTypeName> = new Set(['LongInteger', 'BigInteger', 'DateTime', 'DateTimeExtended']);

/**
 * JSON tree -> TTLV tree. Deliberately unvalidated (encode-error vectors hold values no TTLV
 * item may have): strings become bigints or bytes where the type calls for it, everything else
 * passes through as it is.
 */
export function fromJsonTree(j: JsonTree): TtlvItem {
  const type = ItemType[j.type] ?? (j.type as unknown as number);
  let value: unknown = j.value;
  if (j.type === 'Structure' && Array.isArray(j.value)) value = (j.value as JsonTree[]).map(fromJsonTree);
  else if (BIGINT_TYPES.has(j.type) && typeof j.value === 'string') value = BigInt(j.value);
  else if (j.type === 'ByteString' && typeof j.value === 'string') value = new Uint8Array(Buffer.from(j.value, 'hex'));
  return { tag: Number.parseInt(j.tag, 16), type, value } as unknown as TtlvItem;
}

const TYPE_NAMES = new Map<number, ItemTypeName>(
  (Object.keys(ItemType) as ItemTypeName[]).map((n) => [ItemType[n], n]),
);

/** TTLV tree -> JSON tree (the inverse of fromJsonTree for valid trees). */
export function toJsonTree(item: TtlvItem): JsonTree {
  const tag = '0x' + item.tag.toString(16).toUpperCase().padStart(6, '0');
  const type = TYPE_NAMES.get(item.type)!;
  switch (item.type) {
    case ItemType.Structure:
      return { tag, type, value: item.value.map(toJsonTree) };
    case ItemType.LongInteger:
    case ItemType.BigInteger:
    case ItemType.DateTime:
    case ItemType.DateTimeExtended:
      return { tag, type, value: item.value.toString() };
    case ItemType.ByteString:
      return { tag, type, value: Buffer.from(item.value).toString('hex').toUpperCase() };
    default:
      return { tag, type, value: item.value };
  }
}

/** The project root (test/helpers/..). */
export const PROJECT_ROOT = path.resolve(__dirname, '../..');
/** `../shared` beside the project (see the project README). */
export const SHARED_DIR = process.env.KMIP_SHARED_DIR ?? path.resolve(PROJECT_ROOT, '../shared');

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'spec-vectors/ttlv', file), 'utf8')) as T;
}

export const loadValidVectors = (): ValidVector[] => readJson<ValidVector[]>('valid.json');
export const loadDecodeErrorVectors = (): DecodeErrorVector[] => readJson<DecodeErrorVector[]>('decode-errors.json');
export const loadFramerErrorVectors = (): FramerErrorVector[] => readJson<FramerErrorVector[]>('framer-errors.json');
export const loadEncodeErrorVectors = (): EncodeErrorVector[] => readJson<EncodeErrorVector[]>('encode-errors.json');

export interface SpecExample {
  readonly description: string;
  readonly hex: string;
}

/** The ten TTLV examples of KMIP 1.4 section 9.1.2, read from ../shared (never copied here). */
export function loadSpecExamples(): SpecExample[] {
  const file = path.join(SHARED_DIR, 'kmip-conformance/ttlv-encoding-examples/kmip-spec-v1.4-section-9.1.2.tsv');
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => {
      const [description, hex] = line.split('\t');
      return { description: description!.trim(), hex: hex!.trim().toUpperCase() };
    });
}

export function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex').toUpperCase();
}

export function bytesOf(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
