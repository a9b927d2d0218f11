/**
 * On PostgreSQL, which KEK a node wraps new objects under follows the database (table kek_current,
 * store/postgres-keks.ts): `kek rotate` names a new one there, and every node's processes switch to
 * it within KEK_FOLLOW_MS, or at once on SIGHUP, without a restart. Each process also says there,
 * at every look, which KEK it wraps under (its heartbeat): the rotation waits until every live
 * process has switched before its last re-wrap pass, and `kek retire` refuses a KEK a live process
 * still uses. A process wrapping under the old KEK for a moment is harmless: the re-wrap takes what
 * it made, and the old KEK stays on the token until no row names it.
 */
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { KeyProtector } from './keys/key-protector';
import { KEK_FOLLOW_MS, type PostgresKekCatalog } from './store/postgres-keks';

export interface KekSwitch {
  readonly kekId: string;
  readonly previous: string;
  readonly changed: boolean;
}

export class KekFollower {
  /** This process in table kek_nodes: host, PID and a random part (a PID is reused across hosts and restarts). */
  readonly node = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  private timer: NodeJS.Timeout | undefined;
  /** Looks run one at a time: a SIGHUP during a timed look waits for it. */
  private running: Promise<unknown> = Promise.resolve();
  private failing = false;
  private closed = false;

  constructor(
    private readonly catalog: PostgresKekCatalog,
    private readonly keys: KeyProtector,
    private readonly log: (fields: Record<string, unknown>) => void,
  ) {}

  /** Reports at once, then looks every KEK_FOLLOW_MS. */
  async start(): Promise<void> {
    await this.check().catch(() => undefined);
    this.timer = setInterval(() => void this.check().catch(() => undefined), KEK_FOLLOW_MS);
    this.timer.unref();
  }

  /**
   * Adopts the database's current KEK when it is not this process's, then reports the KEK in use.
   * Rejects when the database or the token cannot be reached (logged once until it works again).
   */
  check(): Promise<KekSwitch | undefined> {
    const next = this.running.then(() => this.look());
    this.running = next.catch(() => undefined);
    return next;
  }

  private async look(): Promise<KekSwitch | undefined> {
    if (this.closed) return undefined;
    try {
      // Reported before the database is read: a rotation that names a new KEK after this read
      // finds this report (the old KEK) and waits for the next one, so no process it misses can
      // still wrap under the old KEK. Reported again after a switch, and even when the switch
      // failed (the token lacks the new KEK): a process left on the old KEK keeps the rotation's
      // wait and `kek retire` back, naming itself.
      await this.catalog.report(this.node, this.keys.kekId);
      const named = await this.catalog.current();
      if (named === undefined || named.kekId === this.keys.kekId || !this.keys.adoptCurrentKek) {
        this.recovered();
        return { kekId: this.keys.kekId, previous: this.keys.kekId, changed: false };
      }
      let outcome: KekSwitch;
      try {
        outcome = await this.keys.adoptCurrentKek(named.kekId);
      } finally {
        await this.catalog.report(this.node, this.keys.kekId);
      }
      if (outcome.changed) this.log({ msg: 'kek', adopted: outcome.kekId, previous: outcome.previous, source: 'database' });
      this.recovered();
      return outcome;
    } catch (e) {
      if (!this.failing) this.log({ msg: 'kek', error: `cannot follow the database's current KEK (${(e as Error).message}); new objects are still wrapped under KEK ${this.keys.kekId}` });
      this.failing = true;
      throw e;
    }
  }

  private recovered(): void {
    if (this.failing) this.log({ msg: 'kek', note: 'following the database\'s current KEK again' });
    this.failing = false;
  }

  /** At a clean stop: no more looks, and this process no longer counts as wrapping under any KEK. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
    this.closed = true;
    await this.catalog.forget(this.node).catch(() => undefined);
  }
}
