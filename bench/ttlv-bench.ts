/**
 * TTLV codec throughput: `npm run bench:ttlv`. Prints figures; asserts nothing (timings on a
 * shared machine are noise for a test).
 *
 *   (a) a typical KMIP 1.4 Get request (~200 bytes) and its response carrying a 32-byte AES key;
 *   (b) every message of the OASIS conformance corpus (../shared/kmip-conformance), when the XML
 *       reader and the spec dictionary are available.
 */
import * as fs from 'fs';
import * as path from 'path';
import { DEFAULT_MAX_MESSAGE_BYTES, decodeTtlv } from '../ttlv/decode';
import { encodeTtlv } from '../ttlv/encode';
import { TtlvFramer } from '../ttlv/framer';
import { ttlv, type TtlvDictionary, type TtlvItem } from '../ttlv/types';
import { Tag } from '../src/spec/generated/tags';

const { structure, integer, enumeration, textString, byteString, dateTime } = ttlv;

function getRequest(): TtlvItem {
  return structure(Tag.RequestMessage, [
    structure(Tag.RequestHeader, [
      structure(Tag.ProtocolVersion, [integer(Tag.ProtocolVersionMajor, 1), integer(Tag.ProtocolVersionMinor, 4)]),
      dateTime(Tag.TimeStamp, 1_700_000_000n),
      integer(Tag.BatchCount, 1),
    ]),
    structure(Tag.BatchItem, [
      enumeration(Tag.Operation, 0x0a), // Get
      structure(Tag.RequestPayload, [
        textString(Tag.UniqueIdentifier, '1f165d65-cbbd-4bd6-9867-80e0b390acf9'),
        enumeration(Tag.KeyFormatType, 0x01), // Raw
      ]),
    ]),
  ]);
}

function getResponse(): TtlvItem {
  const key = new Uint8Array(32).map((_, i) => (i * 37 + 11) & 0xff);
  return structure(Tag.ResponseMessage, [
    structure(Tag.ResponseHeader, [
      structure(Tag.ProtocolVersion, [integer(Tag.ProtocolVersionMajor, 1), integer(Tag.ProtocolVersionMinor, 4)]),
      dateTime(Tag.TimeStamp, 1_700_000_001n),
      integer(Tag.BatchCount, 1),
    ]),
    structure(Tag.BatchItem, [
      enumeration(Tag.Operation, 0x0a),
      enumeration(Tag.ResultStatus, 0x00), // Success
      structure(Tag.ResponsePayload, [
        enumeration(Tag.ObjectType, 0x02), // Symmetric Key
        textString(Tag.UniqueIdentifier, '1f165d65-cbbd-4bd6-9867-80e0b390acf9'),
        structure(Tag.SymmetricKey, [
          structure(Tag.KeyBlock, [
            enumeration(Tag.KeyFormatType, 0x01),
            structure(Tag.KeyValue, [byteString(Tag.KeyMaterial, key)]),
            enumeration(Tag.CryptographicAlgorithm, 0x03), // AES
            integer(Tag.CryptographicLength, 256),
          ]),
        ]),
      ]),
    ]),
  ]);
}

interface Figures {
  readonly nsPerMessage: number;
  readonly messagesPerSecond: number;
  readonly mbPerSecond: number;
}

/**
 * Runs `fn` over `inputs` (round robin) for about `ms` milliseconds after a warm-up, several
 * rounds, and keeps the best round (the least disturbed by other load on the machine).
 */
function measure<T>(inputs: readonly T[], bytesPerRound: number, fn: (x: T) => unknown, ms = 400, rounds = 5): Figures {
  let sink: unknown;
  const warmEnd = Date.now() + ms;
  while (Date.now() < warmEnd) for (const x of inputs) sink = fn(x);
  // Calibrate the number of passes over `inputs` that takes about `ms`.
  let passes = 1;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let p = 0; p < passes; p++) for (const x of inputs) sink = fn(x);
    const dt = Number(process.hrtime.bigint() - t0) / 1e6;
    if (dt >= ms / 4) {
      passes = Math.max(1, Math.round((passes * ms) / dt));
      break;
    }
    passes *= 2;
  }
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let p = 0; p < passes; p++) for (const x of inputs) sink = fn(x);
    best = Math.min(best, Number(process.hrtime.bigint() - t0));
  }
  if (sink === Symbol.for('never')) console.log(sink);
  const messages = passes * inputs.length;
  const seconds = best / 1e9;
  return {
    nsPerMessage: best / messages,
    messagesPerSecond: messages / seconds,
    mbPerSecond: (passes * bytesPerRound) / seconds / 1e6,
  };
}

function show(label: string, f: Figures): void {
  console.log(
    `${label.padEnd(44)} ${f.nsPerMessage.toFixed(0).padStart(8)} ns/msg ${Math.round(f.messagesPerSecond)
      .toLocaleString('en-US')
      .padStart(12)} msg/s ${f.mbPerSecond.toFixed(1).padStart(8)} MB/s`,
  );
}

function benchSet(label: string, trees: readonly TtlvItem[]): void {
  const encoded = trees.map((t) => encodeTtlv(t));
  const bytes = encoded.reduce((n, b) => n + b.length, 0);
  console.log(`\n${label}: ${trees.length} message(s), ${bytes} bytes (${(bytes / trees.length).toFixed(0)} bytes/msg average)`);
  show('  decode', measure(encoded, bytes, (b) => decodeTtlv(b)));
  show('  encode', measure(trees, bytes, (t) => encodeTtlv(t)));
  // The framer cutting one chunk holding all the messages back to back.
  const stream = Buffer.concat(encoded);
  const framerFigures = measure([stream], bytes, (s) => new TtlvFramer({ maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES }).push(s));
  show('  frame (all in one chunk)', {
    nsPerMessage: framerFigures.nsPerMessage / trees.length,
    messagesPerSecond: framerFigures.messagesPerSecond * trees.length,
    mbPerSecond: framerFigures.mbPerSecond,
  });
}

interface PlaceholderInfo {
  readonly type: string;
  readonly raw: string;
}
interface CorpusReader {
  parseKmipXmlDocument(
    text: string,
    dict: TtlvDictionary,
    opts: { placeholder?: (info: PlaceholderInfo) => string | undefined },
  ): ReadonlyArray<{ readonly item: TtlvItem }>;
}

/**
 * The test cases write run-time values as placeholders ("$NOW-3600", "$KEY_MATERIAL_0"): for a
 * benchmark any fixed instant or 16 bytes will do. Text Strings keep theirs as written.
 */
function placeholder(info: PlaceholderInfo): string | undefined {
  if (info.type === 'ByteString') return '00112233445566778899AABBCCDDEEFF';
  const m = /^\$NOW([+-]\d+)?$/.exec(info.raw.trim());
  if (m === null || (info.type !== 'DateTime' && info.type !== 'DateTimeExtended')) return undefined;
  const seconds = 1_700_000_000 + Number(m[1] ?? 0);
  return new Date(seconds * 1000).toISOString().replace('.000Z', '+00:00');
}
interface DictionaryModule {
  kmipDictionary: TtlvDictionary;
}

/** Every message of the conformance corpus that encodes, or undefined if the XML reader is absent. */
function loadCorpus(): { trees: TtlvItem[]; files: number; skipped: number } | undefined {
  let reader: CorpusReader;
  let dict: TtlvDictionary;
  try {
    // Loaded at run time: the XML reader and the dictionary are written in parallel with this bench.
    reader = require('../ttlv/xml') as CorpusReader;
    dict = (require('../src/spec/dictionary') as DictionaryModule).kmipDictionary;
    if (typeof reader.parseKmipXmlDocument !== 'function' || dict === undefined) return undefined;
  } catch {
    return undefined;
  }
  const root = path.resolve(__dirname, '../../shared/kmip-conformance');
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.xml')) files.push(p);
    }
  };
  if (!fs.existsSync(root)) return undefined;
  walk(root);
  const trees: TtlvItem[] = [];
  let skipped = 0;
  for (const f of files.sort()) {
    try {
      for (const m of reader.parseKmipXmlDocument(fs.readFileSync(f, 'utf8'), dict, { placeholder })) {
        encodeTtlv(m.item);
        trees.push(m.item);
      }
    } catch {
      skipped++;
    }
  }
  return { trees, files: files.length, skipped };
}

function main(): void {
  console.log(`node ${process.version}, ${process.arch}; best of 5 rounds after warm-up`);
  const request = getRequest();
  const response = getResponse();
  benchSet('Get request', [request]);
  benchSet('Get response (32-byte key)', [response]);
  const corpus = loadCorpus();
  if (corpus === undefined) {
    console.log('\nconformance corpus: skipped (ttlv/xml.ts parseKmipXmlDocument or the spec dictionary unavailable)');
  } else {
    benchSet(
      `conformance corpus (${corpus.files} files, ${corpus.skipped} not parsed)`,
      corpus.trees,
    );
  }
}

main();
