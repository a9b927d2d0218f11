/**
 * `kek rotate` against a running server (real server process, real SoftHSM2 token, real SQLite
 * store) while a client keeps creating and reading objects: the server adopts the new KEK on the
 * SIGHUP the rotation sends (no restart), the rotation ends with exit 0 and nothing left under the
 * old KEK, every object reads back, objects made after the switch are under the new KEK, and the
 * old KEK can be retired at once. The same with `--workers 2` (the primary passes SIGHUP on).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { attribute, type KmipClient } from '../../../src/client';
import { CryptographicAlgorithm, ObjectType } from '../../../src/spec/generated/enums';
import { clientFor, comparable, jsonOut, runCli } from '../../helpers/custody';
import { startServerProcess, workerPids, type ServerProcess } from '../../helpers/server-process';

jest.setTimeout(300_000);

let root: string;
beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-kek-switch-'));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

interface KekRow {
  kekId: string;
  role: string;
  objects: number;
}

async function rotateWhileServing(workers: number): Promise<void> {
  const dataDir = path.join(root, `data-${workers}`);
  const server: ServerProcess = await startServerProcess({ dataDir, extraArgs: workers > 1 ? ['--workers', String(workers)] : [] });
  const client: KmipClient = clientFor(server);
  const kek = (...args: string[]) => runCli(['kek', ...args, '--data-dir', dataDir, '--json']);
  const status = async () => (jsonOut(await kek('status')) as unknown as { keks: KekRow[] }).keks;
  const originals = new Map<string, string>();
  const create = async () => {
    const m = await client.create(ObjectType.SymmetricKey, [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 256)]);
    originals.set(m.uniqueIdentifier, comparable((await client.get(m.uniqueIdentifier)).object));
    return m.uniqueIdentifier;
  };
  try {
    for (let i = 0; i < 60; i += 20) await Promise.all(Array.from({ length: 20 }, create));
    const pids = workers > 1 ? workerPids(server) : [server.child.pid!];
    expect(pids).toHaveLength(workers);
    // Each serving process records the KEK it wraps under, 0600.
    const records = fs.readdirSync(dataDir).filter((n) => /^kek-in-use\.\d+\.json$/.test(n));
    expect(records.sort()).toEqual(pids.map((p) => `kek-in-use.${p}.json`).sort());
    for (const r of records) expect(fs.statSync(path.join(dataDir, r)).mode & 0o777).toBe(0o600);
    const [before] = await status();
    const oldKek = before!.kekId;

    // A client creating and reading continuously, from before the rotation to after it.
    let serving = true;
    let made = 0;
    const load = (async () => {
      while (serving) {
        await create();
        const ids = [...originals.keys()];
        const id = ids[made % ids.length]!;
        expect(comparable((await client.get(id)).object)).toBe(originals.get(id));
        made++;
      }
    })();
    const rotated = await kek('rotate', '--batch', '20');
    const madeDuring = made;
    // Still creating a while after the switch: these must all land under the new KEK.
    await new Promise((r) => setTimeout(r, 1000));
    serving = false;
    await load;
    expect(rotated.stderr).toBe('');
    expect(rotated.code).toBe(0);
    const r = jsonOut(rotated);
    expect(r).toMatchObject({ fromKekId: oldKek, done: true, remaining: 0 });
    expect([...(r['serverSwitched'] as number[])].sort()).toEqual([...pids].sort());
    expect(madeDuring).toBeGreaterThan(0);
    expect(made).toBeGreaterThan(madeDuring);
    // Never restarted: the same processes serve.
    expect(workers > 1 ? workerPids(server).sort() : [server.child.pid]).toEqual([...pids].sort());

    const after = await status();
    expect(after.find((k) => k.kekId === oldKek)).toMatchObject({ role: 'earlier', objects: 0 });
    expect(after.find((k) => k.kekId === r['toKekId'])).toMatchObject({ role: 'current', objects: originals.size });
    for (const rec of fs.readdirSync(dataDir).filter((n) => n.startsWith('kek-in-use.'))) {
      expect(JSON.parse(fs.readFileSync(path.join(dataDir, rec), 'utf8'))).toMatchObject({ kekId: r['toKekId'] });
    }

    // Retired at once, no restart; the server keeps serving everything, old and new.
    const retired = await kek('retire', '--kek', oldKek);
    expect(retired.stderr).toBe('');
    expect(retired.code).toBe(0);
    await Promise.all(Array.from({ length: 10 }, create));
    const ids = [...originals.keys()];
    for (let i = 0; i < ids.length; i += 50) {
      const got = await Promise.all(ids.slice(i, i + 50).map((id) => client.get(id)));
      for (const g of got) expect(comparable(g.object)).toBe(originals.get(g.uniqueIdentifier));
    }
    expect((await status()).find((k) => k.role === 'current')).toMatchObject({ objects: originals.size });
  } finally {
    client.close();
    await server.stop();
  }
  // A clean stop leaves no record of a KEK in use.
  expect(fs.readdirSync(dataDir).filter((n) => n.startsWith('kek-in-use.'))).toEqual([]);
}

it('rotates under a serving server with a client creating and reading throughout: exit 0, no restart, retire at once', async () => {
  await rotateWhileServing(1);
});

it('does the same with --workers 2: every worker switches', async () => {
  await rotateWhileServing(2);
});

it('says in one line when the server holding the data dir does not switch in time, and a rerun with no server finishes', async () => {
  // The data dir of the first test, its server stopped; a node process that ignores SIGHUP holds the lock.
  const dataDir = path.join(root, 'data-1');
  const kek = (...args: string[]) => runCli(['kek', ...args, '--data-dir', dataDir, '--json']);
  const [current] = (jsonOut(await kek('status')) as unknown as { keks: KekRow[] }).keks.filter((k) => k.role === 'current');
  const stuck = spawn(process.execPath, ['-e', "process.on('SIGHUP', () => {}); setInterval(() => {}, 1000)"], { stdio: 'ignore' });
  try {
    const pid = stuck.pid!;
    fs.writeFileSync(path.join(dataDir, 'server.lock'), `${pid}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(dataDir, `kek-in-use.${pid}.json`), JSON.stringify({ pid, startedAt: Date.now(), kekId: current!.kekId, since: Date.now() }), { mode: 0o600 });
    const late = await kek('rotate', '--switch-timeout', '2');
    expect(late.code).toBe(1);
    expect(late.stderr.trim().split('\n')).toHaveLength(1);
    expect(late.stderr).toContain(`the running server (PID ${pid}) did not switch to KEK`);
    expect(late.stderr).toContain('within 2 s');
    // Retire refuses the KEK that process may still wrap under.
    const refused = await kek('retire', '--kek', current!.kekId);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/unfinished rotation|still wraps new objects/);
  } finally {
    stuck.kill('SIGKILL');
    await new Promise((r) => stuck.once('exit', r));
  }
  // No server runs now: the rotation resumes and finishes as before (nothing to signal).
  const finish = await kek('rotate');
  expect(finish.code).toBe(0);
  expect(jsonOut(finish)).toMatchObject({ fromKekId: current!.kekId, resumed: true, done: true, remaining: 0, serverSwitched: [] });
  const retired = await kek('retire', '--kek', current!.kekId);
  expect(retired.code).toBe(0);
});
