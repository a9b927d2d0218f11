/**
 * --pykmip-config: pykmip-server's server.conf read as Python's configparser reads it, checked as
 * pykmip-server checks it, and mapped onto this server's configuration.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config';
import { parseIni } from '../../../src/compat/pykmip-config';
import { hashPassword } from '../../../src/server/credentials';
import fc from 'fast-check';

// Made when the file loads: the test.each tables below name files in it.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-pykmipcfg-'));
// The files only have to exist for the configuration to be read (the interop test uses real ones).
for (const f of ['server.crt', 'server.key', 'ca.crt']) fs.writeFileSync(path.join(dir, f), 'placeholder');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function conf(text: string): string {
  const f = path.join(dir, `server-${Math.random().toString(36).slice(2)}.conf`);
  fs.writeFileSync(f, text);
  return f;
}

function serverSection(extra: Record<string, string | undefined> = {}): string {
  const settings: Record<string, string | undefined> = {
    hostname: '127.0.0.1',
    port: '5696',
    certificate_path: path.join(dir, 'server.crt'),
    key_path: path.join(dir, 'server.key'),
    ca_path: path.join(dir, 'ca.crt'),
    auth_suite: 'TLS1.2',
    ...extra,
  };
  return ['[server]', ...Object.entries(settings).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`)].join('\n') + '\n';
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('no error');
}

test('PyKMIP\'s sample server.conf maps onto listen, TLS files, the pykmip profile and no administrators', () => {
  const file = conf(
    serverSection({
      hostname: '0.0.0.0',
      port: '5697',
      policy_path: '/etc/pykmip/policies',
      enable_tls_client_auth: 'False',
      tls_cipher_suites: '\n    TLS_RSA_WITH_AES_128_CBC_SHA256\n    TLS_RSA_WITH_AES_256_CBC_SHA256\n    TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384',
      logging_level: 'DEBUG',
      database_path: '/tmp/pykmip.db',
    }),
  );
  const c = loadConfig({ pykmipConfigFile: file });
  expect([c.host, c.port]).toEqual(['0.0.0.0', 5697]);
  expect(c.tls).toEqual({ cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key'), ca: path.join(dir, 'ca.crt') });
  expect(c.tlsCiphers).toBe('AES128-SHA256:AES256-SHA256:ECDHE-ECDSA-AES256-SHA384');
  expect(c.requireClientAuthEku).toBe(false);
  expect(c.compat).toBe('pykmip');
  expect(c.adminIdentities).toEqual([]);
  // database_path never becomes our store: pykmip-server's SQLite file has another schema.
  expect(c.storePath).toBe(path.resolve('data', 'kmip.sqlite'));
  const notes = c.notices.join('\n');
  for (const k of ['policy_path: no equivalent', 'database_path: no equivalent', 'logging_level: no equivalent', 'enable_tls_client_auth: False', 'TLS 1.3 is off']) {
    expect(notes).toContain(k);
  }
});

test('enable_tls_client_auth defaults to True (EKU clientAuth required), as in pykmip-server', () => {
  const c = loadConfig({ pykmipConfigFile: conf(serverSection()) });
  expect(c.requireClientAuthEku).toBe(true);
  expect(c.tlsCiphers).toBeUndefined();
});

test('cipher suites: OpenSSL names, commas, TLS 1.3 names; unusable suites left out with a notice', () => {
  const c = loadConfig({
    pykmipConfigFile: conf(serverSection({ tls_cipher_suites: 'ECDHE-RSA-AES128-GCM-SHA256, TLS_AES_256_GCM_SHA384 TLS_PSK_WITH_AES_128_CBC_SHA' })),
  });
  expect(c.tlsCiphers).toBe('ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_256_GCM_SHA384');
  expect(c.notices.join('\n')).toContain('TLS_PSK_WITH_AES_128_CBC_SHA cannot be used here');
});

test('command-line --listen and the JSON config\'s compat and adminIdentities still apply', () => {
  const json = path.join(dir, 'extra.json');
  fs.writeFileSync(json, JSON.stringify({ compat: 'none', adminIdentities: ['ops'] }));
  const c = loadConfig({ pykmipConfigFile: conf(serverSection()), configFile: json, listen: '127.0.0.1:7001' });
  expect([c.host, c.port, c.compat, c.adminIdentities]).toEqual(['127.0.0.1', 7001, 'none', ['ops']]);
});

test('INI as configparser reads it: comments, ":" separators, case, continuation, [DEFAULT], interpolation', () => {
  const ini = parseIni(
    [
      '# comment',
      '[DEFAULT]',
      'base = /etc/pykmip',
      '[server]',
      '; another comment',
      'HostName : 10.0.0.1',
      'certificate_path = %(base)s/certs/server.crt',
      'percent = 100%%',
      'tls_cipher_suites =',
      '    A',
      '    B',
      '',
      '[auth:slugs]',
      'enabled = False',
    ].join('\n'),
    'f.conf',
  );
  const server = ini.get('server')!;
  expect(server.get('hostname')).toBe('10.0.0.1');
  expect(server.get('certificate_path')).toBe('/etc/pykmip/certs/server.crt');
  expect(server.get('percent')).toBe('100%');
  expect(server.get('tls_cipher_suites')).toBe('\nA\nB');
  expect(ini.get('auth:slugs')!.get('enabled')).toBe('False');
});

test.each([
  ['no [server] section', 'FILE', '[other]\nx=1\n'],
  ['a setting pykmip-server does not know', '[server] verbose', serverSection({ verbose: 'yes' })],
  ['hostname missing', '[server] hostname', serverSection({ hostname: undefined })],
  ['port missing', '[server] port', serverSection({ port: undefined })],
  ['certificate_path missing', '[server] certificate_path', serverSection({ certificate_path: undefined })],
  ['key_path missing', '[server] key_path', serverSection({ key_path: undefined })],
  ['ca_path missing', '[server] ca_path', serverSection({ ca_path: undefined })],
  ['auth_suite missing', '[server] auth_suite', serverSection({ auth_suite: undefined })],
  ['port not a number', '[server] port', serverSection({ port: 'kmip' })],
  ['port out of range', '[server] port', serverSection({ port: '70000' })],
  ['certificate file absent', '[server] certificate_path', serverSection({ certificate_path: '/nonexistent/server.crt' })],
  ['key file absent', '[server] key_path', serverSection({ key_path: '/nonexistent/server.key' })],
  ['ca file absent', '[server] ca_path', serverSection({ ca_path: '/nonexistent/ca.crt' })],
  ['auth_suite unknown', '[server] auth_suite', serverSection({ auth_suite: 'TLS1.3' })],
  ['enable_tls_client_auth not a boolean', '[server] enable_tls_client_auth', serverSection({ enable_tls_client_auth: 'maybe' })],
  ['a cipher suite nobody knows', '[server] tls_cipher_suites', serverSection({ tls_cipher_suites: 'TLS_RSA_WITH_AES_128_CBC_SHA256 NOT-A-SUITE' })],
  ['only unusable cipher suites', '[server] tls_cipher_suites', serverSection({ tls_cipher_suites: 'TLS_PSK_WITH_AES_128_CBC_SHA' })],
  ['logging_level unknown', '[server] logging_level', serverSection({ logging_level: 'LOUD' })],
  ['SLUGS authentication enabled', '[auth:slugs] enabled', serverSection() + '[auth:slugs]\nenabled=True\nurl=http://127.0.0.1:8080/slugs/\n'],
  ['a setting given twice', 'line 8', serverSection() + 'port=5697\n'],
  ['text before any section', 'line 1', 'port=5696\n' + serverSection()],
])('%s: one error naming %s', (_what, key, text) => {
  const file = conf(text);
  const e = errorOf(() => loadConfig({ pykmipConfigFile: file }));
  expect(e.key).toBe(key === 'FILE' ? file : `${file} ${key}`);
  expect(e.message).not.toContain('\n');
});

test('listen or tls in the JSON config as well as server.conf is refused, naming the key', () => {
  const json = path.join(dir, 'both.json');
  fs.writeFileSync(json, JSON.stringify({ listen: '127.0.0.1:1' }));
  expect(errorOf(() => loadConfig({ pykmipConfigFile: conf(serverSection()), configFile: json })).key).toBe('listen');
});

test('the JSON config: compat, tls.ciphers, tls.requireClientAuthEku', () => {
  const json = path.join(dir, 'tls.json');
  fs.writeFileSync(json, JSON.stringify({ compat: 'pykmip', tls: { ciphers: 'ECDHE-RSA-AES128-GCM-SHA256', requireClientAuthEku: true } }));
  const c = loadConfig({ configFile: json });
  expect([c.compat, c.tlsCiphers, c.requireClientAuthEku, c.tls, c.adminIdentities]).toEqual(['pykmip', 'ECDHE-RSA-AES128-GCM-SHA256', true, null, ['admin']]);
  expect(loadConfig({}).compat).toBe('none');
});

test.each([
  [{ compat: 'vmware' }, 'compat'],
  [{ tls: { ciphers: 'NOT-A-SUITE' } }, 'tls.ciphers'],
  [{ tls: { requireClientAuthEku: 'yes' } }, 'tls.requireClientAuthEku'],
  [{ credentials: [] }, 'credentials'],
  [{ credentials: { vc: { users: { alice: 'plaintext' } } } }, 'credentials.vc.users.alice'],
  [{ credentials: { vc: { users: { 'a/b': 'x' } } } }, 'credentials.vc.users.a/b'],
  [{ credentials: { vc: { requireCredential: 'yes' } } }, 'credentials.vc.requireCredential'],
  [{ credentials: { vc: { groups: {} } } }, 'credentials.vc.groups'],
  [{ credentials: { vc: { devices: { d1: 'scrypt$1000$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==' } } } }, 'credentials.vc.devices.d1'],
])('bad JSON %j names %s', (json, key) => {
  const f = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(f, JSON.stringify(json));
  expect(errorOf(() => loadConfig({ configFile: f })).key).toBe(key);
});

test('credentials: a hash made by hashPassword is accepted', async () => {
  const hash = await hashPassword('s3cret');
  expect(hash).toMatch(/^scrypt\$16384\$8\$1\$/);
  const f = path.join(dir, 'cred.json');
  fs.writeFileSync(f, JSON.stringify({ credentials: { vc: { users: { alice: hash }, devices: { SN1: hash }, requireCredential: true } } }));
  const c = loadConfig({ configFile: f });
  const vc = c.credentials.get('vc')!;
  expect([...vc.users.keys(), ...vc.devices.keys(), vc.requireCredential]).toEqual(['alice', 'SN1', true]);
});

test('any text: parseIni returns sections or throws ConfigError, nothing else', () => {
  const piece = fc.constantFrom('[server]', '[DEFAULT]', '[', ']', '=', ':', '%', '%%', '%(a)s', '%(', 'a', 'port', ' ', '\t', '\n', '\r\n', '#', ';', 'x=1', '\ufeff');
  fc.assert(
    fc.property(fc.array(fc.oneof(piece, fc.string()), { maxLength: 40 }), (parts) => {
      try {
        parseIni(parts.join(''), 'f.conf');
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        expect(e.message).not.toContain('\n');
      }
    }),
    { numRuns: 3000 },
  );
});
