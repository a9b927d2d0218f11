/**
 * Human-readable dumps for logs and debugging: the raw item layout (`hexDump`) and a named tree
 * (`formatTree`). Neither ever throws on odd input: they are what one reaches for when a message
 * is malformed. Secrets are the caller's business: pass the tags whose values must not appear.
 */
import { HARD_MAX_DEPTH } from './decode';
import { ItemType, type ItemTypeName, type TtlvDictionary, type TtlvItem, type TtlvNameContext } from './types';

export interface HexDumpOptions {
  /** Tags whose value (or, for a Structure, whole content) is replaced by `<redacted N bytes>`. */
  readonly redactTags?: ReadonlySet<number>;
}

export interface FormatTreeOptions {
  /** Names for tags and enumeration/mask values; without one, tags print as hex. */
  readonly dictionary?: TtlvDictionary;
  /** Tags whose value (or, for a Structure, whole subtree) is replaced by `<redacted N bytes>`. */
  readonly redactTags?: ReadonlySet<number>;
}

const INDENT = '  ';

const TYPE_NAMES: ReadonlyMap<number, ItemTypeName> = new Map(
  (Object.keys(ItemType) as ItemTypeName[]).map((name) => [ItemType[name], name]),
);

function hex(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('hex').toUpperCase();
}

function hexN(v: number, digits: number): string {
  return v.toString(16).toUpperCase().padStart(digits, '0');
}

function redacted(n: number): string {
  return `<redacted ${n} bytes>`;
}

/**
 * One line per item, `420078 | 01 | 00000118 | <value hex>`, indented two spaces per level.
 * Structures show no value; their children follow. Padding is not shown unless non-zero. Where
 * the layout breaks (bad type, length past the end), a `!!` line says why and the remaining
 * bytes of that level are shown raw.
 */
export function hexDump(bytes: Uint8Array, opts: HexDumpOptions = {}): string {
  const lines: string[] = [];
  dumpLevel(bytes, 0, bytes.length, 0, lines, opts.redactTags);
  return lines.join('\n');
}

/** Dumps the items in [off, end) (several at the top level: a dump of a stream is fine). */
function dumpLevel(
  b: Uint8Array,
  off: number,
  end: number,
  depth: number,
  lines: string[],
  redact: ReadonlySet<number> | undefined,
): void {
  const pad = INDENT.repeat(depth);
  while (off < end) {
    if (end - off < 8) {
      lines.push(`${pad}!! ${end - off} bytes too short for an item header: ${hex(b, off, end)}`);
      return;
    }
    const tag = (b[off]! << 16) | (b[off + 1]! << 8) | b[off + 2]!;
    const type = b[off + 3]!;
    const len = ((b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!) >>> 0;
    const head = `${pad}${hexN(tag, 6)} | ${hexN(type, 2)} | ${hexN(len, 8)}`;
    const start = off + 8;
    const padded = type === ItemType.Structure ? len : len + ((8 - (len & 7)) & 7);
    if (padded > end - start) {
      const over = `!! length runs ${padded - (end - start)} bytes past the end`;
      if (type === ItemType.Structure && depth + 1 < HARD_MAX_DEPTH) {
        // Show what there is of its children; the last one will say where it breaks.
        lines.push(`${head} ${over}`);
        dumpLevel(b, start, end, depth + 1, lines, redact);
      } else {
        lines.push(`${head} | ${over}: ${hex(b, start, end)}`);
      }
      return;
    }
    const next = start + padded;
    if (redact !== undefined && redact.has(tag)) {
      lines.push(`${head} | ${redacted(len)}`);
    } else if (type === ItemType.Structure) {
      lines.push(head);
      if (depth + 1 >= HARD_MAX_DEPTH) lines.push(`${pad}${INDENT}!! nested too deep: ${hex(b, start, next)}`);
      else dumpLevel(b, start, next, depth + 1, lines, redact);
    } else {
      let line = `${head} | ${hex(b, start, start + len)}`;
      for (let i = start + len; i < next; i++) {
        if (b[i] !== 0) {
          line += ` (padding ${hex(b, start + len, next)})`;
          break;
        }
      }
      if (!TYPE_NAMES.has(type)) line += ' !! unknown item type';
      lines.push(line);
    }
    off = next;
  }
}

/**
 * An indented, named tree: `RequestMessage (Structure)` then `  ProtocolVersionMajor (Integer) = 1`.
 * Enumerations and mask Integers print by name where the dictionary knows them.
 */
export function formatTree(item: TtlvItem, opts: FormatTreeOptions = {}): string {
  const lines: string[] = [];
  formatItem(item, 0, {}, opts, lines);
  return lines.join('\n');
}

function formatItem(item: TtlvItem, depth: number, ctx: TtlvNameContext, opts: FormatTreeOptions, lines: string[]): void {
  const pad = INDENT.repeat(depth);
  const dict = opts.dictionary;
  const tagName = dict?.tagName(item.tag) ?? `0x${hexN(item.tag, 6)}`;
  const head = `${pad}${tagName} (${TYPE_NAMES.get(item.type) ?? `type 0x${hexN(item.type, 2)}`})`;
  if (opts.redactTags !== undefined && opts.redactTags.has(item.tag)) {
    lines.push(`${head} = ${redacted(valueLength(item, 0))}`);
    return;
  }
  if (item.type !== ItemType.Structure) {
    lines.push(`${head} = ${formatValue(item, ctx, dict)}`);
    return;
  }
  lines.push(head);
  if (depth + 1 >= HARD_MAX_DEPTH) {
    lines.push(`${pad}${INDENT}!! nested too deep`);
    return;
  }
  // Context for KMIP 1.x Attribute Value: the nearest preceding sibling Attribute Name.
  let childCtx: TtlvNameContext = {};
  const nameTag = dict?.attributeNameTag;
  for (const child of item.value) {
    formatItem(child, depth + 1, childCtx, opts, lines);
    if (nameTag !== undefined && child.tag === nameTag && child.type === ItemType.TextString) {
      childCtx = { attributeName: child.value };
    }
  }
}

function formatValue(item: Exclude<TtlvItem, { type: typeof ItemType.Structure }>, ctx: TtlvNameContext, dict: TtlvDictionary | undefined): string {
  switch (item.type) {
    case ItemType.Integer: {
      const domain = dict?.valueDomain(item.tag, ctx);
      if (domain?.kind === 'mask') return `${item.value} (${maskNames(item.value, (bit) => domain.nameOf(bit))})`;
      return String(item.value);
    }
    case ItemType.Enumeration:
      return dict?.valueDomain(item.tag, ctx)?.nameOf(item.value) ?? `0x${hexN(item.value, 8)}`;
    case ItemType.LongInteger:
    case ItemType.BigInteger:
    case ItemType.Interval:
      return String(item.value);
    case ItemType.Boolean:
      return item.value ? 'true' : 'false';
    case ItemType.TextString:
      // JSON quoting escapes control characters, so a hostile string cannot forge log lines.
      return JSON.stringify(item.value);
    case ItemType.ByteString:
      return item.value.length === 0 ? '<empty>' : hex(item.value, 0, item.value.length);
    case ItemType.DateTime:
      return `${item.value} (${isoDate(item.value * 1000n)})`;
    case ItemType.DateTimeExtended:
      {
      // Floor division, so instants before 1970 keep a positive fraction.
      const us = item.value;
      const ms = us >= 0n ? us / 1000n : (us - 999n) / 1000n;
      return `${us} (${isoDate(ms, us)})`;
    }
  }
}

/** "Encrypt|Decrypt"; bits without a name print as hex. */
function maskNames(value: number, nameOf: (bit: number) => string | undefined): string {
  const names: string[] = [];
  let unnamed = 0;
  for (let i = 0; i < 32; i++) {
    const bit = (1 << i) >>> 0;
    if ((value & bit) === 0) continue;
    const name = nameOf(bit);
    if (name === undefined) unnamed = (unnamed | bit) >>> 0;
    else names.push(name);
  }
  if (unnamed !== 0) names.push(`0x${hexN(unnamed, 8)}`);
  return names.length === 0 ? '0' : names.join('|');
}

/** ISO 8601 UTC for milliseconds `ms`; with `micros`, six fraction digits. Outside Date's range: "out of range". */
function isoDate(ms: bigint, micros?: bigint): string {
  const MAX_MS = 8_640_000_000_000_000n;
  if (ms > MAX_MS || ms < -MAX_MS) return 'out of range';
  const iso = new Date(Number(ms)).toISOString();
  if (micros === undefined) return iso.replace('.000Z', 'Z');
  let frac = micros % 1_000_000n;
  if (frac < 0n) frac += 1_000_000n;
  return `${iso.slice(0, 19)}.${frac.toString().padStart(6, '0')}Z`;
}

/** Encoded value length (no header, no padding) of an item, without validating it. */
function valueLength(item: TtlvItem, depth: number): number {
  switch (item.type) {
    case ItemType.Structure: {
      if (depth >= HARD_MAX_DEPTH) return 0;
      let n = 0;
      for (const c of item.value) {
        const l = valueLength(c, depth + 1);
        n += 8 + l + ((8 - (l & 7)) & 7);
      }
      return n;
    }
    case ItemType.TextString:
      return Buffer.byteLength(item.value, 'utf8');
    case ItemType.ByteString:
      return item.value.length;
    case ItemType.BigInteger: {
      const m = item.value < 0n ? ~item.value : item.value;
      return (Math.ceil((m.toString(2).length + 1) / 64) || 1) * 8;
    }
    case ItemType.Integer:
    case ItemType.Enumeration:
    case ItemType.Interval:
      return 4;
    default:
      return 8;
  }
}
