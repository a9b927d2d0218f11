/** The rotation policies as the configuration gives them: durations, matching, and refusals that name the key. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { ObjectType } from '../../../src/spec/generated/enums';
import { durationSeconds, parseRotationPolicies, policyFor, RotationPolicyError } from '../../../src/scheduler/rotation-policy';
import { ConfigError, loadConfig } from '../../../src/config';

describe('durationSeconds', () => {
  it.each([
    [90, 90],
    ['P90D', 90 * 86400],
    ['PT12H', 12 * 3600],
    ['P1Y', 365 * 86400],
    ['P1M2W', 30 * 86400 + 14 * 86400],
    ['P1DT1H1M1S', 86400 + 3600 + 61],
  ])('%p is %p seconds', (v, s) => expect(durationSeconds(v, 'k')).toBe(s));

  it.each([['P'], ['PT'], ['90D'], [-1], [1.5], ['P100Y']])('refuses %p', (v) => expect(() => durationSeconds(v, 'k')).toThrow(RotationPolicyError));
});

describe('parseRotationPolicies', () => {
  it('reads a policy with defaults', () => {
    expect(parseRotationPolicies([{ objectGroup: 'g', interval: 'P1D' }])).toEqual([{ name: 'objectGroup=g', objectGroup: 'g', intervalSeconds: 86400, oldKey: 'keep' }]);
    expect(parseRotationPolicies([{ objectType: 'SymmetricKey', interval: 10, offset: 5, oldKey: 'deactivate', deactivateAfter: 'PT1M' }])).toEqual([
      { name: 'objectType=SymmetricKey', objectType: ObjectType.SymmetricKey, intervalSeconds: 10, offsetSeconds: 5, oldKey: 'deactivate', deactivateAfterSeconds: 60 },
    ]);
  });

  it.each([
    [[{ interval: 10 }], 'rotation.policies[0]'],
    [[{ objectGroup: 'g' }], 'rotation.policies[0].interval'],
    [[{ objectGroup: 'g', interval: 0 }], 'rotation.policies[0].interval'],
    [[{ objectType: 'PublicKey', interval: 10 }], 'rotation.policies[0].objectType'],
    [[{ objectType: 'Certificate', interval: 10 }], 'rotation.policies[0].objectType'],
    [[{ objectType: 'toString', interval: 10 }], 'rotation.policies[0].objectType'],
    [[{ objectGroup: 'g', interval: 10, oldKey: 'destroy' }], 'rotation.policies[0].oldKey'],
    [[{ objectGroup: 'g', interval: 10, deactivateAfter: 5 }], 'rotation.policies[0].deactivateAfter'],
    [[{ objectGroup: 'g', interval: 10, colour: 'red' }], 'rotation.policies[0].colour'],
    [{}, 'rotation.policies'],
  ])('refuses %j naming %s', (raw, key) => {
    try {
      parseRotationPolicies(raw);
      throw new Error('accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(RotationPolicyError);
      expect((e as RotationPolicyError).key).toBe(key);
    }
  });

  it('is a ConfigError naming the key when loaded from a file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-rot-conf-'));
    try {
      const file = path.join(dir, 'c.json');
      fs.writeFileSync(file, JSON.stringify({ dataDir: dir, rotation: { policies: [{ objectGroup: 'g', interval: 'soon' }] } }));
      expect(() => loadConfig({ configFile: file })).toThrow(ConfigError);
      expect(() => loadConfig({ configFile: file })).toThrow(/rotation\.policies\[0\]\.interval/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('policyFor', () => {
  const policies = parseRotationPolicies([
    { objectGroup: 'a', objectType: 'SymmetricKey', interval: 1 },
    { objectGroup: 'b', interval: 2 },
    { objectGroup: 'pki', objectType: 'PrivateKey', interval: 3 },
  ]);
  const group = (g: string) => ({ name: 'Object Group', index: 0, value: ttlv.textString(Tag.ObjectGroup, g) });

  it('takes the first policy whose group and type both match', () => {
    expect(policyFor(policies, { objectType: ObjectType.SymmetricKey, attributes: [group('a')] })?.intervalSeconds).toBe(1);
    expect(policyFor(policies, { objectType: ObjectType.SecretData, attributes: [group('a')] })).toBeUndefined();
    expect(policyFor(policies, { objectType: ObjectType.SymmetricKey, attributes: [group('x'), { ...group('b'), index: 1 }] })?.intervalSeconds).toBe(2);
    expect(policyFor(policies, { objectType: ObjectType.SymmetricKey, attributes: [] })).toBeUndefined();
  });

  it('names key pairs only by objectType "PrivateKey": a policy by group alone is for symmetric keys', () => {
    expect(parseRotationPolicies([{ objectType: 'PrivateKey', interval: 10 }])).toEqual([{ name: 'objectType=PrivateKey', objectType: ObjectType.PrivateKey, intervalSeconds: 10, oldKey: 'keep' }]);
    expect(policyFor(policies, { objectType: ObjectType.PrivateKey, attributes: [group('b')] })).toBeUndefined();
    expect(policyFor(policies, { objectType: ObjectType.PrivateKey, attributes: [group('pki')] })?.intervalSeconds).toBe(3);
    expect(policyFor(policies, { objectType: ObjectType.PublicKey, attributes: [group('pki')] })).toBeUndefined();
  });
});
