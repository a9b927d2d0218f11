/**
 * A short fuzz run in every test run (FUZZ_RUNS, default 2,000); `npm run fuzz` runs longer, bounded
 * by FUZZ_SECONDS.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createEmbeddedCore, type EmbeddedCore } from '../../src/embedded';
import { openTestProtector } from '../helpers/hsm';
import { withConformanceDir } from '../helpers/conformance';
import { corpusRequests, fuzzHandleMessage } from './fuzz-target';

withConformanceDir((conformanceDir) => {
  let dir: string;
  let embedded: EmbeddedCore;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-fuzz-'));
    embedded = await createEmbeddedCore(dir, { keys: await openTestProtector() });
  });

  afterAll(async () => {
    await embedded.close();
    await embedded.core.keys.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('mutated corpus requests always get a Response Message', async () => {
    const seeds = corpusRequests(conformanceDir);
    expect(seeds.length).toBeGreaterThan(1000);
    const runs = Number(process.env['FUZZ_RUNS'] ?? 2000);
    const seconds = process.env['FUZZ_SECONDS'] === undefined ? undefined : Number(process.env['FUZZ_SECONDS']);
    const started = Date.now();
    const stats = await fuzzHandleMessage(embedded.core, seeds, runs, seconds);
    // The figure `npm run fuzz` reports: executions, time, and the heap's peak.
    console.log(`fuzz: ${stats.executions} executions of handleMessage in ${((Date.now() - started) / 1000).toFixed(0)} s, ${stats.answered} answered, peak heap ${(stats.peakHeapBytes / 1e6).toFixed(0)} MB`);
    expect(stats.answered).toBe(stats.executions);
    // Every run asked for, or as many as the time allowed.
    if (seconds === undefined) expect(stats.executions).toBe(runs);
    else expect(stats.executions).toBeGreaterThan(0);
    // Bounded memory: a leak per input would pass this long before the end of a long run.
    expect(stats.peakHeapBytes).toBeLessThan(512 * 1024 * 1024);
    expect(await embedded.store.integrityCheck()).toBe('ok');
    // Unexpected internal errors would show here: the server must classify every bad input.
    const internal = (embedded.core.audit as { errors?: unknown[] }).errors ?? [];
    expect(internal).toEqual([]);
  }, (Number(process.env['FUZZ_SECONDS'] ?? 240) + 120) * 1000);
});
