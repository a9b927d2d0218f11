/**
 * The lifecycle scheduler's cost against a large store: how long the timer's look for the next
 * date takes (an index seek, whatever the store's size), and how fast a sweep moves objects whose
 * date has come (transitions/s, each a store write with its index entries). A real SQLite file in
 * a temp dir; objects without key material (the scheduler never touches it), so no HSM is needed.
 * Prints figures; asserts nothing.
 *
 *   node -r ./scripts/register-ts.js bench/scheduler-sweep.ts [--objects 100000] [--due 10000]
 *
 * --objects: objects in the store, each with an Activation Date (past: Active) and a Deactivation
 * Date; --due: how many of their Deactivation Dates the clock then passes at once.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ttlv } from '../ttlv/types';
import { Tag } from '../src/spec/generated/tags';
import { ObjectType, State } from '../src/spec/generated/enums';
import { SqliteObjectStore } from '../src/store/sqlite';
import { DueDates } from '../src/store/due-dates';
import { MemoryAuditSink } from '../src/audit/audit-log';
import { LifecycleScheduler, SCHEDULED_DATES } from '../src/scheduler/lifecycle-scheduler';
import type { NewObject } from '../src/store/object-store';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}

async function main(): Promise<void> {
  const objects = arg('objects', 100_000);
  const due = Math.min(arg('due', 10_000), objects);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-sched-bench-'));
  const storePath = path.join(dir, 'store.sqlite');
  const store = new SqliteObjectStore({ path: storePath });
  const start = 1_900_000_000n;
  try {
    const t0 = performance.now();
    for (let i = 0; i < objects; i += 1000) {
      const batch: { insert: NewObject }[] = [];
      for (let j = i; j < Math.min(objects, i + 1000); j++) {
        batch.push({
          insert: {
            uid: `bench-${j}`,
            objectType: ObjectType.SymmetricKey,
            state: State.Active,
            owner: 'bench',
            protectedMaterial: null,
            attributes: [
              { name: 'State', index: 0, value: ttlv.enumeration(Tag.State, State.Active) },
              { name: 'Activation Date', index: 0, value: ttlv.dateTime(Tag.ActivationDate, start - 1000n) },
              // The first `due` deactivate in the first 100 s after `start`; the rest far later.
              { name: 'Deactivation Date', index: 0, value: ttlv.dateTime(Tag.DeactivationDate, j < due ? start + BigInt(j % 100) : start + 1_000_000n + BigInt(j)) },
            ],
          },
        });
      }
      await store.writeBatch(batch);
    }
    const filled = performance.now() - t0;

    const dueDates = new DueDates(storePath);
    const seeks = 1000;
    const s0 = performance.now();
    for (let i = 0; i < seeks; i++) dueDates.nextAfter(SCHEDULED_DATES, start + BigInt(i % 100));
    const seekUs = ((performance.now() - s0) * 1000) / seeks;

    let nowMs = Number(start - 1n) * 1000;
    const audit = new MemoryAuditSink();
    const scheduler = new LifecycleScheduler({ store, dueDates, audit, clock: { now: () => nowMs }, recheckMs: 3_600_000 });
    // The catch-up sweep at start: every object's Activation Date is past, none moves.
    const c0 = performance.now();
    await scheduler.wake();
    const catchUpMs = performance.now() - c0;

    nowMs = Number(start + 100n) * 1000;
    const w0 = performance.now();
    const result = await scheduler.wake();
    const sweepMs = performance.now() - w0;
    await scheduler.close();

    console.log(
      JSON.stringify(
        {
          objects,
          fillSeconds: +(filled / 1000).toFixed(1),
          nextDueLookupMicroseconds: +seekUs.toFixed(1),
          catchUpSweepAtStartMs: Math.round(catchUpMs),
          dueAtOnce: due,
          transitions: result.transitions,
          sweepMs: Math.round(sweepMs),
          transitionsPerSecond: Math.round(result.transitions / (sweepMs / 1000)),
          auditRecords: audit.records.length,
        },
        null,
        2,
      ),
    );
  } finally {
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
