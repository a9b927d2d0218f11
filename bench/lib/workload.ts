/**
 * Phases of a load run against any KMIP server: populate the keys a phase reads, then drive every
 * connection in a closed loop (send, wait for the answer, send again) until the phase's time or
 * request count is spent. Every loop is bounded in both.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { KmipConnection } from './connection';
import { RequestBuilder, summarise, type ResponseSummary } from './kmip';
import { LatencyRecorder, type LatencySummary } from './stats';
import { ProcessMonitor, type ProcessUsage } from './proc';

/** `firstget`: new keys, each read exactly once (a storage array or hypervisor fetching its keys at boot). */
export const PHASES = ['create', 'get', 'firstget', 'locate', 'getattrs', 'encrypt', 'lifecycle'] as const;
export type PhaseName = (typeof PHASES)[number];
/** Operations that can be mixed in one phase (lifecycle is a sequence, not one request). */
export const MIXABLE = ['create', 'get', 'locate', 'getattrs', 'encrypt'] as const;
export type MixableOp = (typeof MIXABLE)[number];

export interface Bound {
  /** Measured seconds. */
  readonly seconds: number;
  /** Stop after this many requests (whichever comes first). */
  readonly maxRequests: number;
  /** Unrecorded seconds first (first-touch writes, JIT, caches). */
  readonly warmupSeconds: number;
}

export interface KeyRef {
  readonly uid: string;
  readonly name: string;
}

/** Keys made for the read phases; Encrypt's are Active. */
export interface Pools {
  readonly keys: KeyRef[];
  readonly activeKeys: KeyRef[];
}

export interface PhaseResult {
  readonly label: string;
  readonly seconds: number;
  readonly connections: number;
  readonly ops: ReadonlyMap<string, LatencySummary>;
  /** Server process figures, when its pid is known. */
  readonly server?: ProcessUsage;
  /** CPU seconds the load generator itself used (it shares the machine). */
  readonly clientCpuSeconds: number;
  /** The measured window on CLOCK_MONOTONIC in µs, the clock V8 profiles are stamped with. */
  readonly window: { readonly startUs: number; readonly endUs: number };
}

const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

class FailedRequest extends Error {}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

function describe(r: ResponseSummary): string {
  return `reason ${r.reason ?? '?'}: ${(r.message ?? '').slice(0, 100)}`;
}

export class Workload {
  readonly builder: RequestBuilder;
  /** Distinguishes this run's names from earlier runs against the same store. */
  readonly runId = randomBytes(4).toString('hex');
  private nameCounter = 0;

  constructor(
    readonly connections: readonly KmipConnection[],
    version: { major: number; minor: number },
    private readonly serverPid?: number,
  ) {
    this.builder = new RequestBuilder(version);
  }

  newName(): string {
    return `bench-${this.runId}-${this.nameCounter++}`;
  }

  /** One timed request; a failure answer is counted and thrown so sequences stop. */
  private async call(
    conn: KmipConnection,
    rec: LatencyRecorder,
    bytes: Uint8Array,
    check?: (r: ResponseSummary) => string | undefined,
  ): Promise<ResponseSummary> {
    const t0 = performance.now();
    let answer: Uint8Array;
    try {
      answer = await conn.request(bytes);
    } catch (e) {
      rec.fail(`transport: ${(e as Error).message}`);
      throw new FailedRequest();
    }
    const ms = performance.now() - t0;
    const r = summarise(answer);
    const wrong = r.ok ? check?.(r) : describe(r);
    if (wrong !== undefined) {
      rec.fail(wrong);
      throw new FailedRequest();
    }
    rec.record(ms);
    return r;
  }

  /**
   * Creates `n` AES-256 keys (activated when `activate`), spread over the connections.
   * Fails if any Create fails: the read phases need every key.
   */
  async populate(n: number, activate: boolean, timeoutSeconds: number): Promise<KeyRef[]> {
    const out: KeyRef[] = [];
    const deadline = Date.now() + timeoutSeconds * 1000;
    const rec = new LatencyRecorder();
    let next = 0;
    await Promise.all(
      this.connections.map(async (conn) => {
        while (next < n && Date.now() < deadline && !conn.broken) {
          next++;
          const name = this.newName();
          try {
            const r = await this.call(conn, rec, this.builder.create(name));
            const uid = r.uids[0];
            if (uid === undefined) throw new Error('Create answered without a Unique Identifier');
            if (activate) await this.call(conn, rec, this.builder.activate(uid));
            out.push({ uid, name });
          } catch (e) {
            if (!(e instanceof FailedRequest)) throw e;
          }
        }
      }),
    );
    if (out.length < n) {
      throw new Error(`populating ${n} keys made ${out.length}: ${[...rec.failureKinds.keys()].join('; ') || 'timed out'}`);
    }
    return out;
  }

  /**
   * Gets every key once, unrecorded: a server may write on a key's first Get (KMIP's Fresh
   * attribute turns false), and the Get phase measures the steady state.
   */
  async touch(keys: readonly KeyRef[], timeoutSeconds: number): Promise<void> {
    const deadline = Date.now() + timeoutSeconds * 1000;
    const rec = new LatencyRecorder();
    let next = 0;
    await Promise.all(
      this.connections.map(async (conn) => {
        while (next < keys.length && Date.now() < deadline && !conn.broken) {
          const k = keys[next++]!;
          await this.call(conn, rec, this.builder.get(k.uid)).catch((e: unknown) => {
            if (!(e instanceof FailedRequest)) throw e;
          });
        }
      }),
    );
  }

  /** The step one connection repeats for an operation: issues its request(s) and records them. */
  private step(op: PhaseName, pools: Pools, recs: Map<string, LatencyRecorder>): (conn: KmipConnection) => Promise<number> {
    const rec = (name: string): LatencyRecorder => {
      let r = recs.get(name);
      if (!r) recs.set(name, (r = new LatencyRecorder()));
      return r;
    };
    const b = this.builder;
    const need = (xs: readonly KeyRef[]) => {
      if (xs.length === 0) throw new Error(`phase ${op} needs populated keys`);
      return xs;
    };
    switch (op) {
      case 'create':
        return async (c) => (await this.call(c, rec('create'), b.create(this.newName())), 1);
      case 'get': {
        const keys = need(pools.keys);
        return async (c) => (await this.call(c, rec('get'), b.get(pick(keys).uid)), 1);
      }
      case 'getattrs': {
        const keys = need(pools.keys);
        return async (c) => (await this.call(c, rec('getattrs'), b.getAttributes(pick(keys).uid)), 1);
      }
      case 'locate': {
        const keys = need(pools.keys);
        return async (c) => {
          const k = pick(keys);
          // A Locate that answers but misses the key is not a success.
          const missed = (r: ResponseSummary) => (r.uids.includes(k.uid) ? undefined : `Locate by Name missed the key (${r.uids.length} ids)`);
          await this.call(c, rec('locate'), b.locateByName(k.name), missed);
          return 1;
        };
      }
      case 'encrypt': {
        const keys = need(pools.activeKeys);
        const data = randomBytes(64);
        return async (c) => (await this.call(c, rec('encrypt'), b.encrypt(pick(keys).uid, data, randomBytes(12))), 1);
      }
      case 'firstget':
        // Each key once, not a step repeated for a time: see firstGets().
        throw new Error('firstget is a phase of its own, not an operation to repeat or mix');
      case 'lifecycle':
        // A fresh key each time, so the phase needs no pool sized to its unknown rate.
        return async (c) => {
          const r = await this.call(c, rec('create'), b.create(this.newName()));
          const uid = r.uids[0];
          if (uid === undefined) return 1;
          await this.call(c, rec('activate'), b.activate(uid));
          await this.call(c, rec('revoke'), b.revoke(uid));
          await this.call(c, rec('destroy'), b.destroy(uid));
          return 4;
        };
    }
  }

  /**
   * Runs `weights` (one operation, or a weighted mix) on every connection: a warm-up whose figures
   * are dropped, then the measured window.
   */
  async run(label: string, weights: ReadonlyArray<readonly [PhaseName, number]>, pools: Pools, bound: Bound): Promise<PhaseResult> {
    const loop = async (seconds: number, maxRequests: number, recs: Map<string, LatencyRecorder>): Promise<void> => {
      const steps = weights.map(([op, w]) => [this.step(op, pools, recs), w] as const);
      const total = steps.reduce((t, [, w]) => t + w, 0);
      const choose = () => {
        if (steps.length === 1) return steps[0]![0];
        let x = Math.random() * total;
        for (const [s, w] of steps) if ((x -= w) < 0) return s;
        return steps[steps.length - 1]![0];
      };
      const end = Date.now() + seconds * 1000;
      let issued = 0;
      await Promise.all(
        this.connections.map(async (conn) => {
          while (Date.now() < end && issued < maxRequests && !conn.broken) {
            try {
              issued += await choose()(conn);
            } catch (e) {
              if (!(e instanceof FailedRequest)) throw e;
              issued++;
            }
          }
        }),
      );
    };
    if (bound.warmupSeconds > 0) await loop(bound.warmupSeconds, bound.maxRequests, new Map());
    const recs = new Map<string, LatencyRecorder>();
    return this.measure(label, recs, () => loop(bound.seconds, bound.maxRequests, recs));
  }

  /**
   * The first Get of each of `keys`, exactly once, spread over the connections: the whole work of
   * a client fetching its keys at boot, where a server that writes on a key's first Get (Fresh)
   * pays for that write. `warmup` keys are read first, unrecorded (JIT, caches). The phase ends
   * when every key has been read, or at the time or request bound.
   */
  async firstGets(label: string, keys: readonly KeyRef[], warmup: readonly KeyRef[], bound: Bound): Promise<PhaseResult> {
    const once = async (list: readonly KeyRef[], seconds: number, rec: LatencyRecorder): Promise<void> => {
      const end = Date.now() + seconds * 1000;
      const count = Math.min(list.length, bound.maxRequests);
      let next = 0;
      await Promise.all(
        this.connections.map(async (conn) => {
          while (next < count && Date.now() < end && !conn.broken) {
            const k = list[next++]!;
            await this.call(conn, rec, this.builder.get(k.uid)).catch((e: unknown) => {
              if (!(e instanceof FailedRequest)) throw e;
            });
          }
        }),
      );
    };
    if (warmup.length > 0) await once(warmup, bound.seconds, new LatencyRecorder());
    const rec = new LatencyRecorder();
    return this.measure(label, new Map([['get', rec]]), () => once(keys, bound.seconds, rec));
  }

  /** Runs `work` as the measured window of a phase: ops/s and latencies, CPU of both sides. */
  private async measure(label: string, recs: ReadonlyMap<string, LatencyRecorder>, work: () => Promise<void>): Promise<PhaseResult> {
    const monitor = this.serverPid !== undefined ? new ProcessMonitor(this.serverPid) : undefined;
    const cpu0 = process.cpuUsage();
    const startUs = monotonicUs();
    const t0 = performance.now();
    await work();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const ops = new Map<string, LatencySummary>();
    for (const [name, r] of recs) ops.set(name, r.summary(seconds));
    return {
      label,
      seconds,
      connections: this.connections.filter((c) => !c.broken).length,
      ops,
      server: monitor?.stop(),
      clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
      window: { startUs, endUs: monotonicUs() },
    };
  }
}
