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
 *
 * Beside it: trail-reader.ts (the file followed by `seq`) and syslog-message.ts (the RFC 5424 frame).
 */
import fs from 'node:fs';
import os from 'node:os';
import tls from 'node:tls';
import { headerField, syslogFrame, type MessageHeader } from './syslog-message';
import { TrailReader, parseRecord, seqField, type Notice, type Position, type TrailLine } from './trail-reader';

// The frame format lives in syslog-message.ts; importers have always found it here.
export { syslogFrame } from './syslog-message';

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

const RETRY_MIN_MS = 250;
const CONNECT_TIMEOUT_MS = 10_000;
/** A collector that vanished without closing is noticed by TCP keepalive. */
const KEEPALIVE_MS = 30_000;
/** Catches lines written by another process (worker processes append to the file themselves). */
const POLL_MS = 250;
const CURSOR_SAVE_MS = 250;
/**
 * Bytes on a lost connection that may not have reached the collector: our send buffer and its
 * receive buffer (Linux autotunes them up to 4 and 6 MiB by default).
 */
const REWIND_BYTES = 10 * 1024 * 1024;
/** How long a stop may spend sending what is left and waiting for the collector to close. */
const CLOSE_MS = 5_000;

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
