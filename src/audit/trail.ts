/**
 * The audit file's writer: chains every line (chain.ts), writes checkpoints MAC'd by the HSM, and
 * tells callers when what they recorded is on disk.
 *
 * Group commit, as the store does for its WAL: the lines recorded during one turn of the event loop
 * go out in one write, then one fdatasync on libuv's thread pool; lines recorded while a sync runs
 * wait for the next one, so any number of requests share one sync. `durable()` resolves once every
 * line recorded before it was called is written and synced; the listener awaits it before it
 * answers, so no acknowledged request lacks its record, even after a SIGKILL or a power loss.
 *
 * `seq` and `prev` are given when a line is written, not when it is recorded, so lines held back
 * while the disk refuses them can be dropped (beyond a bound, counted in a note) without breaking
 * the chain; whoever waits for a dropped line is refused, never answered.
 *
 * On start the writer continues the chain from the file's last whole line (an incomplete one after
 * it, left by a crash mid-write, stays as evidence and is named by the next line), or, for a file
 * that logrotate moved away while the server was stopped, from the data dir's head file.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { GENESIS_PREV, TORN_LINE_MESSAGE, chainLine, checkpointMacInput, lineHash, parseHead, type ChainHead } from './chain';

export interface AuditTrailOptions {
  readonly file: string;
  /** Where the last durable line is remembered (HEAD_FILE in the data dir); null: nowhere. */
  readonly headFile: string | null;
  /** The HSM audit key's HMAC (KeyProtector.auditMac); without it, no checkpoints are written. */
  readonly mac?: (data: Uint8Array) => Promise<Buffer>;
  /** A checkpoint after this many lines (default 1000)... */
  readonly checkpointEvery?: number;
  /** ...or this many seconds after the first line not yet covered by one (default 60). */
  readonly checkpointSeconds?: number;
  /** Told the lines of each write once they are synced (the SIEM forwarder reads no further). */
  readonly onDurable?: (lines: readonly string[]) => void;
  /**
   * True when the process has nothing else to do while a batch syncs (the server asks
   * server/loop-demand.ts): the batch is then written and synced on the event loop, saving two
   * thread-pool hand-offs that cost more than the sync itself on a fast disk. Default: always on
   * the thread pool.
   */
  readonly syncInline?: () => boolean;
  /**
   * ...and only while the last sync took at most this long (default 2 ms): a slow or stalling disk
   * blocks a pool thread, never the loop, so signals, readiness and metrics still answer.
   */
  readonly inlineSyncMaxMs?: number;
}

export type CheckpointReason = 'start' | 'count' | 'interval' | 'rotate' | 'stop';

/** Lines held while the disk refuses them; beyond this the oldest are dropped, and counted. */
const MAX_PENDING_CHARS = 64 * 1024 * 1024;
/** A sync may run on the event loop only while the last one took at most this long. */
const INLINE_SYNC_MAX_MS = 2;
/** A failed write is tried again after this. */
const WRITE_RETRY_MS = 100;

function write(fd: number, buffer: Buffer, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buffer, offset, length, null, (err, written) => (err ? reject(err) : resolve(written))));
}
const fdatasync = promisify(fs.fdatasync);

interface Waiter {
  /** Resolves once the first `upTo` lines ever recorded (this run) are durable. */
  readonly upTo: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

class AuditWriteError extends Error {
  override readonly name = 'AuditWriteError';
}

export class AuditTrail {
  private fd: number;
  private readonly headFd: number | null;
  /** The length of the head file's text as last written (-1: not yet written this run). */
  private headLength = -1;
  /** The seq of the last line chained, and its hash (the next line's prev). */
  private seq: number;
  private prev: string;
  /** Bodies recorded, not yet chained. */
  private queue: string[] = [];
  private queuedChars = 0;
  private dropped = 0;
  /** Written before the next line: terminates an incomplete line found at start. */
  private prefix = '';
  /** Lines recorded this run, and how many of them are durable. */
  private recorded = 0;
  private durableCount = 0;
  private readonly waiters: Waiter[] = [];
  private syncFailure: Error | null = null;
  private writeFailure: string | null = null;
  private running = false;
  private scheduled = false;
  private closed = false;
  private readonly idleWaiters: Array<() => void> = [];
  /** How long the last write and sync took (ms). */
  private lastSyncMs = 0;
  /** Lines chained since the last checkpoint. */
  private sinceCheckpoint = 0;
  private checkpointDue: CheckpointReason | null = null;
  private readonly checkpointWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  /** After a failed MAC, count-triggered checkpoints wait for the next interval (the HSM is struggling). */
  private macFailed = false;
  private readonly reopenWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private readonly timer: NodeJS.Timeout | null;
  private readonly every: number;

  /** Lines recorded this run and not yet durable (the server's metrics). */
  get backlog(): number {
    return this.recorded - this.durableCount;
  }

  /** Why answers wait or are refused now (a failed sync, a write the disk refuses), or undefined (readiness). */
  get unusableReason(): string | undefined {
    if (this.syncFailure) return this.syncFailure.message;
    return this.writeFailure === null ? undefined : `cannot write the audit file (${this.writeFailure}); answers wait until it can`;
  }

  constructor(private readonly opts: AuditTrailOptions) {
    this.every = opts.checkpointEvery ?? 1000;
    // Owner-only: the audit trail names clients and objects.
    this.fd = fs.openSync(opts.file, 'a+', 0o600);
    const tail = readTail(this.fd);
    const head = opts.headFile === null ? null : readHead(opts.headFile);
    const tailSeq = tail.last === null ? null : seqOf(tail.last);
    if (tail.last !== null && tailSeq !== null && (head === null || head.seq <= tailSeq)) {
      this.seq = tailSeq;
      this.prev = lineHash(tail.last);
    } else if (head !== null) {
      // A file moved away by logrotate (empty now), or one cut below what was synced: continue from
      // what was written, so that a cut shows as a break in the chain.
      this.seq = head.seq;
      this.prev = head.hash;
      if (tail.last !== null) {
        const ends = tailSeq === null ? 'a line without seq' : `seq ${tailSeq}`;
        const note = `the audit file ends at ${ends}, but lines up to seq ${head.seq} were written and synced before (${opts.headFile}): records were removed while the server was stopped`;
        process.stderr.write(`audit log: ${note}\n`);
        this.queue.push(JSON.stringify({ level: 'error', message: note, timestamp: new Date().toISOString() }));
      }
    } else {
      // A new trail, or one of an earlier version without seq (chained onto its last line).
      this.seq = 0;
      this.prev = tail.last === null ? GENESIS_PREV : lineHash(tail.last);
    }
    if (tail.fragment > 0) {
      this.prefix = '\n';
      this.queue.unshift(JSON.stringify({ level: 'warn', message: TORN_LINE_MESSAGE, tornBytes: tail.fragment, timestamp: new Date().toISOString() }));
      process.stderr.write(`audit log: ${TORN_LINE_MESSAGE} (${tail.fragment} bytes)\n`);
    }
    this.recorded = this.queue.length;
    this.headFd = opts.headFile === null ? null : fs.openSync(opts.headFile, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    if (this.queue.length > 0) this.kick();
    if (opts.mac) {
      this.timer = setInterval(() => {
        this.macFailed = false;
        if (this.sinceCheckpoint + this.queue.length > 0) this.requestCheckpoint('interval');
      }, (opts.checkpointSeconds ?? 60) * 1000);
      this.timer.unref();
    } else {
      this.timer = null;
    }
  }

  /** The seq of the last line chained (written or being written). */
  get lastSeq(): number {
    return this.seq;
  }

  /** `body`: one JSON object text (no newline); it is chained and written in the next batch. */
  append(body: string): void {
    if (this.closed) return;
    this.queue.push(body);
    this.queuedChars += body.length + 1;
    this.recorded++;
    if (this.queuedChars > MAX_PENDING_CHARS) this.dropOldest();
    this.kick();
  }

  /** Resolves when every line appended so far is written and synced; rejects if one never will be. */
  durable(): Promise<void> {
    if (this.syncFailure) return Promise.reject(this.syncFailure);
    if (this.durableCount >= this.recorded) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ upTo: this.recorded, resolve, reject }));
  }

  /**
   * Writes a checkpoint now (after the lines already recorded) and resolves once it is durable;
   * rejects if the HSM could not MAC it. Does nothing without a MAC.
   */
  checkpoint(reason: CheckpointReason): Promise<void> {
    if (!this.opts.mac || this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.checkpointWaiters.push({ resolve, reject });
      this.requestCheckpoint(reason);
    });
  }

  /**
   * After logrotate renamed the file: ends it with a checkpoint (if any line follows the last one),
   * then opens the configured name again. The chain continues into the new file.
   */
  reopen(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.reopenWaiters.push({ resolve, reject });
      if (this.opts.mac && this.sinceCheckpoint + this.queue.length > 0) this.checkpointDue ??= 'rotate';
      this.kick();
    });
  }

  /** Writes what is recorded and a last checkpoint, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.opts.mac && this.sinceCheckpoint + this.queue.length > 0) this.checkpointDue ??= 'stop';
    this.kick();
    await this.idle();
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    fs.closeSync(this.fd);
    if (this.headFd !== null) fs.closeSync(this.headFd);
  }

  // -------------------------------------------------------------------------------------------

  private requestCheckpoint(reason: CheckpointReason): void {
    this.checkpointDue ??= reason;
    this.kick();
  }

  private kick(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    // One event-loop turn's lines go out together.
    setImmediate(() => {
      this.scheduled = false;
      void this.pump();
    });
  }

  private idle(): Promise<void> {
    if (!this.running && !this.scheduled && this.queue.length === 0 && this.checkpointDue === null) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Writes and syncs batch after batch until nothing is left; one runs at a time. */
  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    // Only a pump's first batch may sync on the loop: one that follows straight on is load, and the
    // answers the previous batch released have not gone out yet.
    let first = true;
    try {
      while (this.queue.length > 0 || this.checkpointDue !== null || this.reopenWaiters.length > 0) {
        const covered = this.recorded;
        const lines = this.chainQueued();
        if (this.checkpointDue === null && this.opts.mac && !this.macFailed && this.sinceCheckpoint >= this.every) this.checkpointDue = 'count';
        const checkpointWaiters = this.checkpointWaiters.splice(0);
        let checkpointError: Error | null = null;
        if (this.checkpointDue !== null) {
          const reason = this.checkpointDue;
          this.checkpointDue = null;
          try {
            lines.push(await this.checkpointLine(reason));
          } catch (e) {
            checkpointError = e instanceof Error ? e : new Error(String(e));
            this.macFailed = true;
            process.stderr.write(`audit log: checkpoint not written, the HSM could not MAC it: ${checkpointError.message}\n`);
          }
        }
        if (lines.length > 0) {
          const bytes = Buffer.from(this.prefix + lines.join('\n') + '\n', 'utf8');
          const inline = first && this.lastSyncMs <= (this.opts.inlineSyncMaxMs ?? INLINE_SYNC_MAX_MS) && this.opts.syncInline?.() === true;
          first = false;
          const started = performance.now();
          await this.writeOut(bytes, inline);
          this.prefix = '';
          try {
            if (inline) fs.fdatasyncSync(this.fd);
            else await fdatasync(this.fd);
            this.lastSyncMs = performance.now() - started;
          } catch (e) {
            // After a failed fsync the kernel may have dropped the pages: nothing more can be promised.
            this.syncFailure = new AuditWriteError(`audit file sync failed (${(e as Error).message}); requests are refused until a restart`);
            process.stderr.write(`audit log: ${this.syncFailure.message}\n`);
          }
          if (!this.syncFailure) {
            this.writeHead();
            this.opts.onDurable?.(lines);
          }
        }
        this.settle(covered);
        for (const w of checkpointWaiters) {
          if (checkpointError) w.reject(checkpointError);
          else if (this.syncFailure) w.reject(this.syncFailure);
          else w.resolve();
        }
        if (this.reopenWaiters.length > 0) this.reopenFile();
      }
    } finally {
      this.running = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /** Gives the queued bodies their seq and prev. */
  private chainQueued(): string[] {
    if (this.dropped > 0) {
      this.queue.unshift(JSON.stringify({ level: 'error', message: 'audit records dropped while the audit file could not be written', count: this.dropped, timestamp: new Date().toISOString() }));
      this.dropped = 0;
    }
    const lines = this.queue.map((body) => {
      const line = chainLine(++this.seq, this.prev, body);
      this.prev = lineHash(line);
      return line;
    });
    this.sinceCheckpoint += lines.length;
    this.queue = [];
    this.queuedChars = 0;
    return lines;
  }

  private async checkpointLine(reason: CheckpointReason): Promise<string> {
    const seq = this.seq + 1;
    const mac = await (this.opts.mac as (d: Uint8Array) => Promise<Buffer>)(checkpointMacInput(seq, this.prev));
    const line = chainLine(seq, this.prev, JSON.stringify({ event: 'checkpoint', mac: mac.toString('hex'), reason, timestamp: new Date().toISOString() }));
    this.seq = seq;
    this.prev = lineHash(line);
    this.sinceCheckpoint = 0;
    return line;
  }

  /**
   * Writes all of `bytes` (`inline`: on the event loop); a refused write (disk full, gone) is tried
   * again until it goes through.
   */
  private async writeOut(bytes: Buffer, inline: boolean): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      try {
        offset += inline ? fs.writeSync(this.fd, bytes, offset, bytes.length - offset) : await write(this.fd, bytes, offset, bytes.length - offset);
        this.writeFailure = null;
      } catch (e) {
        const message = (e as Error).message;
        if (this.writeFailure !== message) process.stderr.write(`audit log: cannot write ${message}\n`);
        this.writeFailure = message;
        await new Promise((r) => setTimeout(r, WRITE_RETRY_MS));
      }
    }
  }

  private settle(covered: number): void {
    this.durableCount = Math.max(this.durableCount, covered);
    while (this.waiters.length > 0 && this.waiters[0]!.upTo <= covered) {
      const w = this.waiters.shift()!;
      if (this.syncFailure) w.reject(this.syncFailure);
      else w.resolve();
    }
  }

  /** Drops the oldest queued lines (the disk has refused them for long); their waiters are refused. */
  private dropOldest(): void {
    while (this.queuedChars > MAX_PENDING_CHARS && this.queue.length > 1) {
      this.queuedChars -= (this.queue.shift() as string).length + 1;
      this.dropped += 1;
    }
    const refused = new AuditWriteError('audit records were dropped: the audit file cannot be written');
    for (const w of this.waiters.splice(0)) w.reject(refused);
  }

  /** Remembers the last durable line (no sync of its own: it only ever lags behind the file). */
  private writeHead(): void {
    if (this.headFd === null) return;
    const text = Buffer.from(JSON.stringify({ seq: this.seq, hash: this.prev }) + '\n');
    try {
      fs.writeSync(this.headFd, text, 0, text.length, 0);
      // Only when the text's length changes (a digit more in seq, or the file an earlier run left).
      if (text.length !== this.headLength) fs.ftruncateSync(this.headFd, text.length);
      this.headLength = text.length;
    } catch (e) {
      process.stderr.write(`audit log: cannot update ${this.opts.headFile}: ${(e as Error).message}\n`);
    }
  }

  private reopenFile(): void {
    const waiters = this.reopenWaiters.splice(0);
    try {
      const fd = fs.openSync(this.opts.file, 'a+', 0o600);
      fs.closeSync(this.fd);
      this.fd = fd;
      for (const w of waiters) w.resolve();
    } catch (e) {
      // Keep writing to the file we have: records must not be lost for a rotation.
      for (const w of waiters) w.reject(new AuditWriteError(`cannot reopen the audit file ${this.opts.file}: ${(e as Error).message}`));
    }
  }
}

function readHead(file: string): ChainHead | null {
  try {
    return parseHead(fs.readFileSync(file, 'utf8'));
  } catch {
    return null; // none yet
  }
}

function seqOf(line: Buffer): number | null {
  try {
    const seq = (JSON.parse(line.toString('utf8')) as { seq?: unknown }).seq;
    return typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0 ? seq : null;
  } catch {
    return null;
  }
}

/** The file's last whole line (without its newline), and how many bytes follow it without a newline. */
function readTail(fd: number): { last: Buffer | null; fragment: number } {
  const size = fs.fstatSync(fd).size;
  const CHUNK = 64 * 1024;
  let buf = Buffer.alloc(0);
  let pos = size;
  while (pos > 0) {
    const start = Math.max(0, pos - CHUNK);
    const chunk = Buffer.alloc(pos - start);
    fs.readSync(fd, chunk, 0, chunk.length, start);
    buf = Buffer.concat([chunk, buf]);
    pos = start;
    const end = buf.lastIndexOf(0x0a);
    if (end === -1) continue;
    const before = end === 0 ? -1 : buf.lastIndexOf(0x0a, end - 1);
    if (before === -1 && pos > 0) continue;
    return { last: buf.subarray(before + 1, end), fragment: buf.length - 1 - end };
  }
  return { last: null, fragment: size };
}
