/**
 * The dual-control rules of the access policy file (src/access/dual-control.ts): parsing with errors
 * that name the key, which requests a rule covers, and who is a security officer.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { ObjectType } from '../../../src/spec/generated/enums';
import { KEK_RETIRE, PolicyError, isSecurityOfficer, mayRequireApproval, parseDualControl, readDualControlPolicy, requiresApproval } from '../../../src/access/dual-control';
import { ConfigError, loadConfig } from '../../../src/config';

const FP = 'ab'.repeat(32);
const policy = parseDualControl({
  roles: { securityOfficer: ['cn:carol', 'san:urn:officer:dave', `sha256:${FP.toUpperCase().match(/../g)!.join(':')}`, 'erin'], auditor: ['cn:x'] },
  groups: { from: 'ou' },
  dualControl: [
    { operations: ['Destroy'], objectGroup: 'finance' },
    { operations: ['Get', 'Export'], objectTypes: ['Private Key'] },
    { operations: ['Re-key', 'Get Attributes'] },
    { operations: [KEK_RETIRE] },
  ],
});

const object = (type: number, groups: string[] = []) => ({
  objectType: type,
  attributes: groups.map((g, index) => ({ name: 'Object Group', index, value: ttlv.textString(Tag.ObjectGroup, g) })),
});
const alice = { name: 'alice' };

test('operation names: the spec\'s and the generated keys both, normalised', () => {
  expect(policy.rules.map((r) => r.operations)).toEqual([['Destroy'], ['Get', 'Export'], ['ReKey', 'GetAttributes'], [KEK_RETIRE]]);
  expect(policy.rules[1]!.objectTypes).toEqual([ObjectType.PrivateKey]);
  expect(mayRequireApproval(policy, 'Destroy')).toBe(true);
  expect(mayRequireApproval(policy, 'Activate')).toBe(false);
});

test('a rule covers the operation on an object matching every condition it gives', () => {
  expect(requiresApproval(policy, alice, 'Destroy', object(ObjectType.SymmetricKey, ['hr', 'finance']))?.key).toBe('dualControl[0]');
  expect(requiresApproval(policy, alice, 'Destroy', object(ObjectType.SymmetricKey, ['hr']))).toBeUndefined();
  // A rule with conditions covers no request that names no object.
  expect(requiresApproval(policy, alice, 'Destroy')).toBeUndefined();
  expect(requiresApproval(policy, alice, 'Get', object(ObjectType.PrivateKey))?.key).toBe('dualControl[1]');
  expect(requiresApproval(policy, alice, 'Get', object(ObjectType.PublicKey))).toBeUndefined();
  expect(requiresApproval(policy, alice, 'GetAttributes', object(ObjectType.PublicKey))?.key).toBe('dualControl[2]');
  expect(requiresApproval(policy, alice, KEK_RETIRE)?.key).toBe('dualControl[3]');
  // Officers are covered too: their own requests need another officer.
  expect(requiresApproval(policy, { name: 'carol' }, 'ReKey')?.key).toBe('dualControl[2]');
});

test('security officers by name (cn:, san:, plain) or certificate fingerprint', () => {
  expect(isSecurityOfficer(policy, { name: 'carol' })).toBe(true);
  expect(isSecurityOfficer(policy, { name: 'urn:officer:dave' })).toBe(true);
  expect(isSecurityOfficer(policy, { name: 'erin' })).toBe(true);
  expect(isSecurityOfficer(policy, { name: 'frank', certificateFingerprint: FP })).toBe(true);
  expect(isSecurityOfficer(policy, { name: 'frank', certificateFingerprint: 'cd'.repeat(32) })).toBe(false);
  expect(isSecurityOfficer(policy, alice)).toBe(false);
});

test.each([
  [{ dualControl: {} }, 'dualControl', /must be an array/],
  [{ dualControl: [{ operations: ['Destroy'] }] }, 'roles.securityOfficer', /need security officers to approve/],
  [{ roles: { securityOfficer: ['a'] }, dualControl: [{ operations: [] }] }, 'dualControl[0].operations', /non-empty/],
  [{ roles: { securityOfficer: ['a'] }, dualControl: [{ operations: ['Destroy', 'Frobnicate'] }] }, 'dualControl[0].operations[1]', /no KMIP operation/],
  [{ roles: { securityOfficer: ['a'] }, dualControl: [{ operations: ['Register'] }] }, 'dualControl[0].operations[0]', /key material.*in the clear/],
  [{ roles: { securityOfficer: ['a'] }, dualControl: [{ operations: ['Encrypt'] }] }, 'dualControl[0].operations[0]', /data.*in the clear/],
  [{ roles: { securityOfficer: ['a'] }, dualControl: [{ operations: ['Poll'] }] }, 'dualControl[0].operations[0]', /cannot need approval/],
  [{ roles: { securityOfficer: ['a'] }, dualControl: [{ operations: ['Get'], objectTypes: ['Private Keys'] }] }, 'dualControl[0].objectTypes[0]', /Object Type/],
  [{ roles: { securityOfficer: ['a'] }, dualControl: [{ operations: ['Get'], objectGroup: '' }] }, 'dualControl[0].objectGroup', /non-empty/],
  [{ roles: { securityOfficer: ['a'] }, dualControl: [{ operations: ['Get'], when: 'always' }] }, 'dualControl[0].when', /unknown key/],
  [{ roles: { securityOfficer: ['a'] }, dualControl: [{ operations: [KEK_RETIRE], objectGroup: 'g' }] }, 'dualControl[0]', /names no object/],
  [{ roles: { securityOfficer: ['sha256:abc'] } }, 'roles.securityOfficer[0]', /64 hex digits/],
  [{ roles: { securityOfficer: ['cn:'] } }, 'roles.securityOfficer[0]', /names no identity/],
  [{ roles: { securityOfficer: 'carol' } }, 'roles.securityOfficer', /array/],
])('%j is refused naming %s', (raw, key, message) => {
  let err: unknown;
  try {
    parseDualControl(raw as Parameters<typeof parseDualControl>[0]);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(PolicyError);
  expect((err as PolicyError).key).toBe(key);
  expect((err as PolicyError).message).toMatch(message);
});

describe('the configuration key accessPolicy', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-dual-config-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function configWith(policy: unknown): string {
    const policyFile = path.join(dir, `policy-${Math.random().toString(36).slice(2)}.json`);
    fs.writeFileSync(policyFile, typeof policy === 'string' ? policy : JSON.stringify(policy));
    const config = path.join(dir, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ accessPolicy: policyFile }));
    return config;
  }

  test('a good file is read at start', () => {
    const config = loadConfig({ configFile: configWith({ roles: { securityOfficer: ['carol'] }, dualControl: [{ operations: ['Destroy'] }] }), dataDir: dir });
    expect(config.dualControl?.rules).toHaveLength(1);
    expect(config.accessPolicyFile).toMatch(/policy-.*\.json$/);
  });

  test('no accessPolicy: no rules', () => {
    expect(loadConfig({ dataDir: dir }).dualControl).toBeNull();
  });

  test('a bad rule stops the start with one line naming accessPolicy, the file and the key', () => {
    expect(() => loadConfig({ configFile: configWith({ roles: { securityOfficer: ['carol'] }, dualControl: [{ operations: ['Destroy'], objectTypes: ['Nope'] }] }), dataDir: dir })).toThrow(
      /^config: accessPolicy \(.*policy-.*\.json\) dualControl\[0\]\.objectTypes\[0\]: must name an Object Type/,
    );
    expect(() => loadConfig({ configFile: configWith('{ not json'), dataDir: dir })).toThrow(ConfigError);
    expect(() => readDualControlPolicy(path.join(dir, 'missing.json'))).toThrow(/cannot read .*missing\.json/);
  });
});
