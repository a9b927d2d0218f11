/**
 * The audit port and its winston implementation: one JSON line per batch item and per rejected
 * connection. Records carry identifiers and outcomes, never key material or credentials: the
 * entry type has no field that could hold them.
 */
import winston from 'winston';

export interface AuditRecord {
  readonly event: 'operation' | 'connection-rejected' | 'message-rejected';
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
}

export interface AuditSink {
  record(entry: AuditRecord): void;
  /** Unexpected internal errors: logged with their correlation id, never sent to the client. */
  internalError(correlationId: string, error: unknown): void;
  close(): Promise<void>;
}

export function createAuditLog(opts: { file?: string; console?: boolean }): AuditSink {
  const transports: winston.transport[] = [];
  if (opts.file) transports.push(new winston.transports.File({ filename: opts.file }));
  if (opts.console || transports.length === 0) transports.push(new winston.transports.Console());
  const logger = winston.createLogger({
    level: 'info',
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports,
  });
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
      }),
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
