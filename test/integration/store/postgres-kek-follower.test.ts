/**
 * A node's process following the database's current KEK (server-kek.ts), with a real SoftHSM2 token
 * and a real database: at start it reports its KEK; a look (the timer's, or SIGHUP's through
 * reload) after `kek rotate` named another adopts it, so new blobs are made under it, and reports
 * that; a current KEK the token lacks leaves it on its KEK, reported and logged once; a clean
 * stop removes its report.
 */
import { randomBytes } from 'node:crypto';
import { requireEnvironment } from '../../helpers/environment';
import { freshDatabase, postgresForTests, postgresMissing } from '../../helpers/postgres';
import { makeTestToken } from '../../helpers/hsm';
import { KEK_LABEL } from '../../../src/embedded';
import { generateKek } from '../../../src/keys/kek';
import { MECHANISM_AES_GCM } from '../../../src/keys/key-protector';
import { Pkcs11KeyProtector } from '../../../src/keys/pkcs11';
import { softHsmProtectorConfig } from '../../../src/keys/softhsm';
import { CustodyToken, rotatedKekLabel } from '../../../src/custody/token';
import { PostgresObjectStore } from '../../../src/store/postgres-store';
import { KekFollower } from '../../../src/server-kek';

jest.setTimeout(120_000);

let pg: Awaited<ReturnType<typeof postgresForTests>> | undefined;
let store: PostgresObjectStore | undefined;
let keys: Pkcs11KeyProtector | undefined;

afterAll(async () => {
  await keys?.close();
  await store?.closeAsync();
  pg?.stop();
});

const pgTest = requireEnvironment('PostgreSQL (initdb, pg_ctl)', postgresMissing()).test;

pgTest('adopts the database\'s current KEK on a look, reports it, stays on its own when the token lacks the new one, forgets itself at stop', async () => {
  pg ??= await postgresForTests();
  store = await PostgresObjectStore.open({ url: await freshDatabase(pg.adminUrl), poolSize: 2 });
  const catalog = store.kekCatalog();
  const config = softHsmProtectorConfig(makeTestToken(), KEK_LABEL);
  keys = await Pkcs11KeyProtector.open(config);
  const first = keys.kekId;
  const second = randomBytes(16).toString('hex');
  const token = await CustodyToken.open(config);
  try {
    generateKek(token.lib, token.session, { label: rotatedKekLabel(KEK_LABEL, second), id: Buffer.from(second, 'hex'), mechanism: MECHANISM_AES_GCM, escrowable: false });
  } finally {
    await token.close();
  }
  const reported = async () => (await catalog.liveNodes(10_000)).map((n) => n.kekId);

  await catalog.nameCurrentIfUnset(first);
  const logs: Record<string, unknown>[] = [];
  const follower = new KekFollower(catalog, keys, (f) => logs.push(f));
  await follower.start();
  expect(await reported()).toEqual([first]);
  const before = await keys.protect('uid-before', Buffer.from('made under the first KEK'));

  // `kek rotate` names the second KEK: the next look adopts it.
  await catalog.switchCurrent(second, '{}');
  expect(await follower.check()).toEqual({ kekId: second, previous: first, changed: true });
  expect(keys.kekId).toBe(second);
  expect((await keys.protect('uid-after', Buffer.from('made under the second'))).kekId).toBe(second);
  expect((await keys.unprotect('uid-before', before)).toString()).toBe('made under the first KEK');
  expect(await reported()).toEqual([second]);
  expect(logs).toEqual([{ msg: 'kek', adopted: second, previous: first, source: 'database' }]);
  expect(await follower.check()).toEqual({ kekId: second, previous: second, changed: false });

  // A current KEK this token does not hold: the process stays on its KEK, says so once, and reports it.
  const absent = randomBytes(16).toString('hex');
  await catalog.switchCurrent(absent, '{}');
  await expect(follower.check()).rejects.toThrow(absent);
  await expect(follower.check()).rejects.toThrow(absent);
  expect(keys.kekId).toBe(second);
  expect(await reported()).toEqual([second]);
  expect(logs.slice(1)).toEqual([{ msg: 'kek', error: expect.stringMatching(new RegExp(`^cannot follow the database's current KEK \\(.*${absent}.*\\); new objects are still wrapped under KEK ${second}$`)) }]);

  await follower.close();
  expect(await reported()).toEqual([]);
});
