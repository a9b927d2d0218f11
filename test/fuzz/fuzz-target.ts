/**
 * Mutation fuzzing of the request path: valid request messages from the OASIS corpus are mutated
 * (bit flips, byte rewrites, length-field rewrites, truncation, splicing, random bytes) and fed
 * to `handleMessage` over a real SQLite store and a real SoftHSM2 token. Every input must get a
 * decodable Response Message; any exception, hang or unbounded memory growth is a finding.
 *
 * Driven by fast-check's random source so a failure prints a seed that replays it.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { decodeTtlv } from '../../ttlv/decode';
import { encodeTtlv } from '../../ttlv/encode';
import { ItemType } from '../../ttlv/types';
import { parseKmipXmlDocument } from '../../ttlv/xml';
import { kmipDictionary } from '../../src/spec/dictionary';
import { Tag } from '../../src/spec/generated/tags';
import { handleMessage, type ServerCore } from '../../src/server/handle-message';
import { corpusPlaceholder, listFiles } from '../helpers/conformance';

/** Every request message of the 1.0-2.1 corpus, encoded. */
export function corpusRequests(conformanceDir: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const files = listFiles(conformanceDir, (n) => n.endsWith('.xml')).filter((f) => /^v(1\.[0-4]|2\.[01])\//.test(f));
  for (const f of files) {
    let messages;
    try {
      messages = parseKmipXmlDocument(fs.readFileSync(path.join(conformanceDir, f), 'utf8'), kmipDictionary, { placeholder: corpusPlaceholder });
    } catch {
      continue; // known unreadable files (PKCS#11 enumerations); the corpus tests report them
    }
    for (const m of messages) if (m.kind === 'RequestMessage') out.push(encodeTtlv(m.item));
  }
  return out;
}

/** A mutation of `seed`, chosen by the arbitrary. */
export function mutation(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const pick = fc.integer({ min: 0, max: seeds.length - 1 }).map((i) => seeds[i]!);
  const flip = fc.tuple(pick, fc.nat(), fc.integer({ min: 0, max: 7 })).map(([s, at, bit]) => {
    const b = Buffer.from(s);
    b[at % b.length]! ^= 1 << bit;
    return new Uint8Array(b);
  });
  const overwrite = fc.tuple(pick, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([s, at, bytes]) => {
    const b = Buffer.from(s);
    b.set(bytes.subarray(0, Math.max(0, b.length - (at % b.length))), at % b.length);
    return new Uint8Array(b);
  });
  // Rewrite one item's length field (offsets 4..7 of an 8-aligned header) with a hostile value.
  const length = fc.tuple(pick, fc.nat(), fc.constantFrom(0, 1, 7, 8, 0x7fffffff, 0xffffffff, 0x100000)).map(([s, at, len]) => {
    const b = Buffer.from(s);
    const off = (Math.floor((at % b.length) / 8) * 8) % Math.max(8, b.length - 8);
    if (off + 8 <= b.length) b.writeUInt32BE(len >>> 0, off + 4);
    return new Uint8Array(b);
  });
  const truncate = fc.tuple(pick, fc.nat()).map(([s, n]) => s.subarray(0, n % s.length));
  const splice = fc.tuple(pick, pick, fc.nat(), fc.nat()).map(([a, b, i, j]) => {
    const x = Buffer.from(a.subarray(0, i % a.length));
    const y = Buffer.from(b.subarray(j % b.length));
    return new Uint8Array(Buffer.concat([x, y]));
  });
  const random = fc.uint8Array({ minLength: 0, maxLength: 512 });
  return fc.oneof(flip, overwrite, length, truncate, splice, random, pick);
}

export interface FuzzStats {
  executions: number;
  answered: number;
  peakHeapBytes: number;
}

/** Inputs per fast-check round: a time-bounded run stops between rounds, never inside one. */
const ROUND = 2_000;

/**
 * Runs up to `runs` inputs, and when `seconds` is given stops at the first round boundary after
 * that time; throws (with fast-check's seed and path) on the first input not answered.
 */
export async function fuzzHandleMessage(core: ServerCore, seeds: readonly Uint8Array[], runs: number, seconds?: number, seed?: number): Promise<FuzzStats> {
  const stats: FuzzStats = { executions: 0, answered: 0, peakHeapBytes: 0 };
  const session = { client: { name: 'fuzz', isAdmin: false } };
  const property = fc.asyncProperty(mutation(seeds), async (input) => {
    stats.executions++;
    const out = await withTimeout(handleMessage(input, session, core), 5_000);
    const response = decodeTtlv(out);
    if (response.tag !== Tag.ResponseMessage || response.type !== ItemType.Structure) {
      throw new Error('answer is not a Response Message');
    }
    stats.answered++;
    if (stats.executions % 200 === 0) stats.peakHeapBytes = Math.max(stats.peakHeapBytes, process.memoryUsage().heapUsed);
  });
  const deadline = seconds === undefined ? Infinity : Date.now() + seconds * 1000;
  for (let round = 0; stats.executions < runs && Date.now() < deadline; round++) {
    await fc.assert(property, {
      numRuns: Math.min(ROUND, runs - stats.executions),
      seed: seed === undefined ? undefined : seed + round,
      endOnFailure: true,
    });
  }
  return stats;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms (hang)`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
