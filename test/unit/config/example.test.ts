/**
 * config.example.json and docs/configuration.md against loadConfig itself: the keys it accepts are
 * learnt from it (each object's "unknown key (allowed: ...)" refusal, probed section by section), so
 * a key added to loadConfig without a line in the table and the example fails here, and so does a
 * documented key it no longer knows. The example must load as it stands, its files made for real.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../../src/config';
import { ensureDevPki } from '../../../src/pki/dev-pki';
import { revokeCertificate } from '../../../src/pki/dev-crl';
import { ROOT } from '../../helpers/source-files';

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
type Shape = { kind: 'leaf' } | { kind: 'object'; keys: Map<string, Shape> } | { kind: 'array'; item: Shape } | { kind: 'map'; value: Shape };

const PROBE = 'zz-probe';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-example-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** The keys loadConfig lists when the object that `wrap` places meets an unknown key; null: not such an object. */
function allowedKeys(wrap: (inner: Json) => Json): string[] | null {
  const file = path.join(work, 'probe.json');
  fs.writeFileSync(file, JSON.stringify(wrap({ [PROBE]: 1 })));
  try {
    loadConfig({ configFile: file });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const m = /unknown key \(allowed: (.*)\)$/.exec(e.message);
    if (m && e.key.endsWith(PROBE)) return m[1]!.split(', ');
    return null;
  }
  return null;
}

function shapeOf(wrap: (inner: Json) => Json): Shape {
  const keys = allowedKeys(wrap);
  if (keys) return { kind: 'object', keys: new Map(keys.map((k) => [k, shapeOf((x) => wrap({ [k]: x }))])) };
  if (allowedKeys((x) => wrap([x]))) return { kind: 'array', item: shapeOf((x) => wrap([x])) };
  if (allowedKeys((x) => wrap({ [PROBE]: x }))) return { kind: 'map', value: shapeOf((x) => wrap({ [PROBE]: x })) };
  return { kind: 'leaf' };
}

/** Every key's dotted name: `a.b`, `a[].b` for arrays of objects, `a.*.b` under names of the operator's choosing. */
function names(shape: Shape, prefix: string, out: string[] = []): string[] {
  if (shape.kind === 'object') {
    for (const [k, s] of shape.keys) {
      const name = prefix === '' ? k : `${prefix}.${k}`;
      out.push(name);
      if (s.kind === 'array') names(s.item, `${name}[]`, out);
      else names(s, name, out);
    }
  } else if (shape.kind === 'map') {
    out.push(`${prefix}.*`);
    names(shape.value, `${prefix}.*`, out);
  }
  return out;
}

/** The dotted names a JSON value sets, read through the shape loadConfig gave. */
function namesIn(value: Json, shape: Shape, prefix: string, out = new Set<string>()): Set<string> {
  if (shape.kind === 'object' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      const name = prefix === '' ? k : `${prefix}.${k}`;
      out.add(name);
      const s = shape.keys.get(k);
      if (s?.kind === 'array' && Array.isArray(v)) for (const item of v) namesIn(item, s.item, `${name}[]`, out);
      else if (s) namesIn(v, s, name, out);
    }
  } else if (shape.kind === 'map' && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const v of Object.values(value)) {
      out.add(`${prefix}.*`);
      namesIn(v, shape.value, `${prefix}.*`, out);
    }
  }
  return out;
}

const known = names(shapeOf((x) => x), '');
const exampleText = fs.readFileSync(path.join(ROOT, 'config.example.json'), 'utf8');
const documented = [...fs.readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8').matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!);

test('the probe finds the nested shapes (a section, an array of objects, names of the operator\'s choosing)', () => {
  expect(known).toEqual(expect.arrayContaining(['listen', 'tls.cert', 'audit.syslog.host', 'notifications.endpoints[].address', 'credentials.*.requireCredential']));
});

test('docs/configuration.md has one row for each key loadConfig accepts, and none it does not', () => {
  expect([...documented].sort()).toEqual([...known].sort());
});

test('config.example.json sets every key loadConfig accepts', () => {
  const shape = shapeOf((x) => x);
  const set = namesIn(JSON.parse(exampleText) as Json, shape, '');
  expect(known.filter((k) => !set.has(k))).toEqual([]);
});

test('config.example.json loads as it stands, its files in place', async () => {
  // The example names deployment paths under /etc/kmip-server; the same files, real ones, go under a temp dir.
  const etc = path.join(work, 'etc');
  const pki = path.join(etc, 'pki');
  const dev = ensureDevPki(pki);
  await revokeCertificate(pki, dev.adminCertPath);
  fs.copyFileSync(path.join(pki, 'ca.pem'), path.join(pki, 'syslog-ca.pem'));
  fs.copyFileSync(dev.clientCertPath, path.join(pki, 'syslog-client.pem'));
  fs.copyFileSync(dev.clientKeyPath, path.join(pki, 'syslog-client-key.pem'));
  fs.writeFileSync(
    path.join(etc, 'access.json'),
    JSON.stringify({ roles: { auditor: ['cn:auditor'], securityOfficer: ['cn:officer-1', 'cn:officer-2'] }, dualControl: [{ operations: ['Destroy'], objectGroup: 'payments' }] }),
  );
  const file = path.join(work, 'example.json');
  fs.writeFileSync(file, exampleText.replaceAll('/etc/kmip-server/', `${etc}/`));
  const config = loadConfig({ configFile: file });
  expect(config.https).toEqual({ host: '0.0.0.0', port: 5697 });
  expect(config.tlsCrl).toEqual([path.join(pki, 'crl.pem')]);
  expect(config.auditSyslog?.cert).toBe(path.join(pki, 'syslog-client.pem'));
  expect(config.storePath).toBe('/var/lib/kmip-server/kmip.sqlite');
  expect(config.credentials.get('backup-appliance')?.users.has('operator')).toBe(true);
  expect(config.notifications.endpoints.map((e) => e.identity)).toEqual(['backup-appliance']);
  expect(config.accessPolicy?.file).toBe(path.join(etc, 'access.json'));
  expect(config.accessPolicy?.policy.dualControl.map((r) => r.operations)).toEqual([['Destroy']]);
});
