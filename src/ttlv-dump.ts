/**
 * `kmip-server ttlv dump`: hex, base64 or a capture file of raw concatenated TTLV messages into
 * the named tree (ttlv/format.ts, names from the spec tables), with secret-bearing fields redacted
 * unless the operator asks otherwise. It is a debugging tool, so it never gives up on a malformed
 * message: what does not decode is shown as the raw item layout, saying where it breaks.
 */
import fs from 'node:fs/promises';
import { decodeTtlv, formatTree, hexDump, HARD_MAX_DEPTH, HEADER_BYTES, ItemType, TtlvError } from '../ttlv';
import { kmipDictionary } from './spec/dictionary';
import { Tag, TAG_INFO } from './spec/generated/tags';

export type TtlvInputFormat = 'hex' | 'base64' | 'binary';

export interface TtlvDumpCommandOptions {
  readonly format?: TtlvInputFormat;
  readonly redact: boolean;
}

export interface TtlvDumpOptions {
  /** The input as read: binary TTLV, or the text of a hex or base64 encoding of it. */
  readonly input: Uint8Array;
  /** How to read `input`; detected when absent. */
  readonly format?: TtlvInputFormat;
  readonly redact: boolean;
}

/**
 * Fields whose value is a secret or reveals one, with the reason: the dump is pasted into issues
 * and chat, so anything that would let a reader recover a key, a plaintext or a login is hidden.
 * A redacted Structure hides its whole subtree. Left visible on purpose: IVs, nonces and salts
 * (public by design), MACs, signatures and certificates (public outputs), Key Wrapping Data (names
 * the wrapping key, holds no secret).
 */
export const SECRET_FIELDS: ReadonlyMap<number, string> = new Map([
  [Tag.KeyMaterial, 'key bytes of every key, Secret Data and Split Key (a public key too: one rule, no guessing)'],
  [Tag.OpaqueDataValue, 'an Opaque Object is whatever the client stored, secrets included'],
  [Tag.Data, 'plaintext of Encrypt requests and Decrypt responses, random bytes from RNG Retrieve'],
  [Tag.DerivationData, 'input of a Derive Key, which can be secret material'],
  [Tag.Password, 'a credential'],
  [Tag.OneTimePassword, 'a credential'],
  [Tag.HashedPassword, 'a credential verifier, open to offline guessing'],
  [Tag.ServerHashedPassword, 'a credential verifier, open to offline guessing'],
  [Tag.TicketValue, 'a bearer ticket'],
]);

const SECRET_TAGS: ReadonlySet<number> = new Set(SECRET_FIELDS.keys());

const FORMAT_NAMES: Readonly<Record<TtlvInputFormat, string>> = {
  hex: 'hex',
  base64: 'base64',
  binary: 'binary TTLV',
};

/** A TTLV item header: a tag in a KMIP range (0x42xxxx, or 0x54xxxx for extensions) and a known item type. */
function startsWithTtlvHeader(b: Uint8Array): boolean {
  if (b.length < HEADER_BYTES) return false;
  const type = b[3]!;
  return (b[0] === 0x42 || b[0] === 0x54) && type >= ItemType.Structure && type <= ItemType.DateTimeExtended;
}

/** What the input is instead, for the common mistakes; undefined when it is nothing we recognise. */
function recogniseOther(b: Uint8Array): string | undefined {
  const magic = Buffer.from(b.subarray(0, 4)).toString('hex');
  if (magic === 'd4c3b2a1' || magic === 'a1b2c3d4' || magic === '0a0d0d0a') {
    return 'a pcap capture (export the decrypted TCP payload, e.g. Wireshark\'s "Follow TCP Stream" shown as raw, then dump that)';
  }
  if (b[0] === 0x16 && b[1] === 0x03) return 'a TLS record (encrypted traffic: capture the decrypted payload instead)';
  const text = Buffer.from(b.subarray(0, 64)).toString('latin1').trimStart();
  if (text.startsWith('<')) return 'KMIP XML (this command reads binary TTLV, hex or base64)';
  if (text.startsWith('{') || text.startsWith('[')) return 'KMIP JSON (this command reads binary TTLV, hex or base64)';
  if (/^(POST|GET|PUT|HTTP\/)/.test(text)) return 'HTTP (dump only the body of the request or response)';
  return undefined;
}

function firstBytes(b: Uint8Array): string {
  return Buffer.from(b.subarray(0, 8)).toString('hex').toUpperCase() || 'none';
}

/** The text without the separators people paste hex with: whitespace, colons and 0x prefixes. */
function hexDigits(text: string): string {
  return text.replace(/0x/gi, '').replace(/[\s:]/g, '');
}

function fromHex(text: string): Uint8Array {
  const digits = hexDigits(text);
  const bad = digits.search(/[^0-9a-fA-F]/);
  if (bad >= 0) throw new Error(`input is not hex: ${JSON.stringify(digits[bad])} is not a hex digit`);
  if (digits.length % 2 !== 0) throw new Error(`input is not hex: an odd number of digits (${digits.length})`);
  return Buffer.from(digits, 'hex');
}

function fromBase64(text: string): Uint8Array {
  const compact = text.replace(/\s/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact)) throw new Error('input is not base64: it has characters outside the base64 alphabet');
  return Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64');
}

/**
 * The TTLV bytes of `input` and the format they were read in. Detection: binary when the input
 * itself starts with a TTLV header (a text encoding never does: its 4th byte is printable, not an
 * item type), else hex when it is only hex digits and separators, else base64; the decoded bytes
 * must then start with a TTLV header too. Throws an Error with one line saying what the input is not.
 */
export function readTtlvInput(input: Uint8Array, format?: TtlvInputFormat): { bytes: Uint8Array; format: TtlvInputFormat } {
  if (input.length === 0) throw new Error('input is empty');
  let bytes: Uint8Array;
  let detected: TtlvInputFormat;
  if (format === 'binary' || (format === undefined && startsWithTtlvHeader(input))) {
    bytes = input;
    detected = 'binary';
  } else {
    const text = Buffer.from(input).toString('latin1');
    if (format === 'hex' || (format === undefined && /^[0-9a-fA-F]+$/.test(hexDigits(text)))) {
      bytes = fromHex(text);
      detected = 'hex';
    } else if (format === 'base64' || (format === undefined && /^[\sA-Za-z0-9+/_=-]+$/.test(text))) {
      bytes = fromBase64(text);
      detected = 'base64';
    } else {
      const other = recogniseOther(input);
      throw new Error(
        other !== undefined
          ? `input is not TTLV: it looks like ${other}`
          : `input is not binary TTLV, hex or base64 (first bytes ${firstBytes(input)})`,
      );
    }
  }
  if (bytes.length < HEADER_BYTES) {
    throw new Error(`${detected === 'binary' ? 'input' : `${FORMAT_NAMES[detected]} input`} is not TTLV: ${bytes.length} bytes, shorter than one item header (8)`);
  }
  if (!startsWithTtlvHeader(bytes)) {
    const other = recogniseOther(bytes);
    const what = detected === 'binary' ? 'input' : `${FORMAT_NAMES[detected]} input`;
    throw new Error(
      `${what} is not TTLV: ${other !== undefined ? `it looks like ${other}` : `no TTLV item header (first bytes ${firstBytes(bytes)})`}`,
    );
  }
  return { bytes, format: detected };
}

export interface TtlvMessageSlice {
  readonly offset: number;
  readonly bytes: Uint8Array;
  /** Set when the header declares more bytes than remain: the slice is what there is. */
  readonly truncatedBy?: number;
}

/**
 * Splits concatenated top-level items (a capture of one connection's messages) by their declared
 * lengths. The last slice may be cut short; nothing is dropped.
 */
export function splitTtlvMessages(bytes: Uint8Array): TtlvMessageSlice[] {
  const slices: TtlvMessageSlice[] = [];
  let off = 0;
  while (off < bytes.length) {
    const left = bytes.length - off;
    if (left < HEADER_BYTES) {
      slices.push({ offset: off, bytes: bytes.subarray(off), truncatedBy: HEADER_BYTES - left });
      break;
    }
    const len = ((bytes[off + 4]! << 24) | (bytes[off + 5]! << 16) | (bytes[off + 6]! << 8) | bytes[off + 7]!) >>> 0;
    const padded = bytes[off + 3] === ItemType.Structure ? len : len + ((8 - (len & 7)) & 7);
    const size = HEADER_BYTES + padded;
    if (size > left) {
      slices.push({ offset: off, bytes: bytes.subarray(off), truncatedBy: size - left });
      break;
    }
    slices.push({ offset: off, bytes: bytes.subarray(off, off + size) });
    off += size;
  }
  return slices;
}

function dumpOne(slice: TtlvMessageSlice, redactTags: ReadonlySet<number> | undefined): string {
  if (slice.truncatedBy === undefined) {
    try {
      // Generous limits: a dump reads what the operator gives it, the server's limits are not the point.
      const item = decodeTtlv(slice.bytes, {
        maxMessageBytes: slice.bytes.length,
        maxDepth: HARD_MAX_DEPTH,
        maxItems: Math.max(1, Math.ceil(slice.bytes.length / HEADER_BYTES)),
      });
      return formatTree(item, { dictionary: kmipDictionary, redactTags });
    } catch (e) {
      if (!(e instanceof TtlvError)) throw e;
      return `!! does not decode: ${e.message}\n${hexDump(slice.bytes, { redactTags })}`;
    }
  }
  return `!! cut short: ${slice.truncatedBy} more bytes were declared than the input holds\n${hexDump(slice.bytes, { redactTags })}`;
}

function describeTopTag(slice: TtlvMessageSlice): string {
  if (slice.bytes.length < 3) return 'item';
  const tag = (slice.bytes[0]! << 16) | (slice.bytes[1]! << 8) | slice.bytes[2]!;
  return TAG_INFO.get(tag)?.name ?? `item 0x${tag.toString(16).toUpperCase().padStart(6, '0')}`;
}

/**
 * The dump's text: a summary line (format read, message count, whether secrets are hidden), then
 * each message's named tree under a `# message N` line giving its offset and size.
 */
export function runTtlvDump(opts: TtlvDumpOptions): string {
  const { bytes, format } = readTtlvInput(opts.input, opts.format);
  const slices = splitTtlvMessages(bytes);
  const redactTags = opts.redact ? SECRET_TAGS : undefined;
  const count = `${slices.length} message${slices.length === 1 ? '' : 's'}`;
  const secrecy = opts.redact ? 'secret fields redacted (--no-redact shows them)' : 'NOT redacted: the output may contain key material';
  const out = [`# ${FORMAT_NAMES[format]}, ${bytes.length} bytes, ${count}; ${secrecy}`];
  slices.forEach((slice, i) => {
    out.push(`# message ${i + 1}: ${describeTopTag(slice)}, offset ${slice.offset}, ${slice.bytes.length} bytes`);
    out.push(dumpOne(slice, redactTags));
  });
  return `${out.join('\n')}\n`;
}

/** The whole of standard input. */
export async function readStdin(stream: NodeJS.ReadableStream = process.stdin): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/** A file's bytes; a failure is one line naming the file. */
export async function readInputFile(file: string): Promise<Uint8Array> {
  try {
    return await fs.readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (code ?? String(e))}`);
  }
}

/**
 * Reads `input` (a file path, or stdin when undefined) and returns the text to print. Throws an
 * Error with one clear line on bad input.
 */
export async function ttlvDumpCommand(input: string | undefined, opts: TtlvDumpCommandOptions): Promise<string> {
  const bytes = input === undefined ? await readStdin() : await readInputFile(input);
  return runTtlvDump({ input: bytes, format: opts.format, redact: opts.redact });
}
