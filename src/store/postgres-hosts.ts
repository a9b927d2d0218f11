/**
 * A PostgreSQL URL naming several hosts, as libpq writes it:
 * `postgresql://USER@h1:5432,h2:5432/DB?target_session_attrs=read-write`. node-postgres connects to
 * one host only, so the pool gets a client class that connects to the host in use and, when that
 * fails (or it is a standby while a read-write session is asked for), moves the next connection on
 * to the next host: after a standby is promoted, the nodes follow it without a restart.
 */
import { Client, type ClientConfig } from 'pg';
import type { HostList } from './postgres-url';

/** The client class for a pool over `list`: all its connections go to one host until it fails. */
export function failoverClient(list: HostList): typeof Client {
  let current = 0;
  return class FailoverClient extends Client {
    private readonly at: number;

    constructor(config?: string | ClientConfig) {
      const at = current;
      super({ ...(typeof config === 'object' ? config : {}), connectionString: list.urls[at] });
      this.at = at;
    }

    override connect(): Promise<Client>;
    override connect(callback: ((err: Error) => void) | ((err: null, c: Client) => void)): void;
    override connect(callback?: ((err: Error) => void) | ((err: null, c: Client) => void)): Promise<Client> | void {
      const done = this.connectChecked().then(() => this as Client, (e: unknown) => {
        // The next connection tries the next host (unless another client moved on already).
        if (current === this.at) current = (current + 1) % list.urls.length;
        throw e;
      });
      if (callback === undefined) return done;
      const cb = callback as (err: Error | null, c?: Client) => void;
      done.then((c) => cb(null, c), (e: Error) => cb(e));
    }

    private async connectChecked(): Promise<void> {
      await super.connect();
      if (!list.readWrite) return;
      const r = await this.query<{ transaction_read_only: string }>('SHOW transaction_read_only');
      if (r.rows[0]?.transaction_read_only !== 'off') {
        await this.end().catch(() => undefined);
        throw new Error(`host ${this.at + 1} of ${list.urls.length} is read-only (a standby), and target_session_attrs asks for read-write`);
      }
    }
  };
}
