/**
 * A short fuzz run in every test run (FUZZ_RUNS, default 2,000); `npm run fuzz` runs longer.
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
    const stats = await fuzzHandleMessage(embedded.core, seeds, runs);
    expect(stats.answered).toBe(runs);
    expect(embedded.store.integrityCheck()).toBe('ok');
    // Unexpected internal errors would show here: the server must classify every bad input.
    const internal = (embedded.core.audit as { errors?: unknown[] }).errors ?? [];
    expect(internal).toEqual([]);
  }, 300_000);
});
