/**
 * Waiting for an event instead of sleeping: a test polls the condition it needs (an audit record
 * written, a socket closed, a service recovered) until it holds, within a bound generous enough for
 * a loaded 2-core machine. A sleep guesses how long the event takes; a loaded machine proves the
 * guess wrong (docs/testing.md).
 */

export interface WaitOptions {
  /** Give up after this long (default 20 s): a bound on a hang, not an expected duration. */
  readonly timeoutMs?: number;
  /** Pause between two polls (default 20 ms). */
  readonly intervalMs?: number;
}

/**
 * Polls `probe` until it returns a value other than undefined, null or false, and returns that value.
 * Fails naming `what` (a function: read at the failure, so it can tell how far things got) and the
 * last error `probe` threw, if any, when `timeoutMs` passes first.
 */
export async function waitFor<T>(
  what: string | (() => string),
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  options: WaitOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const intervalMs = options.intervalMs ?? 20;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      const why = lastError === undefined ? '' : ` (last attempt: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
