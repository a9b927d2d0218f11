/**
 * The audit file: one JSON object per line, in the order recorded, all of it on disk once the log
 * is closed, readable by its owner only.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAuditLog } from '../../../src/audit/audit-log';
import { AuditTrail } from '../../../src/audit/trail';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'audit-test-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function lines(file: string): Record<string, unknown>[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('records written across many event-loop turns arrive whole, once each and in order', async () => {
  const file = path.join(dir, 'audit.log');
  const audit = createAuditLog({ file });
  const count = 20_000;
  for (let i = 0; i < count; i++) {
    audit.record({ event: 'operation', correlationId: `c-${i}`, client: 'alice', operation: 'Get', uniqueIdentifiers: [`uid-${i}`], resultStatus: 'Success', durationMs: i / 10 });
    if (i % 97 === 0) await new Promise((r) => setImmediate(r));
  }
  await audit.close();
  const got = lines(file);
  expect(got).toHaveLength(count);
  got.forEach((entry, i) => {
    expect(entry).toMatchObject({ level: 'info', message: 'audit', event: 'operation', correlationId: `c-${i}`, uniqueIdentifiers: [`uid-${i}`] });
    expect(Number.isNaN(Date.parse(entry.timestamp as string))).toBe(false);
  });
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
});

test('an internal error is logged with its correlation id and stack, after the records before it', async () => {
  const file = path.join(dir, 'audit.log');
  const audit = createAuditLog({ file });
  audit.record({ event: 'connection-rejected', correlationId: 'first', peer: '127.0.0.1:1', reason: 'no certificate' });
  audit.internalError('second', new Error('boom'));
  await audit.close();
  const [a, b] = lines(file);
  expect(a).toMatchObject({ correlationId: 'first', event: 'connection-rejected' });
  expect(b).toMatchObject({ level: 'error', correlationId: 'second' });
  expect(String(b?.error)).toMatch(/^Error: boom\n\s+at /);
});

test('an existing audit file is appended to, not replaced', async () => {
  const file = path.join(dir, 'audit.log');
  fs.writeFileSync(file, '{"earlier":true}\n', { mode: 0o600 });
  const audit = createAuditLog({ file });
  audit.record({ event: 'operation', correlationId: 'later' });
  await audit.close();
  expect(lines(file).map((l) => l.earlier ?? l.correlationId)).toEqual([true, 'later']);
});

test('every line carries seq and prev, and a later log on the same file continues the chain', async () => {
  const file = path.join(dir, 'audit.log');
  for (const run of ['first', 'second']) {
    const audit = createAuditLog({ file });
    for (let i = 0; i < 3; i++) audit.record({ event: 'operation', correlationId: `${run}-${i}` });
    await audit.close();
  }
  const raw = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0);
  raw.forEach((line, i) => {
    expect(line.startsWith(`{"seq":${i + 1},"prev":"`)).toBe(true);
    const prev = i === 0 ? '0'.repeat(64) : createHash('sha256').update(raw[i - 1]!).digest('hex');
    expect(JSON.parse(line)).toMatchObject({ seq: i + 1, prev });
  });
  expect(raw).toHaveLength(6);
});

test('durable() resolves only once the records made before it are in the file', async () => {
  const file = path.join(dir, 'audit.log');
  const audit = createAuditLog({ file });
  for (let i = 0; i < 50; i++) {
    audit.record({ event: 'operation', correlationId: `d-${i}` });
    await audit.durable();
    expect(fs.readFileSync(file, 'utf8')).toContain(`"correlationId":"d-${i}"`);
  }
  await audit.close();
});

test('with nothing else to serve, a record is written and synced in the turn that batches it; under load every record still arrives whole and in order', async () => {
  const file = path.join(dir, 'audit.log');
  let asked = 0;
  const audit = createAuditLog({
    file,
    syncInline: () => {
      asked++;
      return true;
    },
  });
  let durable = false;
  audit.record({ event: 'operation', correlationId: 'lone' });
  void audit.durable().then(() => (durable = true));
  // The trail's batch was queued first in this check phase: by the next callback it is on disk.
  await new Promise((r) => setImmediate(r));
  expect(durable).toBe(true);
  expect(fs.readFileSync(file, 'utf8')).toContain('"correlationId":"lone"');
  expect(asked).toBe(1);
  const count = 5_000;
  for (let i = 0; i < count; i++) {
    audit.record({ event: 'operation', correlationId: `c-${i}` });
    if (i % 13 === 0) await new Promise((r) => setImmediate(r));
  }
  await audit.close();
  expect(lines(file).map((l) => l.correlationId)).toEqual(['lone', ...Array.from({ length: count }, (_, i) => `c-${i}`)]);
});

test('after a sync slower than the bound, the next batch syncs on the thread pool, so a stalling disk never blocks the event loop', async () => {
  const file = path.join(dir, 'audit.log');
  // A bound of 0 ms: every real sync exceeds it, so only the first batch may go on the loop.
  const trail = new AuditTrail({ file, headFile: null, syncInline: () => true, inlineSyncMaxMs: 0 });
  const onDiskWithinTheTurn = async (body: string): Promise<boolean> => {
    let durable = false;
    trail.append(body);
    void trail.durable().then(() => (durable = true));
    await new Promise((r) => setImmediate(r));
    const seen = durable;
    await trail.durable();
    return seen;
  };
  expect(await onDiskWithinTheTurn('{"n":1}')).toBe(true);
  expect(await onDiskWithinTheTurn('{"n":2}')).toBe(false);
  await trail.close();
  expect(lines(file).map((l) => l.n)).toEqual([1, 2]);
});
