/**
 * The route table: one handler per operation. An operation the table lacks, or one newer than the
 * client's protocol version, is Operation Not Supported (batch.ts).
 */
import type { TtlvItem, TtlvStructure } from '../../ttlv/types';
import { OPERATIONS, type OperationInfo } from '../spec/generated/operations';
import { isInRange, type ProtocolVersion } from '../spec/versions';
import type { OpContext } from './context';

export interface OperationHandler {
  /** Operation enumeration value. */
  readonly operation: number;
  /** Runs the operation; returns the Response Payload's children. */
  handle(payload: TtlvStructure, ctx: OpContext): Promise<TtlvItem[]>;
}

const OPERATION_INFO = new Map<number, OperationInfo>(OPERATIONS.map((o) => [o.value, o]));

export function operationInfo(op: number): OperationInfo | undefined {
  return OPERATION_INFO.get(op);
}

export class OperationRegistry {
  private readonly handlers = new Map<number, OperationHandler>();

  constructor(handlers: readonly OperationHandler[]) {
    for (const h of handlers) {
      if (this.handlers.has(h.operation)) throw new Error(`two handlers for operation ${h.operation}`);
      this.handlers.set(h.operation, h);
    }
  }

  /** The handler when the operation exists in `v` (client to server) and is implemented. */
  lookup(op: number, v: ProtocolVersion): OperationHandler | undefined {
    const info = OPERATION_INFO.get(op);
    if (!info || !info.clientToServer || !isInRange(info.clientToServer, v)) return undefined;
    return this.handlers.get(op);
  }

  /** Operations offered to a client of version `v` (Query Operations). */
  operationsFor(v: ProtocolVersion): number[] {
    return [...this.handlers.keys()].filter((op) => this.lookup(op, v) !== undefined).sort((a, b) => a - b);
  }

  /** Every implemented operation with its spec info (for the README support matrix). */
  implemented(): OperationInfo[] {
    return [...this.handlers.keys()]
      .map((op) => OPERATION_INFO.get(op))
      .filter((i): i is OperationInfo => i !== undefined)
      .sort((a, b) => a.value - b.value);
  }
}
