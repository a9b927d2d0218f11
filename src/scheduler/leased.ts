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
  private watchdog: NodeJS.Timeout | undefined;
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
    const asked = Date.now();
    let held: boolean;
    try {
      held = await this.lease.acquire();
      // Held until at least `asked` + ttl by the database's clock: stop before then unless renewed.
      if (held) this.armWatchdog(asked + this.ttlMs - this.renewMs - Date.now());
    } catch (e) {
      // Not renewed: the watchdog stops the scheduler before the lease can expire.
      held = this.scheduler !== undefined;
      this.log({ msg: 'scheduler', lease: 'not renewed', error: (e as Error).message });
    }
    if (this.closed) return;
    if (held && this.scheduler === undefined) {
      this.scheduler = this.start();
      this.log({ msg: 'scheduler', lease: 'taken', holder: this.lease.holder });
    } else if (!held) await this.stopScheduler();
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.tick = this.renew();
    }, this.renewMs);
    // The lease never keeps the process alive on its own.
    this.timer.unref();
  }

  /** A renewal stuck or failing (the database away, a statement hanging) must not outlive the lease. */
  private armWatchdog(inMs: number): void {
    if (this.watchdog) clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => void this.stopScheduler(), Math.max(0, inMs));
    this.watchdog.unref();
  }

  private async stopScheduler(): Promise<void> {
    const s = this.scheduler;
    if (s === undefined) return;
    this.scheduler = undefined;
    await s.close();
    this.log({ msg: 'scheduler', lease: 'lost', holder: this.lease.holder });
  }

  /** Stops the scheduler (a sweep under way finishes), then gives the lease up. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.watchdog) clearTimeout(this.watchdog);
    await this.tick?.catch(() => undefined);
    const had = this.scheduler !== undefined;
    await this.scheduler?.close();
    this.scheduler = undefined;
    if (had) await this.lease.release().catch(() => undefined);
    await this.lease.close().catch(() => undefined);
  }
}
