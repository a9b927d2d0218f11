import { decodeTtlv } from '../../../ttlv/decode';
import { encodeTtlv } from '../../../ttlv/encode';
import { TtlvError, TtlvErrorCode } from '../../../ttlv/errors';
import { TtlvFramer } from '../../../ttlv/framer';
import { ItemType, ttlv } from '../../../ttlv/types';
import { bytesOf, hexOf, loadSpecExamples, loadValidVectors } from '../../helpers/ttlv-vectors';

const MAX = 1024 * 1024;

/**
 * Messages built from the golden vectors and the spec examples (a Structure as it is, any other
 * item wrapped in one), plus a few bigger messages.
 */
function fixtures(): Uint8Array[] {
  const out = [...loadValidVectors().map((v) => v.hex), ...loadSpecExamples().map((e) => e.hex)]
    .map(bytesOf)
    .map((b) => (b[3] === ItemType.Structure ? b : encodeTtlv(ttlv.structure(0x420078, [decodeTtlv(b)]))));
  out.push(encodeTtlv(ttlv.structure(0x420078, [ttlv.byteString(0x420043, new Uint8Array(3000).fill(7))])));
  out.push(encodeTtlv(ttlv.structure(0x540001, [ttlv.textString(0x420094, 'é'.repeat(700))])));
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** Feeds `stream` cut at `cuts` (sorted offsets) to a new framer; returns the frames as hex. */
function frameAt(stream: Uint8Array, cuts: readonly number[]): string[] {
  const framer = new TtlvFramer({ maxMessageBytes: MAX });
  const frames: string[] = [];
  let prev = 0;
  for (const cut of [...cuts, stream.length]) {
    for (const f of framer.push(stream.subarray(prev, cut))) frames.push(hexOf(f));
    prev = cut;
  }
  if (framer.bufferedBytes !== 0) throw new Error(`${framer.bufferedBytes} bytes left buffered`);
  return frames;
}

function framerError(f: () => unknown): TtlvError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TtlvError);
    return e as TtlvError;
  }
  throw new Error('no error');
}

const all = fixtures();

describe('split delivery', () => {
  test('there are fixtures', () => {
    expect(all.length).toBeGreaterThan(80);
  });

  // Compared as one string per split (and collected), so the loops stay fast; a failure lists the cuts.
  test('every fixture split at every byte offset gives the same single frame', () => {
    const bad: string[] = [];
    for (const [i, msg] of all.entries()) {
      const want = hexOf(msg);
      for (let cut = 0; cut <= msg.length; cut++) if (frameAt(msg, [cut]).join('|') !== want) bad.push(`${i}@${cut}`);
    }
    expect(bad).toEqual([]);
  });

  test('all fixtures back to back, split at every offset, give the same frames', () => {
    const stream = concat(all);
    const want = all.map(hexOf).join('|');
    const bad: number[] = [];
    for (let cut = 0; cut <= stream.length; cut++) if (frameAt(stream, [cut]).join('|') !== want) bad.push(cut);
    expect(bad).toEqual([]);
  });

  test('all fixtures back to back, split at every pair of offsets 61 bytes apart', () => {
    const stream = concat(all);
    const want = all.map(hexOf).join('|');
    const bad: number[] = [];
    for (let cut = 0; cut + 61 <= stream.length; cut++) if (frameAt(stream, [cut, cut + 61]).join('|') !== want) bad.push(cut);
    expect(bad).toEqual([]);
  });

  test('byte at a time', () => {
    const stream = concat(all);
    const cuts = Array.from({ length: stream.length }, (_, i) => i);
    expect(frameAt(stream, cuts)).toEqual(all.map(hexOf));
  });

  test('many messages in one chunk', () => {
    const many = Array.from({ length: 200 }, () => all).flat();
    expect(frameAt(concat(many), [])).toEqual(many.map(hexOf));
  });

  test('mixed big and small chunks, including empty ones', () => {
    const stream = concat(all);
    const cuts: number[] = [];
    let p = 0;
    let step = 1;
    while (p < stream.length) {
      cuts.push(p, p); // an empty chunk too
      p += step;
      step = step >= 2048 ? 1 : step * 3;
    }
    expect(frameAt(stream, cuts)).toEqual(all.map(hexOf));
  });

  test('a 256 KiB message byte by byte', () => {
    const msg = encodeTtlv(ttlv.structure(0x420078, [ttlv.byteString(0x420043, new Uint8Array(256 * 1024).map((_, i) => i))]));
    const framer = new TtlvFramer({ maxMessageBytes: MAX });
    let frames: Uint8Array[] = [];
    for (let i = 0; i < msg.length; i++) frames = frames.concat(framer.push(msg.subarray(i, i + 1)));
    expect(frames).toHaveLength(1);
    expect(Buffer.compare(frames[0]!, msg)).toBe(0);
  });

  test('each frame decodes, and owns its bytes (later changes to the chunk do not leak in)', () => {
    const chunk = new Uint8Array(concat(all));
    const frames = new TtlvFramer({ maxMessageBytes: MAX }).push(chunk);
    const before = frames.map(hexOf);
    chunk.fill(0);
    expect(frames.map(hexOf)).toEqual(before);
    for (const f of frames) expect(() => decodeTtlv(f)).not.toThrow();
  });

  test('a message of exactly maxMessageBytes is accepted', () => {
    const msg = encodeTtlv(ttlv.structure(0x420078, [ttlv.byteString(0x420043, new Uint8Array(40))]));
    expect(new TtlvFramer({ maxMessageBytes: msg.length }).push(msg)).toHaveLength(1);
  });
});

describe('rejection', () => {
  test('an oversize length is rejected as soon as the header is complete, before the body', () => {
    const framer = new TtlvFramer({ maxMessageBytes: 1024 });
    expect(framer.push(bytesOf('42007801000004'))).toEqual([]);
    expect(framer.bufferedBytes).toBe(7);
    const e = framerError(() => framer.push(bytesOf('00')));
    expect([e.code, e.offset]).toEqual([TtlvErrorCode.TooLarge, 4]);
    expect(framer.bufferedBytes).toBe(0);
  });

  test('a hostile 4 GiB length buffers nothing', () => {
    const framer = new TtlvFramer({ maxMessageBytes: MAX });
    const e = framerError(() => framer.push(bytesOf('42007801FFFFFFF8' + '00'.repeat(64))));
    expect(e.code).toBe(TtlvErrorCode.TooLarge);
    expect(framer.bufferedBytes).toBe(0);
  });

  test('after an error the framer is poisoned', () => {
    const framer = new TtlvFramer({ maxMessageBytes: MAX });
    const e = framerError(() => framer.push(bytesOf('4300780100000000')));
    expect(e.code).toBe(TtlvErrorCode.BadTag);
    expect(framer.error).toBe(e);
    expect(framerError(() => framer.push(all[0]!))).toBe(e);
  });

  test('error offsets count from the start of the stream', () => {
    const framer = new TtlvFramer({ maxMessageBytes: MAX });
    expect(framer.push(all[0]!)).toHaveLength(1);
    const e = framerError(() => framer.push(bytesOf('4200200200000004')));
    expect([e.code, e.offset]).toEqual([TtlvErrorCode.NotAStructure, all[0]!.length + 3]);
  });

  test('expectTag: only that tag is framed', () => {
    const framer = new TtlvFramer({ maxMessageBytes: MAX, expectTag: 0x420078 });
    expect(framer.push(bytesOf('4200780100000000'))).toHaveLength(1);
    const e = framerError(() => framer.push(bytesOf('42007B0100000000')));
    expect([e.code, e.offset]).toEqual([TtlvErrorCode.BadTag, 8]);
  });

  test.each([[7], [0], [Number.NaN], [1.5]])('maxMessageBytes %d is refused', (max) => {
    expect(framerError(() => new TtlvFramer({ maxMessageBytes: max })).code).toBe(TtlvErrorCode.BadLimits);
  });
});
