/**
 * Follows the audit file by `seq`, the way `tail -F` follows a file: through rotation to
 * `<file>.1`, truncation in place, and lines written but not yet durable. What the syslog
 * forwarder sends is exactly what this reads from disk.
 */
import fs from 'node:fs';

/** Bytes read from the file at a time. */
const READ_CHUNK = 256 * 1024;

/** Where the line after `afterSeq` starts: in the file with inode `ino`, at byte `offset`. */
export interface Position {
  readonly afterSeq: number;
  readonly ino: number;
  readonly offset: number;
}

export interface TrailLine {
  readonly seq: number;
  readonly text: string;
  readonly record: Record<string, unknown> | undefined;
  /** The position before this line (where to start to send it again). */
  readonly before: Position;
}

export type Notice = (record: Record<string, unknown>) => void;

export function parseRecord(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined; // still forwarded: the collector should see a damaged line too
  }
}

/** The line's `seq`, if it carries one. */
export function seqField(record: Record<string, unknown> | undefined): number | undefined {
  const seq = record?.['seq'];
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
}

async function openIfExists(file: string): Promise<fs.promises.FileHandle | null> {
  try {
    return await fs.promises.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

async function statIfExists(file: string): Promise<fs.Stats | null> {
  try {
    return await fs.promises.stat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** The `seq` of the file's first line (undefined: empty, or lines without `seq`). */
async function firstSeq(fh: fs.promises.FileHandle): Promise<number | undefined> {
  const buf = Buffer.alloc(64 * 1024);
  const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
  const end = buf.subarray(0, bytesRead).indexOf(0x0a);
  return end < 0 ? undefined : seqField(parseRecord(buf.toString('utf8', 0, end)));
}

/**
 * Follows the audit file by `seq`. Lines without `seq` (an audit writer from before the chain) are
 * numbered by their count, from the first line of `<file>.1` or else `<file>`.
 */
export class TrailReader {
  private fh: fs.promises.FileHandle | null = null;
  private ino = 0;
  /** The next byte to read; `partial` holds the bytes read after the last newline. */
  private offset = 0;
  private partial = Buffer.alloc(0);
  /** Reading `<file>.1`: at its end, `<file>` follows. */
  private inRotated = false;
  /** The seq of the last line read (numbering of lines without one). */
  private prevSeq = 0;
  /** The seq of the last line returned: lines at or below it are not returned again. */
  private lastReturned = 0;
  private readonly buf = Buffer.alloc(READ_CHUNK);

  constructor(
    private readonly file: string,
    private readonly notice: Notice,
  ) {}

  position(): Position {
    return { afterSeq: this.lastReturned, ino: this.ino, offset: this.offset - this.partial.length };
  }

  /** Goes to `pos`: directly in the file being read, else by finding its seq in `<file>.1` and `<file>`. */
  async seek(pos: Position): Promise<void> {
    if (this.fh !== null && pos.ino === this.ino && pos.ino !== 0) {
      this.offset = pos.offset;
      this.partial = Buffer.alloc(0);
      this.prevSeq = this.lastReturned = pos.afterSeq;
      return;
    }
    await this.locate(pos.afterSeq);
  }

  private async locate(afterSeq: number): Promise<void> {
    await this.closeFile();
    this.partial = Buffer.alloc(0);
    this.offset = 0;
    this.prevSeq = 0;
    this.lastReturned = afterSeq;
    const current = await openIfExists(this.file);
    const rotated = await openIfExists(`${this.file}.1`);
    // <file>.1 is needed unless <file> starts at or before the next seq.
    const currentFirst = current ? await firstSeq(current) : undefined;
    const useRotated = rotated !== null && !(currentFirst !== undefined && currentFirst <= afterSeq + 1);
    const [use, other] = useRotated ? [rotated, current] : [current, rotated];
    await other?.close();
    this.fh = use;
    this.inRotated = useRotated;
    this.ino = use ? (await use.stat()).ino : 0;
  }

  /**
   * Complete lines after the last one returned, up to about `READ_CHUNK` bytes and up to seq
   * `limit`; [] at the end.
   */
  async read(limit: number): Promise<TrailLine[]> {
    for (;;) {
      if (this.fh === null) {
        this.fh = await openIfExists(this.file);
        if (this.fh === null) return [];
        this.ino = (await this.fh.stat()).ino;
        this.offset = 0;
        this.inRotated = false;
      }
      const { bytesRead } = await this.fh.read(this.buf, 0, this.buf.length, this.offset);
      if (bytesRead > 0) {
        const { lines, limited } = this.take(bytesRead, limit);
        if (lines.length > 0 || limited) return lines;
        continue; // all at or below the cursor, or no newline yet in a long line
      }
      if (!(await this.moveOn())) return [];
    }
  }

  /** At the end of the file being read: moves to the next file if there is one. */
  private async moveOn(): Promise<boolean> {
    const st = await statIfExists(this.file);
    if (st === null) return false; // rotated away, the new file not made yet: the old may still grow
    if (this.inRotated || st.ino !== this.ino) {
      // The writer writes the new file only after it stopped writing the old one: once the new one
      // has a line, the old one is complete. Read it to its end once more, then move on.
      if (st.size === 0) return false;
      const { bytesRead } = await this.fh!.read(this.buf, 0, 1, this.offset);
      if (bytesRead > 0) return true;
      if (this.partial.length > 0) this.notice({ event: 'incomplete last line in a rotated audit file', bytes: this.partial.length });
      await this.closeFile();
      return true;
    }
    if (st.size < this.offset) {
      this.notice({ event: 'audit file truncated in place (copytruncate?): reading it again from its start', file: this.file });
      this.offset = 0;
      this.partial = Buffer.alloc(0);
      return true;
    }
    return false;
  }

  private take(bytesRead: number, limit: number): { lines: TrailLine[]; limited: boolean } {
    const data = this.partial.length > 0 ? Buffer.concat([this.partial, this.buf.subarray(0, bytesRead)]) : Buffer.from(this.buf.subarray(0, bytesRead));
    const dataStart = this.offset - this.partial.length;
    this.offset += bytesRead;
    const out: TrailLine[] = [];
    let start = 0;
    for (let nl = data.indexOf(0x0a); nl >= 0; start = nl + 1, nl = data.indexOf(0x0a, start)) {
      if (nl === start) continue; // an empty line is no record
      const text = data.toString('utf8', start, nl);
      const record = parseRecord(text);
      const prior = this.prevSeq;
      const seq = seqField(record) ?? prior + 1;
      if (seq > limit) {
        // Written, not yet durable: read again from this line later.
        this.offset = dataStart + start;
        this.partial = Buffer.alloc(0);
        return { lines: out, limited: true };
      }
      this.prevSeq = seq;
      if (seq <= prior) this.notice({ event: 'the audit seq went backwards; lines at or below the last one forwarded are not sent', seq, after: prior });
      if (seq <= this.lastReturned) continue; // behind the cursor: sent already
      if (seq !== this.lastReturned + 1) {
        this.notice({ event: 'gap in the audit trail: records not in the audit file or its .1 are not forwarded', from: this.lastReturned + 1, to: seq - 1 });
      }
      this.lastReturned = seq;
      out.push({ seq, text, record, before: { afterSeq: seq - 1, ino: this.ino, offset: dataStart + start } });
    }
    this.partial = Buffer.from(data.subarray(start));
    return { lines: out, limited: false };
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    this.ino = 0;
    await fh?.close();
  }

  async close(): Promise<void> {
    await this.closeFile();
  }
}
