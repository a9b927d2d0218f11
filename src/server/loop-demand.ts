/**
 * What else this process's event loop may be asked to do: whether an audit batch can be synced on
 * the loop itself (audit/trail.ts `syncInline`) without delaying anyone.
 *
 * A sync on the thread pool costs two hand-offs between threads, more than the sync itself on a
 * fast disk, but leaves the loop free. That freedom is worth nothing when no request is being
 * handled and no client can send one: every connection is waiting for its answer, which waits for
 * this sync. Then the batch is synced on the loop (a lone client's answer comes about 0.1 ms
 * sooner); otherwise on the pool, so that requests arriving meanwhile are read and handled while it
 * runs. One event loop serves every listener of the process, so the counts are the process's.
 */

/** Requests between arrival and the encoding of their answer. */
let requestsInHand = 0;
/** Open connections whose client may send at any moment (none of its requests awaits an answer). */
let openForRequests = 0;

/** Runs one request's handling, counted as work the loop has. */
export async function handlingRequest<T>(work: () => Promise<T>): Promise<T> {
  requestsInHand++;
  try {
    return await work();
  } finally {
    requestsInHand--;
  }
}

/**
 * One connection's say in the count: `mayRequest(true)` while its client owes nothing to wait for
 * (it may send), `false` while it waits for an answer and once it is closed. Repeats are ignored.
 */
export function connectionDemand(): { mayRequest(may: boolean): void } {
  let counted = false;
  return {
    mayRequest(may: boolean): void {
      if (may === counted) return;
      counted = may;
      openForRequests += may ? 1 : -1;
    },
  };
}

/** True when the loop has nothing to do but wait for the audit sync: no request in hand, no client free to send. */
export function loopWaitsOnlyForAudit(): boolean {
  return requestsInHand === 0 && openForRequests === 0;
}
