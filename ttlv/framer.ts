/**
 * Sans-io TTLV message framing: feed it the bytes of a stream as they arrive, get back whole
 * messages. It knows no sockets, so tests drive it with any split of the input.
 *
 * Only the 8-byte header of each message is read here (tag range, Structure type, length); the
 * body is checked by `decodeTtlv`. A declared length above `maxMessageBytes` is rejected as soon
 * as the header is complete, before any of the body is buffered.
 *
 * Buffering is linear: received chunks are kept in a list and each message is copied out once.
 * Small chunks (a peer trickling bytes) are first packed into a growing tail buffer, so a message
 * delivered byte by byte costs a few buffers, not one object per byte.
 */
import { TtlvError, TtlvErrorCode } from './errors';
import { HEADER_BYTES, ItemType } from './types';

export interface TtlvFramerOptions {
  /** Largest message accepted, header included (use the decoder's `maxMessageBytes`). */
  readonly maxMessageBytes: number;
  /**
   * If set, every message must carry this tag (a server passes Request Message, 0x420078).
   * The codec itself knows no KMIP tags.
   */
  readonly expectTag?: number;
}

/** Chunks shorter than this are copied into the tail buffer instead of being listed. */
const SMALL_CHUNK = 1024;
/** First and largest capacity of a tail buffer; it doubles between the two. */
const TAIL_MIN = 256;
const TAIL_MAX = 64 * 1024;

export class TtlvFramer {
  private readonly maxMessageBytes: number;
  private readonly expectTag: number | undefined;
  /** Buffered bytes, in order; the first `head` bytes of `chunks[0]` are already consumed. */
  private chunks: Uint8Array[] = [];
  private head = 0;
  /** Bytes buffered and not yet returned (in `chunks` and the open part of `tail`). */
  private buffered = 0;
  /** Packing buffer for small chunks: [tailStart, tailLen) is buffered but not yet in `chunks`. */
  private tail: Buffer | null = null;
  private tailStart = 0;
  private tailLen = 0;
  /** Size (header included) of the message being received, or -1 until its header is complete. */
  private need = -1;
  /** Stream offset of the first byte of the message being received (for error offsets). */
  private messageStart = 0;
  /** What poisoned the framer (a TtlvError unless there is a bug); `failed` says whether set. */
  private failure: unknown = null;
  private failed = false;

  constructor(opts: TtlvFramerOptions) {
    const max = opts.maxMessageBytes;
    if (!Number.isSafeInteger(max) || max < HEADER_BYTES) {
      throw new TtlvError(TtlvErrorCode.BadLimits, 0, 'maxMessageBytes must be an integer >= 8');
    }
    this.maxMessageBytes = max;
    this.expectTag = opts.expectTag;
  }

  /** Bytes held for an incomplete message. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** The error that poisoned this framer, if any. */
  get error(): TtlvError | null {
    return this.failure instanceof TtlvError ? this.failure : null;
  }

  /**
   * Adds received bytes; returns the messages they complete, in order, each a fresh Buffer that
   * owns its memory. `chunk` may be retained until its bytes are returned, so the caller must not
   * modify it afterwards (Node's socket chunks are never reused).
   *
   * Throws `TtlvError` (BadTag, NotAStructure, BadLength, TooLarge) on a bad header, with the
   * stream offset of the bad field. The framer is then poisoned: every later call throws the same
   * error (the connection is to be closed), and messages completed earlier in the same call are
   * dropped with it.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    if (this.failed) throw this.failure;
    try {
      return this.receive(chunk);
    } catch (e) {
      this.release();
      this.failed = true;
      this.failure = e;
      throw e;
    }
  }

  private receive(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    let off = 0;
    const n = chunk.length;
    // Fast path, nothing buffered: cut messages straight out of the chunk.
    if (this.buffered === 0) {
      while (n - off >= HEADER_BYTES) {
        const size = this.checkHeader(chunk, off);
        if (n - off < size) {
          this.need = size;
          break;
        }
        frames.push(Buffer.from(chunk.subarray(off, off + size)));
        off += size;
        this.messageStart += size;
      }
      if (off === n) return frames;
    }
    this.append(chunk, off);
    for (;;) {
      if (this.need < 0) {
        if (this.buffered < HEADER_BYTES) break;
        this.need = this.checkHeader(this.peekHeader(), 0);
      }
      if (this.buffered < this.need) break;
      frames.push(this.take(this.need));
      this.messageStart += this.need;
      this.need = -1;
    }
    return frames;
  }

  /** Validates the header at `bytes[off..off+8)`; returns the whole message size. */
  private checkHeader(bytes: Uint8Array, off: number): number {
    const at = this.messageStart;
    const t0 = bytes[off]!;
    const tag = (t0 << 16) | (bytes[off + 1]! << 8) | bytes[off + 2]!;
    if (t0 !== 0x42 && t0 !== 0x54) throw new TtlvError(TtlvErrorCode.BadTag, at, 'tag must be 0x42xxxx or 0x54xxxx');
    if (this.expectTag !== undefined && tag !== this.expectTag) {
      throw new TtlvError(TtlvErrorCode.BadTag, at, `message tag 0x${tag.toString(16)} is not 0x${this.expectTag.toString(16)}`);
    }
    if (bytes[off + 3] !== ItemType.Structure) {
      throw new TtlvError(TtlvErrorCode.NotAStructure, at + 3, 'message is not a Structure');
    }
    const len = ((bytes[off + 4]! << 24) | (bytes[off + 5]! << 16) | (bytes[off + 6]! << 8) | bytes[off + 7]!) >>> 0;
    if ((len & 7) !== 0) throw new TtlvError(TtlvErrorCode.BadLength, at + 4, `Structure length ${len} is not a multiple of 8`);
    if (len > this.maxMessageBytes - HEADER_BYTES) {
      throw new TtlvError(TtlvErrorCode.TooLarge, at + 4, `message of ${len + HEADER_BYTES} bytes exceeds ${this.maxMessageBytes}`);
    }
    return len + HEADER_BYTES;
  }

  private append(chunk: Uint8Array, off: number): void {
    const len = chunk.length - off;
    if (len === 0) return;
    this.buffered += len;
    if (len >= SMALL_CHUNK) {
      this.seal();
      this.chunks.push(off === 0 ? chunk : chunk.subarray(off));
      return;
    }
    let tail = this.tail;
    if (tail === null || tail.length - this.tailLen < len) {
      this.seal();
      const cap = Math.min(TAIL_MAX, Math.max(TAIL_MIN, tail === null ? 0 : tail.length * 2));
      tail = this.tail = Buffer.allocUnsafe(Math.max(cap, len));
      this.tailStart = this.tailLen = 0;
    }
    tail.set(off === 0 ? chunk : chunk.subarray(off), this.tailLen);
    this.tailLen += len;
  }

  /** Moves the open part of the tail into `chunks`, so readers see one list. */
  private seal(): void {
    if (this.tail !== null && this.tailLen > this.tailStart) {
      this.chunks.push(this.tail.subarray(this.tailStart, this.tailLen));
      this.tailStart = this.tailLen;
    }
  }

  /** The first 8 buffered bytes (the caller checked they are there). */
  private peekHeader(): Uint8Array {
    this.seal();
    const first = this.chunks[0]!;
    if (first.length - this.head >= HEADER_BYTES) return first.subarray(this.head, this.head + HEADER_BYTES);
    const out = new Uint8Array(HEADER_BYTES);
    this.copyOut(out, false);
    return out;
  }

  /** Removes and returns the next `size` buffered bytes as one Buffer. */
  private take(size: number): Uint8Array {
    this.seal();
    const out = Buffer.allocUnsafe(size);
    this.copyOut(out, true);
    this.buffered -= size;
    if (this.buffered === 0) this.release();
    return out;
  }

  /** Fills `out` from the front of the buffered bytes; consumes them if `consume`. */
  private copyOut(out: Uint8Array, consume: boolean): void {
    const chunks = this.chunks;
    let i = 0;
    let head = this.head;
    let filled = 0;
    while (filled < out.length) {
      const c = chunks[i]!;
      const n = Math.min(c.length - head, out.length - filled);
      out.set(c.subarray(head, head + n), filled);
      filled += n;
      head += n;
      if (head === c.length) {
        i++;
        head = 0;
      }
    }
    if (consume) {
      if (i > 0) this.chunks = chunks.slice(i);
      this.head = head;
    }
  }

  /** Drops every buffered reference (all bytes consumed, or poisoned). */
  private release(): void {
    this.chunks = [];
    this.head = 0;
    this.buffered = 0;
    this.tail = null;
    this.tailStart = this.tailLen = 0;
  }
}
