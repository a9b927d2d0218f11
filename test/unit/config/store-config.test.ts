/** `store`: the engine and its settings, each refusal naming its key and never showing a URL's password. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, DEFAULT_POSTGRES_POOL_SIZE, loadConfig, requireEmbeddedStore } from '../../../src/config';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-store-cfg-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function load(store: unknown) {
  const f = path.join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(f, JSON.stringify({ store }), { mode: 0o600 });
  return loadConfig({ configFile: f });
}

test('SQLite by default; postgres with its URL and pool size (default 10)', () => {
  expect(loadConfig({}).storeEngine).toEqual({ engine: 'sqlite' });
  expect(load({ path: 'x.db' }).storeEngine).toEqual({ engine: 'sqlite' });
  expect(load({ engine: 'postgres', url: 'postgresql://kmip@db.example:5432/keys' }).storeEngine).toEqual({
    engine: 'postgres',
    url: 'postgresql://kmip@db.example:5432/keys',
    poolSize: DEFAULT_POSTGRES_POOL_SIZE,
  });
  expect(load({ engine: 'postgres', url: 'postgres://db/keys', poolSize: 32 }).storeEngine).toMatchObject({ poolSize: 32 });
  // The other engine's settings may stay, engine said outright: a switch is one word.
  expect(load({ engine: 'sqlite', path: 'x.db', url: 'postgresql://db/keys', poolSize: 4 }).storeEngine).toEqual({ engine: 'sqlite' });
  expect(load({ engine: 'postgres', path: 'x.db', url: 'postgresql://db/keys' }).storeEngine).toMatchObject({ engine: 'postgres' });
  // libpq's several hosts: a primary and its standbys (store/postgres-hosts.ts).
  const hosts = 'postgresql://kmip@db1:5432,db2:5433/keys?target_session_attrs=read-write';
  expect(load({ engine: 'postgres', url: hosts }).storeEngine).toMatchObject({ engine: 'postgres', url: hosts });
});

test.each([
  [{ engine: 'postgres' }, 'store.url', 'is required'],
  [{ engine: 'mysql' }, 'store.engine', 'must be "sqlite" (default) or "postgres"'],
  [{ engine: 'postgres', url: 'mysql://db/keys' }, 'store.url', 'must be a postgresql:// URL'],
  [{ engine: 'postgres', url: 'not a url' }, 'store.url', 'is not a URL'],
  [{ engine: 'postgres', url: 'postgresql://u:pw-secret-x@db' }, 'store.url', 'must name a host and a database'],
  [{ engine: 'postgres', url: 'postgresql://u:pw-secret-x@db/keys', poolSize: 0 }, 'store.poolSize', 'must be a positive integer'],
  [{ engine: 'postgres', url: 'postgresql://db/keys', poolSize: 5000 }, 'store.poolSize', 'must be at most 1000'],
  [{ url: 'postgresql://db/keys' }, 'store.url', 'set store.engine to "postgres"'],
  [{ poolSize: 4 }, 'store.poolSize', 'set store.engine to "postgres"'],
  [{ engine: 'sqlite', url: 'mysql://db/keys' }, 'store.url', 'must be a postgresql:// URL'],
  [{ engine: 'postgres', url: 'postgresql://db/keys', pool: 4 }, 'store.pool', 'unknown key'],
  [{ engine: 'postgres', url: 'postgresql://u:pw-secret-x@db1:5432,/keys' }, 'store.url', 'is not a URL'],
])('bad store %j names %s', (store, key, words) => {
  let error: unknown;
  try {
    load(store);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).key).toBe(key);
  expect((error as ConfigError).message).toContain(words);
  expect((error as ConfigError).message).not.toContain('pw-secret-x');
});

test('the commands that open the store file themselves refuse the postgres engine in one line naming the command', () => {
  expect(() => requireEmbeddedStore(loadConfig({}), 'kmip-server backup')).not.toThrow();
  expect(() => requireEmbeddedStore(load({ engine: 'postgres', url: 'postgresql://db/keys' }), 'kmip-server kek rotate')).toThrow(
    'kmip-server kek rotate works on the embedded SQLite store only, and store.engine is "postgres"',
  );
});
