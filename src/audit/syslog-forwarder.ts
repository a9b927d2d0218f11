/**
 * Forwards the audit trail to a SIEM collector as RFC 5424 syslog messages over TLS (RFC 5425:
 * octet-counted frames, `LEN SP MSG`), with node's `tls`.
 *
 * The audit file is the source of truth and the only input: the forwarder follows it by `seq`, the
 * way `tail -F` follows a file, so what is sent is exactly what is on disk. `push()` says that new
 * lines are durable: the sender wakes at once instead of at its next poll, and once the lines carry
 * `seq` it sends nothing beyond the last durable one. Memory holds one read chunk and the socket's
 * buffer; while the collector is away nothing is read, the lines wait in the file, and nothing on
 * the request path waits for the collector.
 *
 * Delivery is at least once, in `seq` order, each message carrying its `seq` for deduplication:
 * - the last `seq` handed to the connection is kept in the cursor file (0600, at most every
 *   CURSOR_SAVE_MS), and a start resumes after it, from `<file>` or the rotated `<file>.1`;
 * - RFC 5425 has no acknowledgements, so when a connection is lost the records whose bytes may still
 *   have been in socket buffers (the last REWIND_BYTES written on it) are sent again;
 * - a clean stop closes the connection and waits for the collector to close its side, which it does
 *   after reading everything: then nothing is sent again at the next start.
 * Loss needs the collector to drop what it had already received while this server is killed before
 * noticing; records rotated beyond `<file>.1` while the collector was away are reported as a gap.
 *
 * Why not winston-syslog: it keeps its backlog in memory only (lost at a restart, unbounded or
 * dropped while the collector is away), has no cursor, and reconnects without resending; the file
 * and a cursor are what make the promise above.
 */
import fs from 'node:fs';
import os from 'node:os';
import tls from 'node:tls';

export interface SyslogForwarderConfig {
  readonly host: string;
  readonly port: number;
  /** PEM file of the CA that issued the collector's certificate (always verified, with its name). */
  readonly ca: string;
  /** Client certificate and key (PEM files), for a collector that authenticates its senders. */
  readonly cert?: string;
  readonly key?: string;
  readonly appName: string;
  readonly facility: number;
  /** Reconnection backs off from RETRY_MIN_MS, doubling, up to this. */
  readonly retryMaxMs: number;
}

export interface AuditForwarder {
  /** Lines just made durable in the audit file: a wake-up (the lines sent are read from the file). */
  push(lines: readonly string[]): void;
  /** Sends what the file holds (bounded by CLOSE_MS), closes the connection, saves the cursor. */
  close(): Promise<void>;
}

export interface ForwarderFiles {
  readonly auditFile: string;
  /** Holds the last forwarded `seq` (e.g. `<dataDir>/audit-forward.cursor`). */
  readonly cursorFile: string;
}

export const DEFAULT_SYSLOG_APP_NAME = 'kmip-server';
/** RFC 5424 facility 13, "log audit": the one meant for audit trails. */
export const DEFAULT_SYSLOG_FACILITY = 13;
/**
 * SD-ID of the structured data element (`name@PEN`). 32473 is the enterprise number RFC 5612
 * reserves for documentation: a placeholder until the project registers its own.
 */
export const SD_ID = 'kmip@32473';

const RETRY_MIN_MS = 250;
const CONNECT_TIMEOUT_MS = 10_000;
/** A collector that vanished without closing is noticed by TCP keepalive. */
const KEEPALIVE_MS = 30_000;
/** Catches lines written by another process (worker processes append to the file themselves). */
const POLL_MS = 250;
const CURSOR_SAVE_MS = 250;
const READ_CHUNK = 256 * 1024;
/**
 * Bytes on a lost connection that may not have reached the collector: our send buffer and its
 * receive buffer (Linux autotunes them up to 4 and 6 MiB by default).
 */
const REWIND_BYTES = 10 * 1024 * 1024;
/** How long a stop may spend sending what is left and waiting for the collector to close. */
const CLOSE_MS = 5_000;

const BOM = '\ufeff';

// ---------------------------------------------------------------------------------------------
// The message

/** RFC 5424 severity from the record: err for internal errors, warning, informational otherwise. */
function severityOf(record: Record<string, unknown> | undefined): number {
  const level = record?.['level'];
  if (level === 'error') return 3;
  if (level === 'warn') return 4;
  return 6;
}

/** RFC 5424 TIMESTAMP: at most 6 fraction digits, Z or a numeric offset. */
const RFC5424_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;

/** Printable US-ASCII without space, at most `max` characters; "-" (NILVALUE) if nothing is left. */
function headerField(value: string, max: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, '').slice(0, max);
  return clean === '' ? '-' : clean;
}

export interface MessageHeader {
  readonly facility: number;
  readonly hostname: string;
  readonly appName: string;
  readonly procId: string;
}

/**
 * One audit line as an RFC 5425 frame: `LEN SP <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID audit
 * [kmip@32473 seq="N"] MSG`. MSG is the line's exact bytes, so the collector can check the chain
 * (`prev`); RFC 5424 wants a BOM before UTF-8, so a line that is not plain ASCII gets one.
 * TIMESTAMP is the record's own time (a line sent again keeps it).
 */
export function syslogFrame(line: string, seq: number, record: Record<string, unknown> | undefined, header: MessageHeader): Buffer {
  const pri = header.facility * 8 + severityOf(record);
  const time = typeof record?.['timestamp'] === 'string' && RFC5424_TIME.test(record['timestamp']) ? record['timestamp'] : new Date().toISOString();
  const msg = /[^\x00-\x7f]/.test(line) ? BOM + line : line;
  const text = `<${pri}>1 ${time} ${header.hostname} ${header.appName} ${header.procId} audit [${SD_ID} seq="${seq}"] ${msg}`;
  const body = Buffer.from(text, 'utf8');
  return Buffer.concat([Buffer.from(`${body.length} `, 'ascii'), body]);
}

// ---------------------------------------------------------------------------------------------
// The trail, read from the file by seq

/** Where the line after `afterSeq` starts: in the file with inode `ino`, at byte `offset`. */
interface Position {
  readonly afterSeq: number;
  readonly ino: number;
  readonly offset: number;
}

interface TrailLine {
  readonly seq: number;
  readonly text: string;
  readonly record: Record<string, unknown> | undefined;
  /** The position before this line (where to start to send it again). */
  readonly before: Position;
}

type Notice = (record: Record<string, unknown>) => void;

function parseRecord(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined; // still forwarded: the collector should see a damaged line too
  }
}

/** The line's `seq`, if it carries one. */
function seqField(record: Record<string, unknown> | undefined): number | undefined {
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
class TrailReader {
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

// ---------------------------------------------------------------------------------------------
// The cursor

export function readCursor(file: string): number {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0; // first start: the whole trail
    throw e;
  }
  const m = /^(\d+)\n?$/.exec(text);
  if (!m || !Number.isSafeInteger(Number(m[1]))) {
    throw new Error(`audit.syslog: the cursor file ${file} does not hold a sequence number; remove it to forward the trail again from its start`);
  }
  return Number(m[1]);
}

/** Writes the cursor by rename, so that a crash leaves the old value or the new one. */
async function writeCursor(file: string, seq: number): Promise<void> {
  const tmp = `${file}.tmp`;
  await fs.promises.writeFile(tmp, `${seq}\n`, { mode: 0o600 });
  await fs.promises.rename(tmp, file);
}

// ---------------------------------------------------------------------------------------------
// The sender

/** A record written on the current connection, kept while it may not have reached the collector. */
interface InFlight {
  readonly before: Position;
  /** Bytes written on the connection up to and including this record. */
  readonly end: number;
}

class SyslogForwarder implements AuditForwarder {
  private readonly reader: TrailReader;
  private readonly header: MessageHeader;
  private readonly tlsOptions: tls.ConnectionOptions;
  private socket: tls.TLSSocket | null = null;
  private connecting: tls.TLSSocket | null = null;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly pollTimer: NodeJS.Timeout;
  private closing = false;
  /** Where the next connection starts (null: where the reader is). */
  private resume: Position | null;
  /** From `inFlightHead` on (a queue without Array.shift, which copies). */
  private inFlight: InFlight[] = [];
  private inFlightHead = 0;
  private written = 0;
  private lastWritten: Position | null = null;
  private pumping: Promise<void> | null = null;
  /**
   * The last seq the writer said is durable; until it says one (an audit writer without seq, or
   * another process writing), whatever the file holds.
   */
  private durableSeq = Infinity;
  private pumpAgain = false;
  /** The cursor to save, and the one saved. */
  private cursor: number;
  private savedCursor: number;
  private saveTimer: NodeJS.Timeout | null = null;
  private saving: Promise<void> = Promise.resolve();
  /** The last connection failure reported, so a long outage is one line, not one per attempt. */
  private reportedFailure = '';
  private reportedSaveFailure = '';

  constructor(
    private readonly config: SyslogForwarderConfig,
    private readonly files: ForwarderFiles,
    private readonly notice: Notice,
  ) {
    this.cursor = this.savedCursor = readCursor(files.cursorFile);
    this.resume = { afterSeq: this.cursor, ino: 0, offset: 0 };
    this.reader = new TrailReader(files.auditFile, notice);
    this.header = {
      facility: config.facility,
      hostname: headerField(os.hostname(), 255),
      appName: headerField(config.appName, 48),
      procId: String(process.pid),
    };
    this.tlsOptions = {
      host: config.host,
      port: config.port,
      ca: fs.readFileSync(config.ca),
      cert: config.cert ? fs.readFileSync(config.cert) : undefined,
      key: config.key ? fs.readFileSync(config.key) : undefined,
      minVersion: 'TLSv1.2',
      rejectUnauthorized: true,
    };
    this.pollTimer = setInterval(() => void this.pump(), POLL_MS);
    this.pollTimer.unref();
    this.connect();
  }

  /**
   * Lines the writer made durable: with `seq`, the last one is where reading stops from then on
   * (a line on disk but not yet synced could be lost in a power cut, and its seq reused).
   */
  push(lines: readonly string[]): void {
    const last = lines.length > 0 ? seqField(parseRecord(lines[lines.length - 1]!)) : undefined;
    if (last !== undefined) this.durableSeq = this.durableSeq === Infinity ? last : Math.max(this.durableSeq, last);
    void this.pump();
  }

  private connect(): void {
    this.retryTimer = null;
    if (this.closing) return;
    const socket = tls.connect(this.tlsOptions);
    this.connecting = socket;
    let failure: Error | null = null;
    let peerEnded = false;
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(new Error(`no TLS connection within ${CONNECT_TIMEOUT_MS} ms`)));
    socket.on('error', (e) => (failure = e));
    socket.on('end', () => (peerEnded = true));
    socket.resume(); // a collector sends nothing; reading lets its close be seen
    socket.once('secureConnect', () => {
      socket.setTimeout(0);
      socket.setKeepAlive(true, KEEPALIVE_MS);
      this.connecting = null;
      if (this.closing) {
        socket.destroy();
        return;
      }
      this.socket = socket;
      this.retryMs = RETRY_MIN_MS;
      this.reportedFailure = '';
      this.inFlight = [];
      this.inFlightHead = 0;
      this.written = 0;
      this.lastWritten = null;
      this.resume ??= this.reader.position();
      this.notice({ event: 'connected to the collector', collector: `${this.config.host}:${this.config.port}`, fromSeq: this.resume.afterSeq + 1 });
      void this.pump();
    });
    socket.on('drain', () => void this.pump());
    socket.once('close', () => {
      if (this.connecting === socket) this.connecting = null;
      const wasUp = this.socket === socket;
      if (wasUp) this.lost();
      if (this.closing) return;
      const why = failure?.message ?? (peerEnded ? 'the collector closed the connection' : 'connection closed');
      if (wasUp || why !== this.reportedFailure) {
        this.notice({ event: wasUp ? 'connection to the collector lost; records wait in the audit file' : 'cannot connect to the collector; records wait in the audit file', collector: `${this.config.host}:${this.config.port}`, error: why, retryMs: this.retryMs });
        this.reportedFailure = why;
      }
      this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
      this.retryTimer.unref();
      this.retryMs = Math.min(this.retryMs * 2, this.config.retryMaxMs);
    });
  }

  /** The connection is gone: the next one starts at the first record that may not have arrived. */
  private lost(): void {
    this.socket = null;
    this.resume = this.unconfirmedFrom();
    this.setCursor(this.resume.afterSeq, true);
  }

  private unconfirmedFrom(): Position {
    return this.inFlight[this.inFlightHead]?.before ?? this.lastWritten ?? this.resume ?? this.reader.position();
  }

  /** Sends what the file holds after the last record sent, as long as the socket takes it. */
  private pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return this.pumping;
    }
    const run = (async () => {
      try {
        do {
          this.pumpAgain = false;
          while (this.socket !== null && !this.socket.writableNeedDrain) {
            const socket = this.socket;
            if (this.resume !== null) {
              await this.reader.seek(this.resume);
              // Until a record is written, a loss resumes here.
              this.lastWritten = this.resume;
              this.resume = null;
            }
            const lines = await this.reader.read(this.durableSeq);
            if (lines.length === 0 || socket !== this.socket) break; // a lost connection resumes from its records
            this.write(socket, lines);
          }
        } while (this.pumpAgain && this.socket !== null);
      } catch (e) {
        // The file cannot be read now; the poll tries again after the last record written.
        if (this.socket !== null && this.resume === null) this.resume = this.lastWritten;
        this.notice({ event: 'cannot read the audit file', error: (e as Error).message });
      }
    })();
    // Cleared after the run, never before it is set (a run with nothing to do ends synchronously).
    this.pumping = run.then(() => {
      this.pumping = null;
      if (this.pumpAgain && this.socket !== null) void this.pump(); // asked for after its last read
    });
    return this.pumping;
  }

  private write(socket: tls.TLSSocket, lines: readonly TrailLine[]): void {
    const frames: Buffer[] = [];
    for (const line of lines) {
      const frame = syslogFrame(line.text, line.seq, line.record, this.header);
      frames.push(frame);
      this.written += frame.length;
      this.inFlight.push({ before: line.before, end: this.written });
    }
    while (this.inFlightHead < this.inFlight.length && this.written - this.inFlight[this.inFlightHead]!.end >= REWIND_BYTES) this.inFlightHead += 1;
    if (this.inFlightHead > 4096 && this.inFlightHead * 2 > this.inFlight.length) {
      this.inFlight = this.inFlight.slice(this.inFlightHead);
      this.inFlightHead = 0;
    }
    const last = lines[lines.length - 1]!;
    // The reader stands right after the last line it returned.
    this.lastWritten = this.reader.position();
    socket.write(Buffer.concat(frames), (err) => {
      if (!err && socket === this.socket) this.setCursor(last.seq, false);
    });
  }

  private setCursor(seq: number, now: boolean): void {
    this.cursor = seq;
    if (now) {
      void this.saveCursor();
      return;
    }
    if (this.saveTimer !== null) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      void this.saveCursor();
    }, CURSOR_SAVE_MS);
    this.saveTimer.unref();
  }

  private saveCursor(): Promise<void> {
    this.saving = this.saving.then(async () => {
      const seq = this.cursor;
      if (seq === this.savedCursor) return;
      try {
        await writeCursor(this.files.cursorFile, seq);
        this.savedCursor = seq;
        this.reportedSaveFailure = '';
      } catch (e) {
        // A restart then sends again from the older cursor: duplicates, never a loss.
        const why = (e as Error).message;
        if (why !== this.reportedSaveFailure) this.notice({ event: 'cannot save the forwarding cursor', file: this.files.cursorFile, error: why });
        this.reportedSaveFailure = why;
      }
    });
    return this.saving;
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.pollTimer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.saveTimer !== null) clearTimeout(this.saveTimer);
    this.connecting?.destroy();
    const socket = this.socket;
    if (socket !== null) {
      const deadline = Date.now() + CLOSE_MS;
      const closed = new Promise<boolean>((resolve) => {
        let peerEnded = false;
        let failed = false;
        socket.once('end', () => (peerEnded = true));
        socket.on('error', () => (failed = true));
        socket.once('close', () => resolve(peerEnded && !failed));
      });
      // What the file holds now (the audit log's last lines included) goes out first.
      while (this.socket === socket && Date.now() < deadline) {
        await this.pump();
        if (!socket.writableNeedDrain) break;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([new Promise((r) => socket.once('drain', r)), closed, new Promise((r) => (timer = setTimeout(r, deadline - Date.now())))]);
        clearTimeout(timer);
      }
      if (this.socket === socket) {
        this.socket = null; // ours to close: not a loss
        // The collector closes its side once it has read up to our close: then everything arrived.
        socket.end();
        const timer = setTimeout(() => socket.destroy(), Math.max(0, deadline - Date.now()));
        const confirmed = await closed;
        clearTimeout(timer);
        this.setCursor(confirmed ? (this.lastWritten?.afterSeq ?? this.cursor) : this.unconfirmedFrom().afterSeq, true);
      }
    }
    await this.pumping;
    await this.saveCursor();
    await this.reader.close();
  }
}

/** Starts forwarding (connecting in the background); throws only for an unreadable cursor or PEM file. */
export function createSyslogForwarder(
  config: SyslogForwarderConfig,
  files: ForwarderFiles,
  notice: Notice = (r) => process.stderr.write(`${JSON.stringify({ msg: 'audit forwarding', ...r })}\n`),
): AuditForwarder {
  return new SyslogForwarder(config, files, notice);
}
