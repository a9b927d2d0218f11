/**
 * The audit chain continues: across a restart (and a crash that left an incomplete line), across
 * logrotate's rename and reopen(), and with two worker processes writing through the primary.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAuditLog } from '../../../src/audit/audit-log';
import { HEAD_FILE, lineHash } from '../../../src/audit/chain';
import { verifyAuditTrail } from '../../../src/audit/verify';
import { connectAdmin, startServerProcess } from '../../helpers/server-process';
import { openTestProtector } from '../../helpers/hsm';
import { fileLines, records, register, verify } from './helpers';

jest.setTimeout(300_000);

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-audit-chain-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

test('the chain continues across a crash and a restart; the incomplete line a crash can leave is kept and named', async () => {
  const auditFile = path.join(dir, 'audit.log');
  const first = await startServerProcess({ dataDir: dir });
  const c1 = await connectAdmin(first);
  const before = [await register(c1), await register(c1)];
  c1.close();
  expect(await first.stop('SIGKILL')).toBe('SIGKILL');
  const lastBefore = records(auditFile).at(-1)!.seq as number;

  // A write the crash cut short (as a power loss can leave it).
  const fragment = '{"seq":' + String(lastBefore + 1) + ',"prev":"00ab';
  fs.appendFileSync(auditFile, fragment);
  const cut = await verify(dir);
  expect(cut.code).toBe(1);
  expect(cut.stdout).toContain('the trail ends in the middle of a record');

  const second = await startServerProcess({ dataDir: dir });
  const c2 = await connectAdmin(second);
  const after = [await register(c2), await register(c2)];
  c2.close();
  expect(await second.stop()).toBe(0);

  const lines = fileLines(auditFile);
  const at = lines.indexOf(fragment);
  expect(at).toBeGreaterThan(0);
  const note = JSON.parse(lines[at + 1]!) as Record<string, unknown>;
  // The chain skips the fragment: the next line links to the last whole line before it.
  expect(note).toMatchObject({ seq: lastBefore + 1, prev: lineHash(lines[at - 1]!), tornBytes: Buffer.byteLength(fragment) });
  const all = lines.filter((_, i) => i !== at).map((l) => JSON.parse(l) as Record<string, unknown>);
  all.forEach((r, i) => expect(r.seq).toBe(i + 1));
  for (const uid of [...before, ...after]) expect(all.some((r) => r.operation === 'Register' && (r.uniqueIdentifiers as string[]).includes(uid))).toBe(true);

  const v = await verify(dir);
  expect(v.stderr).toContain(`${auditFile}:${at + 1}: an incomplete line (${Buffer.byteLength(fragment)} bytes) left by a write a crash cut short`);
  expect(v.stdout).toMatch(/^audit trail intact: /);
  expect(v.code).toBe(0);
});

test('logrotate renames the file, reopen() opens the name again: the old file ends with a checkpoint and the chain continues in the new one, also across a restart', async () => {
  const keys = await openTestProtector();
  try {
    const file = path.join(dir, 'audit.log');
    const headFile = path.join(dir, HEAD_FILE);
    const mac = (d: Uint8Array) => keys.auditMac(d);
    const open = () => createAuditLog({ file, headFile, mac, checkpointEvery: 1000, checkpointSeconds: 3600 });
    let audit = open();
    await audit.checkpoint('start');
    for (let i = 0; i < 10; i++) audit.record({ event: 'operation', correlationId: `a-${i}`, operation: 'Get', resultStatus: 'Success' });
    fs.renameSync(file, `${file}.1`);
    // Records after the rename and before reopen() still go to the renamed file (logrotate's window).
    audit.record({ event: 'operation', correlationId: 'in-the-window', operation: 'Get', resultStatus: 'Success' });
    await audit.reopen();
    for (let i = 0; i < 10; i++) audit.record({ event: 'operation', correlationId: `b-${i}`, operation: 'Get', resultStatus: 'Success' });
    await audit.durable();
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    await audit.close();

    // Rotated again while stopped: the next start continues from the head the data dir remembers.
    fs.renameSync(file, `${file}.2`);
    audit = open();
    await audit.checkpoint('start');
    audit.record({ event: 'operation', correlationId: 'c-0', operation: 'Get', resultStatus: 'Success' });
    await audit.close();

    const old = records(`${file}.1`);
    expect(old.at(-1)).toMatchObject({ event: 'checkpoint', reason: 'rotate' });
    expect(old.some((r) => r.correlationId === 'in-the-window')).toBe(true);
    const middle = fileLines(`${file}.2`);
    expect(JSON.parse(middle[0]!)).toMatchObject({ seq: (old.at(-1)!.seq as number) + 1, prev: lineHash(fileLines(`${file}.1`).at(-1)!) });
    expect(JSON.parse(fileLines(file)[0]!)).toMatchObject({ event: 'checkpoint', reason: 'start', prev: lineHash(middle.at(-1)!) });

    const verifyMac = (d: Uint8Array, m: Uint8Array) => keys.verifyAuditMac(d, m);
    const whole = await verifyAuditTrail({ files: [`${file}.1`, `${file}.2`, file], verifyMac });
    expect(whole).toMatchObject({ ok: true, records: 22, checkpoints: 5 });
    // The newest file alone verifies too, with a note on where it begins.
    const alone = await verifyAuditTrail({ files: [file], verifyMac });
    expect(alone.ok).toBe(true);
    expect(alone.warnings.join('\n')).toMatch(/begin at seq \d+/);
    // Files given out of order are not one trail.
    const swapped = await verifyAuditTrail({ files: [`${file}.2`, `${file}.1`, file], verifyMac });
    expect(swapped.ok).toBe(false);
  } finally {
    await keys.close();
  }
});

test('two worker processes write one chain through the primary; every acknowledged request has its record', async () => {
  const server = await startServerProcess({ dataDir: dir, extraArgs: ['--workers', '2'] });
  const acknowledged: string[] = [];
  try {
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        const c = await connectAdmin(server);
        for (let i = 0; i < 8; i++) acknowledged.push(await register(c));
        c.close();
      }),
    );
  } finally {
    expect(await server.stop()).toBe(0);
  }
  const all = records(path.join(dir, 'audit.log'));
  all.forEach((r, i) => expect(r.seq).toBe(i + 1));
  const recorded = new Set(all.filter((r) => r.operation === 'Register').flatMap((r) => r.uniqueIdentifiers as string[]));
  expect(acknowledged.filter((uid) => !recorded.has(uid))).toEqual([]);
  expect(acknowledged).toHaveLength(48);
  const v = await verify(dir);
  expect(v.stdout).toMatch(/^audit trail intact: /);
  expect(v.code).toBe(0);
});
