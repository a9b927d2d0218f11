/**
 * Sync vs async PKCS#11 calls against a throwaway SoftHSM2 token: ops/s of protect and unprotect
 * of a 32-byte key, and how long the event loop stalls meanwhile. Prints figures, asserts nothing.
 *
 *   node -r ./scripts/register-ts.js bench/hsm-bench.ts [seconds-per-case] [concurrency]
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { ProtectedMaterial } from '../src/keys/key-protector';
import { Pkcs11KeyProtector } from '../src/keys/pkcs11';
import { ensureSoftHsmToken, softHsmProtectorConfig } from '../src/keys/softhsm';

const seconds = Number(process.argv[2] ?? 3);
const concurrency = Number(process.argv[3] ?? 16);

interface Result {
  readonly opsPerSecond: number;
  /** Event-loop busy time per call (the loop's utilisation over the run, divided by calls). */
  readonly loopMicrosPerOp: number;
  /** Fraction of the run the event loop was busy. */
  readonly loopUtilisation: number;
  readonly delayP99Ms: number;
  readonly delayMaxMs: number;
}

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs `op` from `workers` concurrent loops for `seconds`. Each loop yields to the event loop
 * between calls, as a server does between requests arriving from sockets; otherwise a sync call
 * resolving at once would keep the loop in microtasks and starve timers for the whole run.
 */
async function measure(workers: number, op: () => Promise<unknown>): Promise<Result> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const end = Date.now() + seconds * 1000;
  let done = 0;
  const elu = performance.eventLoopUtilization();
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (Date.now() < end) {
        await op();
        done++;
        await yieldToLoop();
      }
    }),
  );
  histogram.disable();
  const used = performance.eventLoopUtilization(elu);
  return {
    opsPerSecond: Math.round(done / seconds),
    loopMicrosPerOp: (used.active * 1000) / Math.max(done, 1),
    loopUtilisation: used.utilization,
    delayP99Ms: histogram.percentile(99) / 1e6,
    delayMaxMs: histogram.max / 1e6,
  };
}

function row(mode: string, op: string, workers: number, r: Result): Record<string, string | number> {
  return {
    mode,
    op,
    concurrency: workers,
    'ops/s': r.opsPerSecond,
    'loop µs/op': r.loopMicrosPerOp.toFixed(1),
    'loop busy': `${Math.round(r.loopUtilisation * 100)}%`,
    'delay p99 ms': r.delayP99Ms.toFixed(2),
    'delay max ms': r.delayMaxMs.toFixed(2),
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kmip-hsm-bench-'));
  const rows: Array<Record<string, string | number>> = [];
  try {
    const token = ensureSoftHsmToken(dir, { label: 'bench' });
    const key = randomBytes(32);
    for (const callMode of ['sync', 'async'] as const) {
      const protector = await Pkcs11KeyProtector.open(softHsmProtectorConfig(token, 'bench-kek', { callMode, sessions: 4 }));
      try {
        const blob: ProtectedMaterial = await protector.protect('uid', key);
        for (const workers of [1, concurrency]) {
          rows.push(row(callMode, 'protect', workers, await measure(workers, () => protector.protect('uid', key))));
          const unprotect = async (): Promise<void> => {
            (await protector.unprotect('uid', blob)).fill(0);
          };
          rows.push(row(callMode, 'unprotect', workers, await measure(workers, unprotect)));
        }
      } finally {
        await protector.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`SoftHSM2, AES-256-GCM, 32-byte key, ${seconds}s per case, 4 sessions, UV_THREADPOOL_SIZE=${process.env['UV_THREADPOOL_SIZE'] ?? '4 (default)'}`);
  console.table(rows);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
