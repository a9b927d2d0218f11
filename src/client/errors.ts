/**
 * The client's failures. A server's refusal is a KmipResultError carrying the Result Status,
 * Reason and Message it answered; a transport failure is a KmipConnectionError that says whether
 * the request may have reached the server, which decides whether it can be sent again.
 */
import { Operation, ResultReason, ResultStatus } from '../spec/generated/enums';

function nameOf(table: Readonly<Record<string, number>>, value: number | undefined): string | undefined {
  if (value === undefined) return undefined;
  for (const [name, v] of Object.entries(table)) if (v === value) return name;
  return `0x${value.toString(16).padStart(8, '0')}`;
}

export function operationName(operation: number): string {
  return nameOf(Operation, operation) ?? String(operation);
}

/** A batch item the server answered with a Result Status other than Success. */
export class KmipResultError extends Error {
  override readonly name = 'KmipResultError';
  constructor(
    readonly operation: number,
    /** Result Status: Operation Failed, Operation Pending or Operation Undone. */
    readonly status: number,
    /** Result Reason, when the server gave one. */
    readonly reason: number | undefined,
    /** Result Message, when the server gave one. */
    readonly resultMessage: string | undefined,
  ) {
    super(
      `${operationName(operation)} failed: ${nameOf(ResultStatus, status)}` +
        (reason === undefined ? '' : ` (${nameOf(ResultReason, reason)})`) +
        (resultMessage === undefined ? '' : `: ${resultMessage}`),
    );
  }

  /** The Result Reason's spec name without spaces (e.g. "ItemNotFound"), or undefined. */
  get reasonName(): string | undefined {
    return nameOf(ResultReason, this.reason);
  }

  get statusName(): string | undefined {
    return nameOf(ResultStatus, this.status);
  }
}

/**
 * No answer came. `requestMayHaveBeenProcessed`: the request was written before the connection
 * failed, so the server may have carried it out; a non-idempotent request (Create, Destroy, ...)
 * is then never sent again by the client, and the caller must find out what happened (Locate).
 */
export class KmipConnectionError extends Error {
  override readonly name = 'KmipConnectionError';
  constructor(
    message: string,
    readonly requestMayHaveBeenProcessed: boolean,
    /** The failures met on each server tried, in order ("host:port: cause"). */
    readonly attempts: readonly string[] = [],
  ) {
    super(message);
  }
}

/** The server's answer could not be read as a KMIP Response Message. */
export class KmipProtocolError extends Error {
  override readonly name = 'KmipProtocolError';
}
