/**
 * A bounded pool of channels over an ordered server list. Requests take an idle channel or open
 * one, on the current server; a server that cannot be reached (refused, handshake failed, timed
 * out) passes the turn to the next one in the list, and the pool stays with the server that
 * answered. A request whose connection failed after it was written is sent again only when the
 * caller says it is idempotent: the server may have carried it out.
 */
import { KmipConnectionError } from './errors';
import { serverLabel, type KmipChannel, type ServerAddress } from './transport';

export interface PoolOptions {
  /** Connections open at once, over all servers. */
  readonly maxConnections: number;
  /** Idle connections kept for reuse. */
  readonly maxIdle: number;
}

export type ChannelOpener = (server: ServerAddress) => Promise<KmipChannel>;

export class ConnectionPool {
  private readonly idle: KmipChannel[] = [];
  private open = 0;
  private readonly queue: (() => void)[] = [];
  /** Index of the server new connections go to. */
  private current = 0;
  private closed = false;

  constructor(
    private readonly servers: readonly ServerAddress[],
    private readonly opener: ChannelOpener,
    private readonly opts: PoolOptions,
  ) {
    if (servers.length === 0) throw new Error('no KMIP server given');
    if (opts.maxConnections < 1) throw new Error('maxConnections must be at least 1');
  }

  /** The server new connections go to now. */
  get currentServer(): ServerAddress {
    return this.servers[this.current]!;
  }

  /** Idle and busy connections still open (idle ones the server has closed are let go first). */
  get openConnections(): number {
    for (const c of this.idle.filter((c) => c.broken)) {
      this.idle.splice(this.idle.indexOf(c), 1);
      this.discard(c);
    }
    return this.open;
  }

  /**
   * Sends one message and returns the answer. A failure before the request was written moves on
   * (next idle connection, next server); after, only an idempotent request is sent again.
   */
  async request(message: Uint8Array, idempotent: boolean): Promise<Uint8Array> {
    const attempts: string[] = [];
    // Each server once for a fresh connection, plus the idle connections that may have gone stale.
    for (let tries = 0; tries < this.servers.length + this.opts.maxIdle + 1; tries++) {
      const channel = await this.acquire(attempts);
      try {
        const answer = await channel.request(message);
        this.release(channel);
        return answer;
      } catch (e) {
        this.release(channel);
        const err = e instanceof KmipConnectionError ? e : new KmipConnectionError((e as Error).message, true);
        attempts.push(...(err.attempts.length > 0 ? err.attempts : [err.message]));
        if (err.requestMayHaveBeenProcessed && !idempotent) {
          throw new KmipConnectionError(`${err.message}; not sent again, the server may have carried it out`, true, attempts);
        }
        // The server this channel reached failed us: new connections try the next one.
        if (this.servers[this.current] === channel.server) this.advance();
      }
    }
    throw new KmipConnectionError(`no KMIP server answered: ${attempts.join('; ')}`, false, attempts);
  }

  close(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.close();
    for (const wake of this.queue.splice(0)) wake();
  }

  private advance(): void {
    this.current = (this.current + 1) % this.servers.length;
  }

  private async acquire(attempts: string[]): Promise<KmipChannel> {
    for (;;) {
      if (this.closed) throw new KmipConnectionError('the client is closed', false, attempts);
      const reused = this.idle.pop();
      if (reused !== undefined) {
        if (!reused.broken) return reused;
        this.discard(reused);
        continue;
      }
      if (this.open < this.opts.maxConnections) return this.connect(attempts);
      await new Promise<void>((resolve) => this.queue.push(resolve));
    }
  }

  /** A new connection, from the current server on around the list; each one tried once. */
  private async connect(attempts: string[]): Promise<KmipChannel> {
    this.open++;
    try {
      for (let i = 0; i < this.servers.length; i++) {
        const server = this.servers[this.current]!;
        try {
          return await this.opener(server);
        } catch (e) {
          attempts.push(e instanceof KmipConnectionError && e.attempts.length > 0 ? e.attempts.join('; ') : `${serverLabel(server)}: ${(e as Error).message}`);
          if (this.servers[this.current] === server) this.advance();
        }
      }
    } catch (e) {
      this.open--;
      this.wakeOne();
      throw e;
    }
    this.open--;
    this.wakeOne();
    throw new KmipConnectionError(`no KMIP server could be reached: ${attempts.join('; ')}`, false, attempts);
  }

  private release(channel: KmipChannel): void {
    if (channel.broken || this.closed || this.idle.length >= this.opts.maxIdle) {
      this.discard(channel);
      return;
    }
    this.idle.push(channel);
    this.wakeOne();
  }

  private discard(channel: KmipChannel): void {
    channel.close();
    this.open--;
    this.wakeOne();
  }

  private wakeOne(): void {
    this.queue.shift()?.();
  }
}
