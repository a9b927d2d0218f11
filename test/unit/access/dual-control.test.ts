/**
 * The dual-control rules of the access policy file (src/access/policy.ts parses them,
 * src/access/caller.ts answers): which requests a rule covers, who approves, and the refusals that
 * keep a rule from holding secrets in the approvals table or waiting for an officer nobody is.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { ObjectType } from '../../../src/spec/generated/enums';
import { AccessPolicyError, KEK_RETIRE, parseAccessPolicy } from '../../../src/access/policy';
import { isSecurityOfficer, mayRequireApproval, requiresApproval } from '../../../src/access/caller';
import { loadConfig } from '../../../src/config';

const FP = 'ab'.repeat(32);
const policy = parseAccessPolicy({
  roles: { securityOfficer: ['cn:carol', 'san:urn:officer:dave', `sha256:${FP.toUpperCase().match(/../g)!.join(':')}`, 'erin'], auditor: ['cn:x'] },
  groups: { from: 'ou' },
  dualControl: [
    { operations: ['Destroy'], objectGroup: 'finance' },
    { operations: ['Get', 'Export'], objectTypes: ['PrivateKey'] },
    { operations: ['ReKey', 'GetAttributes'] },
    { operations: [KEK_RETIRE] },
  ],
});

const object = (type: number, groups: string[] = []) => ({
  objectType: type,
  attributes: groups.map((g, index) => ({ name: 'Object Group', index, value: ttlv.textString(Tag.ObjectGroup, g) })),
});
const alice = { name: 'alice' };

test('a rule is known by its place in the file; mayRequireApproval asks only whether one names the operation', () => {
  expect(policy.dualControl.map((r) => r.key)).toEqual([0, 1, 2, 3].map((i) => `accessPolicy.dualControl[${i}]`));
  expect(mayRequireApproval(policy, 'Destroy')).toBe(true);
  expect(mayRequireApproval(policy, 'Activate')).toBe(false);
  expect(mayRequireApproval(undefined, 'Destroy')).toBe(false);
});

test('a rule covers the operation on an object matching every condition it gives', () => {
  expect(requiresApproval(policy, alice, 'Destroy', object(ObjectType.SymmetricKey, ['hr', 'finance']))?.key).toBe('accessPolicy.dualControl[0]');
  expect(requiresApproval(policy, alice, 'Destroy', object(ObjectType.SymmetricKey, ['hr']))).toBeUndefined();
  // A rule with conditions covers no request that names no object.
  expect(requiresApproval(policy, alice, 'Destroy')).toBeUndefined();
  expect(requiresApproval(policy, alice, 'Get', object(ObjectType.PrivateKey))?.key).toBe('accessPolicy.dualControl[1]');
  expect(requiresApproval(policy, alice, 'Get', object(ObjectType.PublicKey))).toBeUndefined();
  expect(requiresApproval(policy, alice, 'GetAttributes', object(ObjectType.PublicKey))?.key).toBe('accessPolicy.dualControl[2]');
  expect(requiresApproval(policy, alice, KEK_RETIRE)?.key).toBe('accessPolicy.dualControl[3]');
  // Officers are covered too: their own requests need another officer.
  expect(requiresApproval(policy, { name: 'carol' }, 'ReKey')?.key).toBe('accessPolicy.dualControl[2]');
});

test('security officers by certificate (cn:, san:, sha256:) or plain identity name; the CLI names a plain identity', () => {
  const cert = (cn: string, more: { sans?: string[]; fingerprint?: string } = {}) => ({ cn, ous: [], sans: more.sans ?? [], ...(more.fingerprint ? { fingerprint: more.fingerprint } : {}) });
  expect(isSecurityOfficer(policy, { name: 'carol', certificate: cert('carol') })).toBe(true);
  expect(isSecurityOfficer(policy, { name: 'd', certificate: cert('d', { sans: ['URI:urn:officer:dave'] }) })).toBe(true);
  expect(isSecurityOfficer(policy, { name: 'frank', certificate: cert('frank', { fingerprint: FP }) })).toBe(true);
  expect(isSecurityOfficer(policy, { name: 'frank', certificate: cert('frank', { fingerprint: 'cd'.repeat(32) }) })).toBe(false);
  expect(isSecurityOfficer(policy, { name: 'erin' })).toBe(true);
  // `kmip-server approve --as carol` has no certificate: a cn: matcher does not name it.
  expect(isSecurityOfficer(policy, { name: 'carol' })).toBe(false);
  expect(isSecurityOfficer(policy, alice)).toBe(false);
});

const officer = { securityOfficer: ['a'] };
test.each([
  [{ dualControl: {} }, 'accessPolicy.dualControl', /must be an array/],
  [{ dualControl: [{ operations: ['Destroy'] }] }, 'accessPolicy.roles.securityOfficer', /need security officers to approve/],
  [{ roles: officer, dualControl: [{ operations: [] }] }, 'accessPolicy.dualControl[0].operations', /non-empty/],
  [{ roles: officer, dualControl: [{ operations: ['Destroy', 'Frobnicate'] }] }, 'accessPolicy.dualControl[0].operations[1]', /is not an operation/],
  [{ roles: officer, dualControl: [{ operations: ['Register'] }] }, 'accessPolicy.dualControl[0].operations[0]', /key material.*in the clear/],
  [{ roles: officer, dualControl: [{ operations: ['Destroy', 'Encrypt'] }] }, 'accessPolicy.dualControl[0].operations[1]', /data.*in the clear/],
  [{ roles: officer, dualControl: [{ operations: ['Poll'] }] }, 'accessPolicy.dualControl[0].operations[0]', /cannot need approval/],
  [{ roles: officer, dualControl: [{ operations: ['Query'] }] }, 'accessPolicy.dualControl[0].operations[0]', /cannot need approval/],
  [{ roles: officer, dualControl: [{ operations: ['Get'], objectTypes: ['Private Key'] }] }, 'accessPolicy.dualControl[0].objectTypes[0]', /not an Object Type/],
  [{ roles: officer, dualControl: [{ operations: ['Get'], objectGroup: '' }] }, 'accessPolicy.dualControl[0].objectGroup', /non-empty/],
  [{ roles: officer, dualControl: [{ operations: ['Get'], when: 'always' }] }, 'accessPolicy.dualControl[0].when', /unknown key/],
  [{ roles: officer, dualControl: [{ operations: [KEK_RETIRE], objectGroup: 'g' }] }, 'accessPolicy.dualControl[0]', /names no object/],
  [{ roles: officer, dualControl: [{ operations: ['KekRotate'] }] }, 'accessPolicy.dualControl[0].operations[0]', /is not an operation/],
])('%j is refused naming %s', (raw, key, message) => {
  let err: unknown;
  try {
    parseAccessPolicy(raw);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(AccessPolicyError);
  expect((err as AccessPolicyError).key).toBe(key);
  expect((err as AccessPolicyError).detail).toMatch(message);
});

test('the configuration key accessPolicy carries the rules; a bad rule stops the start with one line naming the key', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-dual-config-'));
  try {
    const file = path.join(dir, 'policy.json');
    const config = path.join(dir, 'config.json');
    fs.writeFileSync(config, JSON.stringify({ accessPolicy: file }));
    fs.writeFileSync(file, JSON.stringify({ roles: { securityOfficer: ['carol'] }, dualControl: [{ operations: ['Destroy'] }] }));
    expect(loadConfig({ configFile: config, dataDir: dir }).accessPolicy?.policy.dualControl).toHaveLength(1);
    fs.writeFileSync(file, JSON.stringify({ roles: { securityOfficer: ['carol'] }, dualControl: [{ operations: ['Decrypt'] }] }));
    expect(() => loadConfig({ configFile: config, dataDir: dir })).toThrow(/^config: accessPolicy\.dualControl\[0\]\.operations\[0\]: Decrypt cannot need approval/);
    expect(loadConfig({ dataDir: dir }).accessPolicy).toBeNull();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
