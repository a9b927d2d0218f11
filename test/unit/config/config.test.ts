import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config';

function withFile(json: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-cfg-'));
  const f = path.join(dir, 'config.json');
  fs.writeFileSync(f, typeof json === 'string' ? json : JSON.stringify(json));
  return f;
}

function errorKey(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).key;
  }
  throw new Error('no error');
}

test('defaults: 127.0.0.1:5696, ./data, embedded HSM and dev PKI', () => {
  const c = loadConfig({});
  expect([c.host, c.port]).toEqual(['127.0.0.1', 5696]);
  expect(c.dataDir).toBe(path.resolve('data'));
  expect(c.hsm).toBeNull();
  expect(c.tls).toBeNull();
  expect(c.storePath).toBe(path.resolve('data', 'kmip.sqlite'));
});

test('flags override the file', () => {
  const c = loadConfig({ configFile: withFile({ listen: '0.0.0.0:1234' }), listen: '127.0.0.1:7000' });
  expect(c.port).toBe(7000);
});

test.each([
  [{ listen: 'nope' }, 'listen'],
  [{ bogus: 1 }, 'bogus'],
  [{ limits: { maxMessageBytes: -1 } }, 'limits.maxMessageBytes'],
  [{ hsm: { module: '/x.so', tokenLabel: 't' } }, 'hsm.pinEnv'],
  [{ hsm: { module: '/x.so', tokenLabel: 't', pinEnv: 'P', pin: '1234' } }, 'hsm.pin'],
  [{ hsm: { module: '/x.so', tokenLabel: 't', pinEnv: 'P', callMode: 'threads' } }, 'hsm.callMode'],
  [{ tls: { cert: 'a' } }, 'tls.key'],
  [{ identityFrom: 'ou' }, 'identityFrom'],
  [{ adminIdentities: 'admin' }, 'adminIdentities'],
])('bad config %j names %s', (json, key) => {
  expect(errorKey(() => loadConfig({ configFile: withFile(json) }))).toBe(key);
});

test('hsm.callMode: async unless the file says sync', () => {
  const base = { module: '/x.so', tokenLabel: 't', pinEnv: 'P' };
  expect(loadConfig({ configFile: withFile({ hsm: base }) }).hsm?.callMode).toBe('async');
  expect(loadConfig({ configFile: withFile({ hsm: { ...base, callMode: 'sync' } }) }).hsm?.callMode).toBe('sync');
});

test('a file that is not JSON is one clear error', () => {
  expect(errorKey(() => loadConfig({ configFile: withFile('{nope') }))).toBe('--config');
});
