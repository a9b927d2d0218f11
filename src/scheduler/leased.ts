/**
 * The lifecycle scheduler on several nodes of one database: each node's scheduler process tries
 * the lease every `renewMs`; the one that holds it runs the scheduler, the others wait. A holder that
 * cannot renew (the database away) stops its scheduler before the lease can expire, so two nodes
 * never sweep at once; a holder that stops cleanly gives the lease up, and another node takes it at
 * its next try.
 */
import type { LifecycleScheduler } from './lifecycle-scheduler';

export interface Lease {
  readonly holder: string;
  /** Takes or renews it; true while held. */
  acquire(): Promise<boolean>;
  release(): Promise<void>;
  close(): Promise<void>;
}

export class LeasedScheduler {
  private scheduler: LifecycleScheduler | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastRenewed = 0;
  private closed = false;
  private tick: Promise<void> | undefined;

  constructor(
    private readonly lease: Lease,
    private readonly ttlMs: number,
    private readonly renewMs: number,
    private readonly start: () => LifecycleScheduler,
    private readonly log: (fields: Record<string, unknown>) => void,
  ) {}

  /** Whether this process runs the scheduler now. */
  get running(): boolean {
    return this.scheduler !== undefined;
  }

  begin(): void {
    this.tick = this.renew();
  }

  private async renew(): Promise<void> {
    let held = false;
    try {
      held = await this.lease.acquire();
      if (held) this.lastRenewed = Date.now();
    } catch (e) {
      // Not renewed: still ours until its expiry, by our reckoning; stop well before it.
      held = this.scheduler !== undefined && Date.now() - this.lastRenewed < this.ttlMs - this.renewMs;
      this.log({ msg: 'scheduler', lease: 'not renewed', error: (e as Error).message });
    }
    if (this.closed) return;
    if (held && this.scheduler === undefined) {
      this.scheduler = this.start();
      this.log({ msg: 'scheduler', lease: 'taken', holder: this.lease.holder });
    } else if (!held && this.scheduler !== undefined) {
      const s = this.scheduler;
      this.scheduler = undefined;
      await s.close();
      this.log({ msg: 'scheduler', lease: 'lost', holder: this.lease.holder });
    }
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.tick = this.renew();
    }, this.renewMs);
    // The lease never keeps the process alive on its own.
    this.timer.unref();
  }

  /** Stops the scheduler (a sweep under way finishes), then gives the lease up. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.tick?.catch(() => undefined);
    const had = this.scheduler !== undefined;
    await this.scheduler?.close();
    this.scheduler = undefined;
    if (had) await this.lease.release().catch(() => undefined);
    await this.lease.close().catch(() => undefined);
  }
}
