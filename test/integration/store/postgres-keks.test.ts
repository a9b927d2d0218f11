/**
 * The KEK rows several PostgreSQL nodes share (store/postgres-keks.ts, migration 9), on a real
 * database: the first node's KEK is named current and a later one's is not; the switch moves the
 * current KEK and the rotation's state together; a re-wrapped row is written only at the revision
 * it was read at, and moves the revision on so a node's update computed before is refused; a
 * process's report counts as live only while it is fresh.
 */
import { randomBytes } from 'node:crypto';
import { requireEnvironment } from '../../helpers/environment';
import { freshDatabase, postgresForTests, postgresMissing } from '../../helpers/postgres';
import { PostgresObjectStore } from '../../../src/store/postgres-store';
import { PostgresKekCatalog } from '../../../src/store/postgres-keks';
import type { NewObject } from '../../../src/store/object-store';

jest.setTimeout(120_000);

let pg: Awaited<ReturnType<typeof postgresForTests>> | undefined;
let store: PostgresObjectStore | undefined;
let catalog: PostgresKekCatalog | undefined;

afterAll(async () => {
  await catalog?.close();
  await store?.closeAsync();
  pg?.stop();
});

const pgTest = requireEnvironment('PostgreSQL (initdb, pg_ctl)', postgresMissing()).test;

const blob = (kekId: string) => ({ kekId, mechanism: 'aes-gcm', iv: randomBytes(12), ciphertext: randomBytes(48) });

function object(uid: string, kekId: string): NewObject {
  return { uid, objectType: 2, state: 1, owner: 'alice', attributes: [], protectedMaterial: blob(kekId) };
}

pgTest('current KEK, switch, re-wrap at the read revision, live processes', async () => {
  pg ??= await postgresForTests();
  const url = await freshDatabase(pg.adminUrl);
  store = await PostgresObjectStore.open({ url, poolSize: 2 });
  catalog = PostgresKekCatalog.open(url);
  const nodeView = store.kekCatalog();

  // The first node names its KEK; a second node with another in mind takes the first one's.
  expect(await catalog.current()).toBeUndefined();
  expect(await nodeView.nameCurrentIfUnset('aa01')).toBe('aa01');
  expect(await nodeView.nameCurrentIfUnset('bb02')).toBe('aa01');

  // The switch: the current KEK and the rotation's state in one step.
  await catalog.saveRotationState('{"phase":"switch"}');
  await catalog.switchCurrent('bb02', '{"phase":"rewrap"}');
  expect((await nodeView.current())?.kekId).toBe('bb02');
  expect(await catalog.rotationState()).toBe('{"phase":"rewrap"}');

  for (let i = 0; i < 3; i++) await store.insert(object(`o${i}`, 'aa01'));
  await store.insert(object('o-new', 'bb02'));
  expect(await catalog.countUnderOthers('bb02')).toBe(3);
  expect(Object.fromEntries(await catalog.references())).toEqual({ aa01: { objects: 3, digests: 0 }, bb02: { objects: 1, digests: 0 } });

  const rows = await catalog.underOthers('bb02', '0', 2);
  expect(rows.map((r) => r.uid)).toEqual(['o0', 'o1']);
  // A node changes o1 after the rotation read it: o1 is left for the next pass, o0 is written.
  const o1 = (await store.get('o1'))!;
  await store.update('o1', { expectedRevision: o1.revision, state: 2 });
  const fresh = rows.map(() => blob('bb02'));
  const written = await catalog.writeRewrapped(rows.map((r, i) => ({ seq: r.seq, rev: r.rev, material: fresh[i]! })));
  expect(written).toBe(1);
  // The blob as given, byte for byte.
  expect((await store.get('o0'))!.protectedMaterial).toEqual({ ...fresh[0]!, iv: Buffer.from(fresh[0]!.iv), ciphertext: Buffer.from(fresh[0]!.ciphertext) });
  expect((await store.get('o1'))!.protectedMaterial!.kekId).toBe('aa01');
  expect((await catalog.underOthers('bb02', '0', 10)).map((r) => r.uid)).toEqual(['o1', 'o2']);

  // A node's update computed from o2 before its re-wrap is refused, and runs again on the new row.
  const o2 = (await store.get('o2'))!;
  const [again] = await catalog.underOthers('bb02', rows[1]!.seq, 10);
  expect(await catalog.writeRewrapped([{ seq: again!.seq, rev: again!.rev, material: blob('bb02') }])).toBe(1);
  await expect(store.update('o2', { expectedRevision: o2.revision, state: 2 })).rejects.toEqual(expect.objectContaining({ code: 'CONFLICT' }));

  // Processes' reports: fresh ones are live; a clean stop removes its row.
  await nodeView.report('node-a', 'bb02');
  await nodeView.report('node-b', 'aa01');
  expect((await catalog.liveNodes(10_000)).map((n) => [n.node, n.kekId])).toEqual([['node-a', 'bb02'], ['node-b', 'aa01']]);
  await new Promise((r) => setTimeout(r, 60));
  expect(await catalog.liveNodes(50)).toEqual([]);
  await nodeView.forget('node-b');
  expect((await catalog.liveNodes(10_000)).map((n) => n.node)).toEqual(['node-a']);

  // A destroyed object's sealed Digest alone: re-wrapped, its (absent) material left as it is.
  await store.insert({ ...object('d0', 'aa01'), protectedMaterial: null, sealedDigest: blob('aa01') });
  const [d0] = (await catalog.underOthers('bb02', '0', 10)).filter((r) => r.uid === 'd0');
  const digest = blob('bb02');
  expect(await catalog.writeRewrapped([{ seq: d0!.seq, rev: d0!.rev, digest }])).toBe(1);
  const after = (await store.get('d0'))!;
  expect(after.protectedMaterial).toBeNull();
  expect(after.sealedDigest).toEqual({ ...digest, iv: Buffer.from(digest.iv), ciphertext: Buffer.from(digest.ciphertext) });
  expect(Object.fromEntries(await catalog.references())).toEqual({ aa01: { objects: 1, digests: 0 }, bb02: { objects: 3, digests: 1 } });
});
