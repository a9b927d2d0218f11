/**
 * The MSGENC-{XML,JSON,HTTPS}-M-1-1x cases of KMIP Additional Message Encodings 1.0, kept as the
 * document's table text: each message in XML, then its TTLV bytes in hex; the JSON cases add the
 * message in JSON, the HTTPS cases a hexdump of the HTTP exchange carrying it.
 *
 * Checked byte for byte: XML -> TTLV equals the hex, JSON -> TTLV equals the hex, the hex decodes
 * to the XML's tree and re-encodes unchanged, and the HTTP body is the same bytes.
 *
 * Known defect (SOURCE.md): in six v1.1 messages the document prints a Time Stamp of 08:03:34 in
 * the XML but 08:04:52 in the hex (and in the JSON). For those the Time Stamp is taken from the hex.
 */
import * as fs from 'fs';
import * as path from 'path';
import { decodeTtlv } from '../../ttlv/decode';
import { encodeTtlv } from '../../ttlv/encode';
import { ItemType, ttlv } from '../../ttlv/types';
import type { TtlvItem } from '../../ttlv/types';
import { parseKmipJson } from '../../ttlv/json';
import { parseKmipXml } from '../../ttlv/xml';
import { kmipDictionary } from '../../src/spec/dictionary';
import { listFiles, withConformanceDir } from '../helpers/conformance';
import { expectSameTree } from '../helpers/ttlv-diff';

interface MsgencCase {
  readonly file: string;
  readonly line: number;
  readonly xml: string;
  readonly hex: string;
  readonly json?: string;
  readonly http?: Uint8Array;
}

type Block = { kind: 'xml' | 'json' | 'hex' | 'http'; text: string; line: number; bytes?: Uint8Array };

const HEX_LINE = /^[0-9a-fA-F]+\s*$/;
const DUMP_OFFSET_LINE = /^([0-9a-f]{8}):((?: [0-9a-f]{2})*)\s*$/;
const DUMP_CONTINUATION = /^ {2}([0-9a-f]{2}(?:[ -][0-9a-f]{2})*)-?(?: {3,}.*)?$/;

/** Reads a hexdump block: "00000000: 50 4f 53 54 20" lines and "  2f 6b 6d-69 ...   ascii" lines. */
function readHexdump(lines: readonly string[], start: number): { bytes: Uint8Array; next: number } {
  const bytes: number[] = [];
  let i = start;
  for (; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const offsetLine = DUMP_OFFSET_LINE.exec(line);
    const continuation = offsetLine ? null : DUMP_CONTINUATION.exec(line);
    if (offsetLine) {
      // Each offset label must equal the bytes read so far: a check on our reading of the dump.
      if (parseInt(offsetLine[1] ?? '', 16) !== bytes.length) throw new Error(`hexdump offset ${offsetLine[1]} at line ${i + 1} does not follow`);
      for (const b of (offsetLine[2] ?? '').trim().split(/\s+/).filter((t) => t !== '')) bytes.push(parseInt(b, 16));
    } else if (continuation) {
      for (const b of (continuation[1] ?? '').split(/[ -]/)) bytes.push(parseInt(b, 16));
    } else {
      break;
    }
  }
  return { bytes: Uint8Array.from(bytes), next: i };
}

/** Splits a file into its blocks; any line that fits no block is an error (the format changed). */
function readBlocks(text: string, file: string): Block[] {
  const lines = text.split(/\r?\n/);
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? '';
    if (line.trim() === '' || line.startsWith('#')) {
      i++;
    } else if (/^<(RequestMessage|ResponseMessage)>/.test(line)) {
      const close = line.startsWith('<Request') ? '</RequestMessage>' : '</ResponseMessage>';
      const start = i;
      while (i < lines.length && !(lines[i] ?? '').includes(close)) i++;
      blocks.push({ kind: 'xml', text: lines.slice(start, i + 1).join('\n'), line: start + 1 });
      i++;
    } else if (line.startsWith('{')) {
      const start = i;
      let depth = 0;
      do {
        // Tag names and values hold no brackets, so counting them finds the end of the object.
        for (const c of lines[i] ?? '') depth += c === '{' || c === '[' ? 1 : c === '}' || c === ']' ? -1 : 0;
        i++;
      } while (depth > 0 && i < lines.length);
      blocks.push({ kind: 'json', text: lines.slice(start, i).join('\n'), line: start + 1 });
    } else if (HEX_LINE.test(line)) {
      const start = i;
      while (i < lines.length && HEX_LINE.test(lines[i] ?? '')) i++;
      blocks.push({ kind: 'hex', text: lines.slice(start, i).join('').replace(/\s+/g, '').toLowerCase(), line: start + 1 });
    } else if (DUMP_OFFSET_LINE.test(line)) {
      const { bytes, next } = readHexdump(lines, i);
      blocks.push({ kind: 'http', text: '', line: i + 1, bytes });
      i = next;
    } else {
      throw new Error(`${file}:${i + 1}: unrecognised line ${JSON.stringify(line)}`);
    }
  }
  return blocks;
}

/** Groups blocks into cases: XML, then its hex, then optionally JSON and/or an HTTP dump. */
function readCases(text: string, file: string): MsgencCase[] {
  const blocks = readBlocks(text, file);
  const cases: MsgencCase[] = [];
  for (let i = 0; i < blocks.length; ) {
    const xml = blocks[i] as Block;
    const hex = blocks[i + 1];
    if (xml.kind !== 'xml' || hex?.kind !== 'hex') throw new Error(`${file}:${xml.line}: expected an XML message followed by its hex`);
    let json: string | undefined;
    let http: Uint8Array | undefined;
    i += 2;
    for (let b = blocks[i]; b !== undefined && (b.kind === 'json' || b.kind === 'http'); b = blocks[++i]) {
      if (b.kind === 'json') json = b.text;
      else http = b.bytes;
    }
    cases.push({ file, line: xml.line, xml: xml.text, hex: hex.text, ...(json !== undefined ? { json } : {}), ...(http !== undefined ? { http } : {}) });
  }
  return cases;
}

const dict = kmipDictionary;
const hexOf = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const tagOf = (name: string): number => {
  const t = dict.tagByName(name);
  if (t === undefined) throw new Error(`dictionary lacks ${name}`);
  return t;
};

function child(item: TtlvItem, tag: number): TtlvItem | undefined {
  return item.type === ItemType.Structure ? item.value.find((c) => c.tag === tag) : undefined;
}

/** 2014-06-10T08:03:34Z and 08:04:52Z: the two Time Stamps of the documented v1.1 defect. */
const DEFECT_XML_TIME = 1402387414n;
const DEFECT_HEX_TIME = 1402387492n;

/** The Response Header's Time Stamp, if the tree is a response that has one. */
function responseTimeStamp(tree: TtlvItem): bigint | undefined {
  const header = child(tree, tagOf('ResponseHeader'));
  const stamp = header && child(header, tagOf('TimeStamp'));
  return stamp?.type === ItemType.DateTime ? stamp.value : undefined;
}

function withResponseTimeStamp(tree: TtlvItem, value: bigint): TtlvItem {
  const headerTag = tagOf('ResponseHeader');
  const stampTag = tagOf('TimeStamp');
  if (tree.type !== ItemType.Structure) return tree;
  return ttlv.structure(
    tree.tag,
    tree.value.map((c) =>
      c.tag === headerTag && c.type === ItemType.Structure
        ? ttlv.structure(headerTag, c.value.map((h) => (h.tag === stampTag ? ttlv.dateTime(stampTag, value) : h)))
        : c,
    ),
  );
}

/**
 * The v1.1 defect: the XML tree with the hex's Time Stamp, only when the pair is exactly the
 * documented one (08:03:34 in the XML, 08:04:52 in the hex); every other tree is left alone.
 */
function fixKnownTimeStampDefect(xmlTree: TtlvItem, hexTree: TtlvItem, file: string): { tree: TtlvItem; fixed: boolean } {
  if (!file.startsWith('v1.1/') || responseTimeStamp(xmlTree) !== DEFECT_XML_TIME || responseTimeStamp(hexTree) !== DEFECT_HEX_TIME) {
    return { tree: xmlTree, fixed: false };
  }
  return { tree: withResponseTimeStamp(xmlTree, DEFECT_HEX_TIME), fixed: true };
}

/**
 * How an HTTP dump's body relates to the case's hex. The dumps are not faithful copies, and
 * these are the two deviations found in them (not listed in SOURCE.md):
 * - every request dump has two stray bytes (0x15 0x32, shown as ".2" in its ASCII column) after
 *   the first two body bytes, while its Content-Length gives the true length;
 * - the v1.2 response dumps come from another run: only their Time Stamp differs.
 */
function compareHttpBody(body: Buffer, hex: string): 'same' | 'stray-bytes' | 'other-time-stamp' | 'different' {
  if (body.toString('hex') === hex) return 'same';
  if (body.length === hex.length / 2 + 2 && body[2] === 0x15 && body[3] === 0x32) {
    return Buffer.concat([body.subarray(0, 2), body.subarray(4)]).toString('hex') === hex ? 'stray-bytes' : 'different';
  }
  try {
    const expected = decodeTtlv(Buffer.from(hex, 'hex'));
    const stamp = responseTimeStamp(expected);
    const tree = decodeTtlv(body);
    if (stamp !== undefined && responseTimeStamp(tree) !== undefined && hexOf(encodeTtlv(withResponseTimeStamp(tree, stamp))) === hex) {
      return 'other-time-stamp';
    }
  } catch {
    // not even TTLV: different
  }
  return 'different';
}


withConformanceDir((root) => {
  const files = ['v1.0', 'v1.1', 'v1.2'].flatMap((v) =>
    listFiles(path.join(root, v, 'msgenc-ttlv-hex'), (n) => n.endsWith('.txt')).map((f) => `${v}/msgenc-ttlv-hex/${f}`),
  );
  const cases = files.flatMap((file) => readCases(fs.readFileSync(path.join(root, file), 'utf8'), file));
  let timeStampFixes = 0;
  const httpDeviations: string[] = [];

  test('the MSGENC files are there: 3 versions x (HTTPS, JSON, XML), 36 messages', () => {
    expect(files).toHaveLength(9);
    expect(cases).toHaveLength(36);
    // JSON is given in the v1.1 and v1.2 JSON cases only; the HTTPS cases all carry a dump.
    expect(cases.filter((c) => c.json !== undefined).map((c) => c.file)).toEqual(
      cases.filter((c) => /v1\.[12].*JSON/.test(c.file)).map((c) => c.file),
    );
    expect(cases.filter((c) => c.http !== undefined).map((c) => c.file)).toEqual(cases.filter((c) => c.file.includes('HTTPS')).map((c) => c.file));
  });

  test.each(cases.map((c) => [`${c.file}:${c.line}`, c] as const))('%s', (_name, c) => {
    const bytes = Buffer.from(c.hex, 'hex');
    expect(bytes.length).toBe(c.hex.length / 2);

    const fromHex = decodeTtlv(bytes);
    expect(hexOf(encodeTtlv(fromHex))).toBe(c.hex);

    const { tree: fromXml, fixed } = fixKnownTimeStampDefect(parseKmipXml(c.xml, dict), fromHex, c.file);
    if (fixed) timeStampFixes++;
    expect(hexOf(encodeTtlv(fromXml))).toBe(c.hex);
    expectSameTree(fromHex, fromXml, dict, 'hex and XML');

    if (c.json !== undefined) {
      const fromJson = parseKmipJson(c.json, dict);
      expect(hexOf(encodeTtlv(fromJson))).toBe(c.hex);
    }
    if (c.http !== undefined) {
      // The HTTP message's body (after the blank line) is the TTLV message, and Content-Length says so.
      const http = Buffer.from(c.http);
      const split = http.indexOf('\r\n\r\n');
      expect(split).toBeGreaterThan(0);
      const head = http.subarray(0, split).toString('latin1');
      const body = http.subarray(split + 4);
      expect(/Content-Length:\s*(\d+)/i.exec(head)?.[1]).toBe(String(c.hex.length / 2));
      const relation = compareHttpBody(body, c.hex);
      expect(relation).not.toBe('different');
      if (relation !== 'same') httpDeviations.push(`${c.file}:${c.line} ${relation}`);
    }
  });

  test('the v1.1 Time Stamp defect was corrected in exactly its six messages', () => {
    expect(timeStampFixes).toBe(6);
  });

  test('the HTTP dumps deviate from the hex in the known ways only', () => {
    const requests = cases.filter((c) => c.http !== undefined && c.xml.startsWith('<Request'));
    const v12Responses = cases.filter((c) => c.http !== undefined && c.xml.startsWith('<Response') && c.file.startsWith('v1.2/'));
    expect(httpDeviations.sort()).toEqual(
      [...requests.map((c) => `${c.file}:${c.line} stray-bytes`), ...v12Responses.map((c) => `${c.file}:${c.line} other-time-stamp`)].sort(),
    );
  });
});
