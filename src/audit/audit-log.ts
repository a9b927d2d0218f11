/**
 * The audit port and its winston implementation: one JSON line per batch item and per rejected
 * connection. Records carry identifiers and outcomes, never key material or credentials: the
 * entry type has no field that could hold them.
 */
import fs from 'node:fs';
import type { Writable } from 'node:stream';
import winston from 'winston';

export interface AuditRecord {
  /**
   * `notification`: one Notify or Put the server sent (or could not send) to a client's endpoint;
   * `notification-dropped`: messages for an endpoint given up on (queue full, server stopping).
   */
  readonly event: 'operation' | 'connection-rejected' | 'message-rejected' | 'notification' | 'notification-dropped';
  readonly correlationId: string;
  readonly client?: string;
  readonly certificateFingerprint?: string;
  readonly peer?: string;
  readonly protocolVersion?: string;
  /** The request carried an Authentication structure (its credential is never logged). */
  readonly credentialPresented?: boolean;
  readonly operation?: string;
  readonly uniqueIdentifiers?: readonly string[];
  readonly resultStatus?: string;
  readonly resultReason?: string;
  readonly reason?: string;
  readonly durationMs?: number;
  /** How many messages a `notification-dropped` record stands for. */
  readonly count?: number;
  /** The client's message for the trail (the Log operation): its text, never interpreted. */
  readonly clientMessage?: string;
  /** The outcome of an item answered Operation Pending earlier (run afterwards, polled for). */
  readonly asynchronous?: boolean;
}

export interface AuditSink {
  record(entry: AuditRecord): void;
  /** Unexpected internal errors: logged with their correlation id, never sent to the client. */
  internalError(correlationId: string, error: unknown): void;
  close(): Promise<void>;
  /** SIGHUP: closes the audit file and opens it again by name (logrotate renamed it); absent when there is no file. */
  reopen?(): Promise<void>;
}

/** winston's key for the formatted line of a log entry (triple-beam MESSAGE). */
const MESSAGE = Symbol.for('message');

/** Audit lines held while the disk refuses them; beyond this the oldest are dropped, and counted. */
const MAX_PENDING_CHARS = 64 * 1024 * 1024;

type LogInfo = winston.Logform.TransformableInfo & { [MESSAGE]?: string };

/** winston's Transport class (winston-transport); its typings export it in a form TS cannot extend. */
const TransportBase = (winston as unknown as { Transport: new () => Writable }).Transport;

/**
 * Appends formatted lines to the audit file, every line queued while one write is in flight going
 * out in the next single write. winston's File transport issues one write per line through a
 * stream; at ten thousand requests a second that costs more than the request itself, and the lines
 * waiting in its buffers are garbage the collector has to promote.
 */
class AuditFileTransport extends TransportBase {
  private queue: string[] = [];
  private queuedChars = 0;
  private dropped = 0;
  private writing = false;
  private failure: string | null = null;
  private idle: (() => void) | null = null;
  private fd: number;
  /** Descriptors replaced by reopen() while a write was in flight: closed once it finishes. */
  private retired: number[] = [];

  constructor(private readonly file: string) {
    super();
    // Owner-only: the audit trail names clients and objects.
    this.fd = fs.openSync(file, 'a', 0o600);
  }

  log(info: LogInfo, next: () => void): void {
    const line = info[MESSAGE];
    if (line !== undefined) this.enqueue(line);
    next();
  }

  private enqueue(line: string): void {
    this.queue.push(line);
    this.queuedChars += line.length + 1;
    while (this.queuedChars > MAX_PENDING_CHARS && this.queue.length > 1) {
      this.queuedChars -= (this.queue.shift() as string).length + 1;
      this.dropped += 1;
    }
    if (!this.writing) this.writeQueued();
  }

  private takeChunk(): string {
    if (this.dropped > 0) {
      this.queue.unshift(JSON.stringify({ level: 'error', message: 'audit records dropped while the audit file could not be written', count: this.dropped, timestamp: new Date().toISOString() }));
      this.dropped = 0;
    }
    const chunk = this.queue.join('\n') + '\n';
    this.queue = [];
    this.queuedChars = 0;
    return chunk;
  }

  private writeQueued(): void {
    for (const fd of this.retired.splice(0)) fs.closeSync(fd);
    if (this.queue.length === 0) {
      this.writing = false;
      this.idle?.();
      return;
    }
    this.writing = true;
    const chunk = this.takeChunk();
    const bytes = Buffer.from(chunk);
    // The chunk goes whole to the file it started in, even if reopen() swaps the file meanwhile.
    const fd = this.fd;
    const writeFrom = (offset: number): void => {
      fs.write(fd, bytes, offset, bytes.length - offset, null, (err, written) => {
        if (err) {
          // Disk full or gone: keep the lines (bounded) and try again with the next ones.
          if (this.failure !== err.message) process.stderr.write(`audit log: cannot write ${err.message}\n`);
          this.failure = err.message;
          this.queue.unshift(bytes.subarray(offset).toString().replace(/\n$/, ''));
          this.queuedChars += bytes.length - offset;
          setTimeout(() => this.writeQueued(), 100).unref();
          return;
        }
        this.failure = null;
        if (offset + written < bytes.length) writeFrom(offset + written);
        else this.writeQueued();
      });
    };
    writeFrom(0);
  }

  /** Opens the file by name again; lines queued from now on go to it. */
  reopen(): void {
    const fd = fs.openSync(this.file, 'a', 0o600);
    const old = this.fd;
    this.fd = fd;
    if (this.writing) this.retired.push(old);
    else fs.closeSync(old);
  }

  /** Writes what is queued and closes the file. */
  async closeFile(): Promise<void> {
    if (this.writing) await new Promise<void>((resolve) => (this.idle = resolve));
    if (this.queue.length > 0) fs.writeSync(this.fd, this.takeChunk());
    for (const fd of this.retired.splice(0)) fs.closeSync(fd);
    fs.closeSync(this.fd);
  }
}

/** One JSON object per line, built with JSON.stringify (entries hold plain strings and numbers). */
const jsonLine = winston.format((info: LogInfo) => {
  info.timestamp = new Date().toISOString();
  info[MESSAGE] = JSON.stringify(info);
  return info;
});

export function createAuditLog(opts: { file?: string; console?: boolean }): AuditSink {
  const transports: winston.transport[] = [];
  const file = opts.file ? new AuditFileTransport(opts.file) : null;
  if (file) transports.push(file as unknown as winston.transport);
  if (opts.console || transports.length === 0) transports.push(new winston.transports.Console());
  const logger = winston.createLogger({ level: 'info', format: jsonLine(), transports });
  return {
    record: (entry) => logger.info('audit', entry),
    internalError: (correlationId, error) =>
      logger.error('internal error', {
        correlationId,
        // The stack helps operators; messages from our own code hold no key material.
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      }),
    close: () =>
      new Promise<void>((resolve) => {
        logger.on('finish', () => resolve());
        logger.end();
      }).then(() => file?.closeFile()),
    ...(file ? { reopen: async () => file.reopen() } : {}),
  };
}

/** For tests and embedding: keeps records in memory. */
export class MemoryAuditSink implements AuditSink {
  readonly records: AuditRecord[] = [];
  readonly errors: { correlationId: string; error: unknown }[] = [];
  record(entry: AuditRecord): void {
    this.records.push(entry);
  }
  internalError(correlationId: string, error: unknown): void {
    this.errors.push({ correlationId, error });
  }
  async close(): Promise<void> {}
}
