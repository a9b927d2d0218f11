/**
 * The disk under the SQLite file fills up while clients write (a small tmpfs, real mTLS, real
 * SoftHSM2): every request gets an answer (General Failure naming the full disk, never a crash or
 * a dropped connection), nothing acknowledged is lost, nothing refused is stored, PRAGMA
 * integrity_check stays ok, reads go on, and once space is freed writes work again without a
 * restart.
 *
 * Needs `mount -t tmpfs` (root with CAP_SYS_ADMIN, as CI runs). Where mounting is not permitted the
 * tests are skipped and say why; under CI they fail instead (test/helpers/environment.ts).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { ResultReason, ResultStatus } from '../../../src/spec/generated/enums';
import { SqliteObjectStore } from '../../../src/store/sqlite';
import type { NewObject } from '../../../src/store/object-store';
import type { KeyProtector } from '../../../src/keys/key-protector';
import { openTestProtector } from '../../helpers/hsm';
import { probeError, requireEnvironment } from '../../helpers/environment';
import type { KmipTlsClient } from '../../helpers/tls-client';
import {
  Operation,
  call,
  createAesPayload,
  getPayload,
  inspectStore,
  keyMaterialOf,
  startFaultServer,
  uidOf,
  type FaultServer,
} from '../../helpers/fault-server';

/** Mounts a tmpfs of `size` at `dir`; the reason when that is not permitted here. */
function mountTmpfs(dir: string, size: string): string | undefined {
  return probeError(() => execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' }));
}

function unmount(dir: string): void {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
  }
}

const mountProbe = (() => {
  const probe = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-mount-probe-'));
  const why = mountTmpfs(probe, '64k');
  if (why === undefined) unmount(probe);
  fs.rmSync(probe, { recursive: true, force: true });
  return why;
})();
const whenMountable = requireEnvironment(
  'a tmpfs mount (root with CAP_SYS_ADMIN)',
  mountProbe === undefined ? undefined : `mount -t tmpfs: ${mountProbe}`,
).describe;

function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

whenMountable('disk full under a running server', () => {
  let root: string;
  let mnt: string;
  let keys: KeyProtector;
  let server: FaultServer;
  const filler = () => path.join(mnt, 'filler');

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-disk-full-'));
    mnt = path.join(root, 'mnt');
    fs.mkdirSync(mnt);
    const why = mountTmpfs(mnt, '8m');
    if (why !== undefined) throw new Error(`mount failed: ${why}`);
    keys = await openTestProtector();
    server = await startFaultServer({ pkiDir: path.join(root, 'pki'), dataDir: path.join(mnt, 'data'), keys });
  });

  afterAll(async () => {
    await server?.close();
    await keys?.close();
    if (mnt) unmount(mnt);
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** A Create carrying `padBytes` of custom attribute text, so the disk fills in a few hundred writes. */
  function padded(padBytes: number) {
    return createAesPayload(undefined, [{ name: 'x-pad', value: ttlv.textString(Tag.AttributeValue, randomBytes(padBytes / 2).toString('hex')) }]);
  }

  test('write load until the disk is full, then space freed: clear errors, nothing lost or half-written, writes resume', async () => {
    const acked: string[] = [];
    const failures: string[] = [];
    const unexpected: string[] = [];
    let requests = 0;
    const clients: KmipTlsClient[] = await Promise.all(Array.from({ length: 8 }, () => server.connect()));
    for (let i = 0; i < 5; i++) acked.push(uidOf(await call(clients[0]!, Operation.Create, padded(4_000))));
    // Retrieved once now (the first Get writes Fresh = false), so that reading it later is a pure read.
    const material = keyMaterialOf(await call(clients[0]!, Operation.Get, getPayload(acked[0]!)));
    // Someone else's files fill the disk but for its last MiB; freeing them later is how space
    // comes back. Our writers then fill the rest.
    fs.writeFileSync(filler(), Buffer.alloc(Math.max(0, freeBytes(mnt) - 1024 * 1024), 1));
    // Eight writers; two of them send larger objects.
    await Promise.all(
      clients.map(async (c, i) => {
        while (failures.length < 40 && requests < 3000) {
          requests++;
          const a = await call(c, Operation.Create, padded(i < 2 ? 20_000 : 4_000));
          if (a.status === ResultStatus.Success) acked.push(uidOf(a));
          else if (a.reason === ResultReason.GeneralFailure && /could not save the change \(the disk is full\)/.test(a.message ?? '')) failures.push(a.message!);
          else unexpected.push(`${a.reason}: ${a.message}`);
        }
      }),
    );
    expect(unexpected).toEqual([]);
    expect(failures.length).toBeGreaterThanOrEqual(40);
    expect(acked.length).toBeGreaterThan(5); // some of the load was written before the disk filled
    expect(freeBytes(mnt)).toBeLessThan(64 * 1024);

    // Full, but reads are served on the same connections, which all stayed open.
    for (const c of clients) expect((await call(c, Operation.Locate, [])).status).toBe(ResultStatus.Success);
    expect(keyMaterialOf(await call(clients[0]!, Operation.Get, getPayload(acked[0]!)))).toEqual(material);

    // What a restarted server would find: exactly the acknowledged objects, and a sound file.
    const full = inspectStore(server.dbPath);
    expect(full.integrity).toBe('ok');
    expect(new Set(full.uids)).toEqual(new Set(acked));
    expect(full.uids).toHaveLength(acked.length);

    // Each refusal is audited, its SQLite detail logged under its correlation id.
    const refused = server.audit.records.filter((r) => r.operation === 'Create' && r.resultReason === String(ResultReason.GeneralFailure));
    expect(refused.length).toBe(failures.length);
    expect(server.audit.errors.some((e) => /disk is full/.test(String(e.error)))).toBe(true);

    // Space comes back: writes work again, no restart.
    fs.rmSync(filler());
    const after: string[] = [];
    for (let i = 0; i < 20; i++) after.push(uidOf(await call(clients[i % clients.length]!, Operation.Create, padded(4_000))));
    for (const uid of [...acked, ...after]) {
      expect((await call(clients[0]!, Operation.Get, getPayload(uid))).status).toBe(ResultStatus.Success);
    }
    for (const c of clients) c.close();
    await server.close();
    const reopened = inspectStore(server.dbPath);
    expect(reopened.integrity).toBe('ok');
    expect(new Set(reopened.uids)).toEqual(new Set([...acked, ...after]));
  });
});

whenMountable('disk full in the middle of a commit group (store level)', () => {
  let mnt: string;
  beforeAll(() => {
    mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-disk-full-store-'));
    const why = mountTmpfs(mnt, '1m');
    if (why !== undefined) throw new Error(`mount failed: ${why}`);
  });
  afterAll(() => {
    if (mnt) unmount(mnt);
    fs.rmSync(mnt, { recursive: true, force: true });
  });

  function object(uid: string, padBytes: number): NewObject {
    return {
      uid,
      objectType: 2,
      state: 1,
      owner: 'alice',
      attributes: [{ name: 'x-pad', index: 0, value: ttlv.textString(Tag.AttributeValue, randomBytes(padBytes / 2).toString('hex')) }],
      protectedMaterial: null,
    };
  }

  test('a write that overflows the disk fails its whole group: no neighbour is committed behind a refusal', async () => {
    const store = new SqliteObjectStore({ path: path.join(mnt, 'store.sqlite') });
    try {
      // One event-loop turn, one transaction: ~24 MB of large writes overflow SQLite's page cache
      // (spilled to the WAL, which hits the full disk: SQLite rolls the whole transaction back
      // there and then), and small ones that would fit follow.
      const writes = [
        ...Array.from({ length: 40 }, (_, i) => ({ uid: `big-${i}`, pad: 200_000 })),
        ...Array.from({ length: 4 }, (_, i) => ({ uid: `small-${i}`, pad: 200 })),
      ];
      const outcomes = await Promise.all(
        writes.map((w) =>
          store.insert(object(w.uid, w.pad)).then(
            () => 'ok',
            (e: unknown) => (e instanceof Error ? e.message : String(e)),
          ),
        ),
      );
      const stored = inspectStore(path.join(mnt, 'store.sqlite'));
      expect(stored.integrity).toBe('ok');
      // Whatever the store says was written is there, and nothing it refused is.
      expect(stored.uids).toEqual(writes.filter((_, i) => outcomes[i] === 'ok').map((w) => w.uid));
      expect(outcomes.filter((o) => o !== 'ok').every((o) => /full/.test(o))).toBe(true);
      expect(outcomes.some((o) => o !== 'ok')).toBe(true);
      // And the store still works for what fits.
      await store.insert(object('after', 200));
      expect(inspectStore(path.join(mnt, 'store.sqlite')).uids).toContain('after');
    } finally {
      store.close();
    }
  });
});
