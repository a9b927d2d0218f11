/**
 * The access policy file: what it accepts, the key every refusal names, how callers map to roles and
 * groups, and the dual-control question DUAL asks (requiresApproval).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { ObjectType } from '../../../src/spec/generated/enums';
import { AccessPolicyError, loadAccessPolicy, parseAccessPolicy, type Caller } from '../../../src/access/policy';
import { groupsOf, requiresApproval, rolesOf } from '../../../src/access/caller';
import { loadConfig, ConfigError } from '../../../src/config';

const PRINT = 'ab'.repeat(32);

const policy = parseAccessPolicy({
  roles: { administrator: ['cn:ops'], securityOfficer: ['officer-1', `sha256:${PRINT.toUpperCase().match(/../g)!.join(':')}`], auditor: ['san:urn:example:auditor'] },
  groups: { from: 'ou', members: { finance: ['cn:batch'] } },
  operationPolicies: { shared: { grants: [{ to: 'group:db', operations: ['Get', 'Locate'] }] } },
  dualControl: [{ operations: ['Destroy'], objectGroup: 'finance' }, { operations: ['Get'], objectTypes: ['PrivateKey'] }, { operations: ['KekRetire'] }],
});

function caller(name: string, cert: Partial<NonNullable<Caller['certificate']>> = {}): Caller {
  return { name, certificate: { cn: name, ous: [], sans: [], ...cert } };
}

function refusal(raw: unknown): string {
  try {
    parseAccessPolicy(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(AccessPolicyError);
    return (e as Error).message;
  }
  throw new Error('accepted');
}

test('roles come from CN, plain identity, fingerprint and SAN; everyone else is a user', () => {
  expect([...rolesOf(policy, caller('ops'))]).toEqual(['administrator']);
  expect([...rolesOf(policy, caller('officer-1'))]).toEqual(['securityOfficer']);
  expect([...rolesOf(policy, caller('someone', { fingerprint: PRINT }))]).toEqual(['securityOfficer']);
  expect([...rolesOf(policy, caller('a', { sans: ['URI:urn:example:auditor'] }))]).toEqual(['auditor']);
  expect([...rolesOf(policy, caller('app'))]).toEqual(['user']);
  // A credential's sub-identity carries no certificate: a cn: matcher does not give it its certificate's role.
  expect([...rolesOf(policy, { name: 'ops/alice' })]).toEqual(['user']);
});

test('groups come from the OUs and from the listed members; SAN URIs under a prefix when configured', () => {
  expect(groupsOf(policy, caller('x', { ous: ['db', 'eu'] }))).toEqual(['db', 'eu']);
  expect(groupsOf(policy, caller('batch'))).toEqual(['finance']);
  const byUri = parseAccessPolicy({ groups: { from: 'sanUri', sanUriPrefix: 'urn:g:' } });
  expect(groupsOf(byUri, caller('x', { sans: ['DNS:h', 'URI:urn:g:db', 'URI:urn:other:z'], ous: ['ignored'] }))).toEqual(['db']);
});

test('every mistake names its key', () => {
  expect(refusal({ role: {} })).toBe('config: accessPolicy.role: unknown key (expected one of roles, groups, operationPolicies, dualControl)');
  expect(refusal({ roles: { admin: [] } })).toMatch(/^config: accessPolicy\.roles\.admin: unknown role/);
  expect(refusal({ roles: { auditor: ['cn:a', 'sha256:12'] } })).toMatch(/^config: accessPolicy\.roles\.auditor\[1\]: a sha256: matcher/);
  expect(refusal({ roles: { auditor: ['cn:'] } })).toBe('config: accessPolicy.roles.auditor[0]: names nothing after its prefix');
  expect(refusal({ groups: { from: 'sanUri' } })).toMatch(/^config: accessPolicy\.groups\.sanUriPrefix: is required/);
  expect(refusal({ groups: { from: 'dn' } })).toBe('config: accessPolicy.groups.from: must be "ou" or "sanUri"');
  expect(refusal({ operationPolicies: { p: { grants: [{ to: 'bob', operations: ['Get'] }] } } })).toBe('config: accessPolicy.operationPolicies.p.grants[0].to: must be "identity:NAME" or "group:NAME"');
  expect(refusal({ operationPolicies: { p: { grants: [{ to: 'identity:bob', operations: ['Get', 'Fetch'] }] } } })).toMatch(/^config: accessPolicy\.operationPolicies\.p\.grants\[0\]\.operations\[1\]: "Fetch" is not an operation/);
  expect(refusal({ dualControl: [{ operations: ['Destroy'], objectTypes: ['Key'] }] })).toMatch(/^config: accessPolicy\.dualControl\[0\]\.objectTypes\[0\]: "Key" is not an Object Type/);
  expect(refusal({ dualControl: [{ operations: ['Destroy'], group: 'x' }] })).toMatch(/^config: accessPolicy\.dualControl\[0\]\.group: unknown key/);
});

test('the config key accessPolicy reads the file at start, and its errors name the key inside it', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'access-policy-'));
  const file = path.join(dir, 'access.json');
  const cfg = path.join(dir, 'config.json');
  fs.writeFileSync(cfg, JSON.stringify({ accessPolicy: file }));
  expect(() => loadConfig({ configFile: cfg, dataDir: dir })).toThrow(`config: accessPolicy: cannot read ${file}: ENOENT`);
  fs.writeFileSync(file, '{"roles": ');
  expect(() => loadConfig({ configFile: cfg, dataDir: dir })).toThrow(new RegExp(`^config: accessPolicy: ${file.replace(/[.]/g, '\\.')} is not JSON`));
  fs.writeFileSync(file, JSON.stringify({ roles: { auditor: [7] } }));
  expect(() => loadConfig({ configFile: cfg, dataDir: dir })).toThrow(ConfigError);
  expect(() => loadConfig({ configFile: cfg, dataDir: dir })).toThrow('config: accessPolicy.roles.auditor: must be an array of non-empty strings');
  fs.writeFileSync(file, JSON.stringify({ roles: { auditor: ['cn:aud'] } }));
  const config = loadConfig({ configFile: cfg, dataDir: dir });
  expect(config.accessPolicy?.file).toBe(file);
  // Under a policy nobody reaches every object by adminIdentities; listed ones hold the administrator role.
  expect(config.adminIdentities).toEqual([]);
  expect(config.accessPolicy?.policy.roles.get('administrator')).toBeUndefined();
  fs.writeFileSync(cfg, JSON.stringify({ accessPolicy: file, adminIdentities: ['admin'] }));
  const withAdmins = loadConfig({ configFile: cfg, dataDir: dir });
  expect(withAdmins.adminIdentities).toEqual([]);
  expect([...rolesOf(withAdmins.accessPolicy!.policy, { name: 'admin' })]).toEqual(['administrator']);
  expect(loadAccessPolicy(file).roles.get('auditor')).toEqual([{ kind: 'cn', value: 'aud' }]);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('requiresApproval: the first rule whose operation, Object Group and object type all match', () => {
  const inFinance = { objectType: ObjectType.SymmetricKey, attributes: [{ name: 'Object Group', index: 0, value: ttlv.textString(Tag.ObjectGroup, 'finance') }] };
  const plain = { objectType: ObjectType.SymmetricKey, attributes: [] };
  const privateKey = { objectType: ObjectType.PrivateKey, attributes: [] };
  const who = caller('officer-1');
  expect(requiresApproval(policy, who, 'Destroy', inFinance)).toMatchObject({ operations: ['Destroy'], objectGroup: 'finance' });
  expect(requiresApproval(policy, who, 'Destroy', plain)).toBeUndefined();
  expect(requiresApproval(policy, who, 'Destroy')).toBeUndefined();
  expect(requiresApproval(policy, who, 'Get', privateKey)).toMatchObject({ operations: ['Get'], objectTypes: ['PrivateKey'] });
  expect(requiresApproval(policy, who, 'Get', plain)).toBeUndefined();
  expect(requiresApproval(policy, who, 'KekRetire')).toMatchObject({ operations: ['KekRetire'] });
  expect(requiresApproval(undefined, who, 'KekRetire')).toBeUndefined();
});
