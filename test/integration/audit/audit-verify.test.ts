/**
 * `kmip-server audit verify` against trails the real server wrote (server process, SoftHSM2 token,
 * SQLite file): an intact trail verifies; an edited, deleted, swapped or cut record, a forged
 * checkpoint and records cut off the end are each refused, naming the first bad record.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectAdmin, startServerProcess } from '../../helpers/server-process';
import { fileLines, records, register, verify, writeLines } from './helpers';

jest.setTimeout(300_000);

let dataDir: string;
let auditFile: string;
let lines: string[];
let uids: string[];
let work: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-audit-'));
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-audit-copies-'));
  // Checkpoints every 5 lines: the trail has several, between records.
  const config = path.join(work, 'config.json');
  fs.writeFileSync(config, JSON.stringify({ audit: { checkpointEvery: 5 } }));
  const server = await startServerProcess({ dataDir, extraArgs: ['--config', config] });
  try {
    const c = await connectAdmin(server);
    uids = [];
    for (let i = 0; i < 24; i++) uids.push(await register(c));
    c.close();
  } finally {
    expect(await server.stop()).toBe(0);
  }
  auditFile = path.join(dataDir, 'audit.log');
  lines = fileLines(auditFile);
});

afterAll(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
  fs.rmSync(work, { recursive: true, force: true });
});

/** A copy of the trail, changed by `edit`, checked as a FILE argument. */
async function verifyCopy(name: string, edit: (lines: string[]) => string[] | string): Promise<{ code: number; stdout: string; file: string }> {
  const file = path.join(work, name);
  const edited = edit([...lines]);
  if (typeof edited === 'string') fs.writeFileSync(file, edited);
  else writeLines(file, edited);
  const v = await verify(dataDir, file);
  return { code: v.code, stdout: v.stdout, file };
}

/** The line number (1-based) of the Register record of the n-th registered key. */
function lineOfRegister(n: number): number {
  return lines.findIndex((l) => l.includes(`"uniqueIdentifiers":["${uids[n]}"]`) && l.includes('"operation":"Register"')) + 1;
}

test('the trail the server wrote verifies: every line chained, checkpoints between records and at stop, each acknowledged Register recorded', async () => {
  const all = records(auditFile);
  all.forEach((r, i) => {
    expect(r.seq).toBe(i + 1);
    expect(r.prev).toBe(i === 0 ? '0'.repeat(64) : createHash('sha256').update(lines[i - 1]!).digest('hex'));
  });
  const checkpoints = all.filter((r) => r.event === 'checkpoint');
  expect(checkpoints.map((r) => r.reason)).toEqual(expect.arrayContaining(['start', 'count', 'stop']));
  expect(all[all.length - 1]).toMatchObject({ event: 'checkpoint', reason: 'stop' });
  for (const uid of uids) expect(all.some((r) => r.operation === 'Register' && (r.uniqueIdentifiers as string[] | undefined)?.includes(uid))).toBe(true);
  // The fields the records always had are still there.
  expect(all.find((r) => r.operation === 'Register')).toMatchObject({ event: 'operation', level: 'info', message: 'audit', client: 'admin', resultStatus: 'Success' });

  const v = await verify(dataDir);
  expect(v.stdout).toMatch(new RegExp(`^audit trail intact: \\d+ records, ${checkpoints.length} checkpoints, last seq ${all.length} `));
  expect(v.code).toBe(0);
});

test('an edited record is named', async () => {
  const n = lineOfRegister(10);
  const other = randomBytes(16).toString('hex');
  const v = await verifyCopy('edited.log', (l) => {
    l[n - 1] = l[n - 1]!.replace(uids[10]!, other);
    return l;
  });
  expect(v.code).toBe(1);
  expect(v.stdout).toContain(`${v.file}:${n} (seq ${n}): does not match the hash the next record (seq ${n + 1}) chains to it: edited`);
});

test('a deleted record is named', async () => {
  const n = lineOfRegister(7);
  const v = await verifyCopy('deleted.log', (l) => l.filter((_, i) => i !== n - 1));
  expect(v.code).toBe(1);
  expect(v.stdout).toContain(`${v.file}:${n} (seq ${n + 1}): seq ${n} was expected here: record ${n} is missing`);
});

test('two swapped records are named', async () => {
  const n = lineOfRegister(12);
  const v = await verifyCopy('swapped.log', (l) => {
    [l[n - 1], l[n]] = [l[n]!, l[n - 1]!];
    return l;
  });
  expect(v.code).toBe(1);
  expect(v.stdout).toContain(`${v.file}:${n} (seq ${n + 1}): seq ${n} was expected here`);
});

test('a last record cut short is named', async () => {
  const v = await verifyCopy('cut.log', (l) => {
    const text = l.map((x) => `${x}\n`).join('');
    return text.slice(0, text.length - 40);
  });
  expect(v.code).toBe(1);
  expect(v.stdout).toContain(`${v.file}:${lines.length}: the trail ends in the middle of a record`);
});

test('a forged checkpoint: the chain recomputed over an edited record, with a MAC made without the HSM, is refused', async () => {
  const n = lineOfRegister(3);
  const v = await verifyCopy('forged.log', (l) => {
    l[n - 1] = l[n - 1]!.replace(uids[3]!, 'someone-elses-key');
    // The attacker recomputes every link after the edit and signs the checkpoints with a key of their own.
    for (let i = n; i < l.length; i++) {
      const r = JSON.parse(l[i]!) as Record<string, unknown>;
      r.prev = createHash('sha256').update(l[i - 1]!).digest('hex');
      if (r.event === 'checkpoint') r.mac = createHash('sha256').update(`attacker${i}`).digest('hex');
      l[i] = JSON.stringify(r);
    }
    return l;
  });
  const firstCheckpointAfter = lines.findIndex((x, i) => i >= n && x.includes('"event":"checkpoint"')) + 1;
  expect(v.code).toBe(1);
  expect(v.stdout).toContain(`${v.file}:${firstCheckpointAfter} (seq ${firstCheckpointAfter}): checkpoint MAC does not verify with the HSM's audit key`);
});

test('records cut off the end of the live file (whole lines, no checkpoint after the cut) are noticed', async () => {
  const copy = path.join(work, 'live-backup.log');
  fs.copyFileSync(auditFile, copy);
  try {
    writeLines(auditFile, lines.slice(0, lines.length - 3));
    const v = await verify(dataDir);
    expect(v.code).toBe(1);
    expect(v.stdout).toContain(`the trail ends at seq ${lines.length - 3}, but the server wrote and synced records up to seq ${lines.length}: records after it were cut off`);
  } finally {
    fs.copyFileSync(copy, auditFile);
  }
  expect((await verify(dataDir)).code).toBe(0);
});
