/**
 * The route table: one handler per operation. An operation the table lacks, or one newer than the
 * client's protocol version, is Operation Not Supported (batch.ts).
 */
import type { OperationInfo } from '../spec/generated/operations';
import { operationInfo } from '../spec/registry';
import { operationHandlers } from '../ops';
import { isInRange, type ProtocolVersion } from '../spec/versions';
import type { OperationHandler } from '../objects/context';

export class OperationRegistry {
  private readonly handlers = new Map<number, OperationHandler>();

  /** `serverSends`: the server-to-client operations this server sends (notify/), offered by Query. */
  constructor(
    handlers: readonly OperationHandler[],
    private readonly serverSends: readonly number[] = [],
  ) {
    for (const h of handlers) {
      if (this.handlers.has(h.operation)) throw new Error(`two handlers for operation ${h.operation}`);
      this.handlers.set(h.operation, h);
    }
  }

  /** The handler when the operation exists in `v` (client to server) and is implemented. */
  lookup(op: number, v: ProtocolVersion): OperationHandler | undefined {
    const info = operationInfo(op);
    if (!info || !info.clientToServer || !isInRange(info.clientToServer, v)) return undefined;
    return this.handlers.get(op);
  }

  /**
   * What Query Operations lists before the response adapter keeps those a version has in either
   * direction: the operations clients may send us and the ones this server sends. For each
   * version this is offeredTo's list, since no operation here is handled in a version that has it
   * only server to client.
   */
  offered(): number[] {
    return [...new Set([...this.handlers.keys(), ...this.serverSends])].sort((a, b) => a - b);
  }

  /** Every implemented operation with its spec info (for the README support matrix). */
  implemented(): OperationInfo[] {
    return [...this.handlers.keys()]
      .map((op) => operationInfo(op))
      .filter((i): i is OperationInfo => i !== undefined)
      .sort((a, b) => a.value - b.value);
  }
}

/** The route table over every handler in ops/, Query answering from it. */
export function buildRegistry(serverSends: readonly number[]): OperationRegistry {
  const registry: OperationRegistry = new OperationRegistry(
    operationHandlers(() => registry.offered()),
    serverSends,
  );
  return registry;
}
