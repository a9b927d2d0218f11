import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config';
import { DEFAULT_CRYPTO_POLICY, LEGACY_CRYPTO_POLICY } from '../../../src/crypto/policy-profiles';

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
  [{ limits: { maxRsaModulusBits: 0 } }, 'limits.maxRsaModulusBits'],
  [{ hsm: { module: '/x.so', tokenLabel: 't' } }, 'hsm.pinEnv'],
  [{ hsm: { module: '/x.so', tokenLabel: 't', pinEnv: 'P', pin: '1234' } }, 'hsm.pin'],
  [{ hsm: { module: '/x.so', tokenLabel: 't', pinEnv: 'P', callMode: 'threads' } }, 'hsm.callMode'],
  [{ tls: { cert: 'a' } }, 'tls.key'],
  [{ identityFrom: 'ou' }, 'identityFrom'],
  [{ adminIdentities: 'admin' }, 'adminIdentities'],
  [{ workers: 0 }, 'workers'],
  [{ workers: 1.5 }, 'workers'],
  [{ workers: 'many' }, 'workers'],
  [{ workers: 65 }, 'workers'],
  [{ crypto: { allowLegacy: 'yes' } }, 'crypto.allowLegacy'],
  [{ crypto: { allowLegacy: 1 } }, 'crypto.allowLegacy'],
  [{ crypto: { allowOld: true } }, 'crypto.allowOld'],
  [{ crypto: true }, 'crypto'],
  [{ cryptoPolicy: 'strict' }, 'cryptoPolicy'],
  [{ cryptoPolicy: { profile: 'fips' } }, 'cryptoPolicy.profile'],
  [{ cryptoPolicy: { level: 3 } }, 'cryptoPolicy.level'],
  [{ cryptoPolicy: { profile: 'default', operations: {} } }, 'cryptoPolicy.operations'],
  [{ cryptoPolicy: { profile: 'custom', base: 'fips' } }, 'cryptoPolicy.base'],
  [{ cryptoPolicy: { profile: 'custom', operations: { Hash: {} } } }, 'cryptoPolicy.operations.Hash'],
  [{ cryptoPolicy: { profile: 'custom', operations: { Sign: { hashes: ['SHA-1', 'SHA-999'] } } } }, 'cryptoPolicy.operations.Sign.hashes[1]'],
  [{ cryptoPolicy: { profile: 'custom', operations: { Sign: { hashes: 'SHA-1' } } } }, 'cryptoPolicy.operations.Sign.hashes'],
  [{ cryptoPolicy: { profile: 'custom', operations: { Sign: { ciphers: [] } } } }, 'cryptoPolicy.operations.Sign.ciphers'],
  [{ cryptoPolicy: { profile: 'custom', operations: { Encrypt: { algorithms: { Rijndael: 'any' } } } } }, 'cryptoPolicy.operations.Encrypt.algorithms.Rijndael'],
  [{ cryptoPolicy: { profile: 'custom', operations: { Encrypt: { algorithms: { RSA: { minBits: -1 } } } } } }, 'cryptoPolicy.operations.Encrypt.algorithms.RSA.minBits'],
  [{ cryptoPolicy: { profile: 'custom', operations: { Encrypt: { algorithms: { RSA: 2048 } } } } }, 'cryptoPolicy.operations.Encrypt.algorithms.RSA'],
  [{ cryptoPolicy: { profile: 'custom', operations: { Encrypt: { modes: ['ECB', 7] } } } }, 'cryptoPolicy.operations.Encrypt.modes[1]'],
  [{ crypto: { allowLegacy: true }, cryptoPolicy: { profile: 'default' } }, 'crypto.allowLegacy'],
  [{ https: { listen: 'nope' } }, 'https.listen'],
  [{ https: { listen: '127.0.0.1:70000' } }, 'https.listen'],
  [{ https: {} }, 'https.listen'],
  [{ https: { listen: '127.0.0.1:5697', path: '/x' } }, 'https.path'],
  [{ https: '127.0.0.1:5697' }, 'https'],
  [{ listen: '127.0.0.1:5696', https: { listen: '127.0.0.1:5696' } }, 'https.listen'],
])('bad config %j names %s', (json, key) => {
  expect(errorKey(() => loadConfig({ configFile: withFile(json) }))).toBe(key);
});

test('https: off by default; https.listen from the file, --https-listen over it', () => {
  expect(loadConfig({}).https).toBeNull();
  const file = withFile({ https: { listen: '0.0.0.0:8443' } });
  expect(loadConfig({ configFile: file }).https).toEqual({ host: '0.0.0.0', port: 8443 });
  expect(loadConfig({ configFile: file, httpsListen: '127.0.0.1:9443' }).https).toEqual({ host: '127.0.0.1', port: 9443 });
  expect(errorKey(() => loadConfig({ httpsListen: 'x' }))).toBe('--https-listen');
  expect(() => loadConfig({ configFile: withFile({ https: { listen: 'nope' } }) })).toThrow('config: https.listen: "nope" is not HOST:PORT');
});

test('hsm.callMode: async unless the file says sync', () => {
  const base = { module: '/x.so', tokenLabel: 't', pinEnv: 'P' };
  expect(loadConfig({ configFile: withFile({ hsm: base }) }).hsm?.callMode).toBe('async');
  expect(loadConfig({ configFile: withFile({ hsm: { ...base, callMode: 'sync' } }) }).hsm?.callMode).toBe('sync');
});

test('workers: 1 by default, a count from the file or --workers, "auto" one per CPU', () => {
  expect(loadConfig({}).workers).toBe(1);
  expect(loadConfig({ configFile: withFile({ workers: 3 }) }).workers).toBe(3);
  expect(loadConfig({ configFile: withFile({ workers: 3 }), workers: '2' }).workers).toBe(2);
  expect(loadConfig({ workers: 'auto' }).workers).toBe(Math.min(os.availableParallelism(), 64));
  expect(errorKey(() => loadConfig({ workers: '0' }))).toBe('--workers');
});

test('a file that is not JSON is one clear error', () => {
  expect(errorKey(() => loadConfig({ configFile: withFile('{nope') }))).toBe('--config');
});

describe('notifications', () => {
  const alice = { identity: 'alice', address: 'alice.example:5697' };

  test('absent: no endpoints, and the default bounds', () => {
    expect(loadConfig({}).notifications).toEqual({
      endpoints: [],
      queueLimit: 1000,
      connectTimeoutMs: 10_000,
      answerTimeoutMs: 30_000,
      retryMaxMs: 60_000,
    });
  });

  test('endpoints: identity, host and port, protocol version 1.4 unless given; bounds from the file', () => {
    const c = loadConfig({
      configFile: withFile({
        notifications: {
          endpoints: [alice, { identity: 'bob', address: '[::1]:7000', protocolVersion: '2.1' }],
          queueLimit: 10,
          connectTimeoutMs: 500,
          answerTimeoutMs: 700,
          retryMaxMs: 900,
        },
      }),
    }).notifications;
    expect(c.endpoints).toEqual([
      { identity: 'alice', host: 'alice.example', port: 5697, protocolVersion: { major: 1, minor: 4 } },
      { identity: 'bob', host: '::1', port: 7000, protocolVersion: { major: 2, minor: 1 } },
    ]);
    expect([c.queueLimit, c.connectTimeoutMs, c.answerTimeoutMs, c.retryMaxMs]).toEqual([10, 500, 700, 900]);
  });

  test.each([
    [{ notifications: 'alice' }, 'notifications'],
    [{ notifications: { endpoint: [] } }, 'notifications.endpoint'],
    [{ notifications: { endpoints: alice } }, 'notifications.endpoints'],
    [{ notifications: { endpoints: ['alice'] } }, 'notifications.endpoints[0]'],
    [{ notifications: { endpoints: [{ address: 'h:1' }] } }, 'notifications.endpoints[0].identity'],
    [{ notifications: { endpoints: [{ ...alice, identity: '' }] } }, 'notifications.endpoints[0].identity'],
    [{ notifications: { endpoints: [{ identity: 'alice' }] } }, 'notifications.endpoints[0].address'],
    [{ notifications: { endpoints: [alice, { ...alice, address: 'nope' }] } }, 'notifications.endpoints[1].address'],
    [{ notifications: { endpoints: [{ ...alice, address: 'h:0' }] } }, 'notifications.endpoints[0].address'],
    [{ notifications: { endpoints: [{ ...alice, address: 'h:65536' }] } }, 'notifications.endpoints[0].address'],
    [{ notifications: { endpoints: [{ ...alice, protocolVersion: '1.5' }] } }, 'notifications.endpoints[0].protocolVersion'],
    [{ notifications: { endpoints: [{ ...alice, protocolVersion: '3.0' }] } }, 'notifications.endpoints[0].protocolVersion'],
    [{ notifications: { endpoints: [{ ...alice, protocolVersion: 1.4 }] } }, 'notifications.endpoints[0].protocolVersion'],
    [{ notifications: { endpoints: [{ ...alice, port: 5697 }] } }, 'notifications.endpoints[0].port'],
    [{ notifications: { endpoints: [alice, { ...alice, address: 'other:1' }] } }, 'notifications.endpoints[1].identity'],
    [{ notifications: { queueLimit: 0 } }, 'notifications.queueLimit'],
    [{ notifications: { connectTimeoutMs: -1 } }, 'notifications.connectTimeoutMs'],
    [{ notifications: { answerTimeoutMs: 1.5 } }, 'notifications.answerTimeoutMs'],
    [{ notifications: { retryMaxMs: '60s' } }, 'notifications.retryMaxMs'],
  ])('bad notifications config %j names %s', (json, key) => {
    expect(errorKey(() => loadConfig({ configFile: withFile(json) }))).toBe(key);
  });
});

test('crypto.allowLegacy: the default profile unless the file turns it on, then the legacy profile (its older name)', () => {
  expect(loadConfig({}).crypto).toBe(DEFAULT_CRYPTO_POLICY);
  expect(loadConfig({ configFile: withFile({ crypto: {} }) }).crypto).toBe(DEFAULT_CRYPTO_POLICY);
  expect(loadConfig({ configFile: withFile({ crypto: { allowLegacy: false } }) }).crypto).toBe(DEFAULT_CRYPTO_POLICY);
  expect(loadConfig({ configFile: withFile({ crypto: { allowLegacy: true } }) }).crypto).toBe(LEGACY_CRYPTO_POLICY);
  expect(loadConfig({ configFile: withFile({ crypto: { allowLegacy: true }, cryptoPolicy: { profile: 'legacy' } }) }).crypto).toBe(LEGACY_CRYPTO_POLICY);
});

test('limits.maxRsaModulusBits: 16,384 unless configured', () => {
  expect(loadConfig({}).maxRsaModulusBits).toBe(16_384);
  expect(loadConfig({ configFile: withFile({ limits: { maxRsaModulusBits: 8192 } }) }).maxRsaModulusBits).toBe(8192);
});
