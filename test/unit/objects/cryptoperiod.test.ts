/**
 * The cryptoperiod policy's parts: ISO 8601 durations, the `cryptoperiods` refusals as loadConfig
 * gives them (each naming its key), which rule an object falls under, what it sets, and the
 * Object Defaults it shows Query.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ttlv } from '../../../ttlv/types';
import { ConfigError, loadConfig } from '../../../src/config';
import { applyCryptoperiod, checkCryptoperiodChange, cryptoperiodDefaults, parseDuration, type CryptoperiodPolicy } from '../../../src/objects/cryptoperiod';
import { getAttribute } from '../../../src/objects/managed-object';
import type { StoredAttribute } from '../../../src/store/object-store';
import { CryptographicAlgorithm, ObjectType } from '../../../src/spec/generated/enums';
import { Tag } from '../../../src/spec/generated/tags';
import { KmipError } from '../../../src/kmip/errors';

const DAY = 86400;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-cryptoperiod-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function policyOf(cryptoperiods: unknown): CryptoperiodPolicy {
  const file = path.join(work, 'config.json');
  fs.writeFileSync(file, JSON.stringify({ cryptoperiods }));
  return loadConfig({ configFile: file, dataDir: work }).cryptoperiods;
}

function refusal(cryptoperiods: unknown): string {
  try {
    policyOf(cryptoperiods);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error('accepted');
}

describe('parseDuration', () => {
  it.each([
    ['P1Y', 365 * DAY],
    ['P90D', 90 * DAY],
    ['P6M', 180 * DAY],
    ['P2W', 14 * DAY],
    ['PT12H', 12 * 3600],
    ['P1DT1H1M1S', DAY + 3661],
  ])('reads %s', (text, seconds) => expect(parseDuration(text)).toBe(seconds));

  it.each(['', 'P', 'PT', '90D', 'P1.5Y', 'P1H', 'p1y', 'P1D ', 'P-1D'])('refuses %j', (text) => expect(parseDuration(text)).toBeUndefined());
});

describe('cryptoperiods in the configuration', () => {
  it('is empty when not configured', () => {
    expect(loadConfig({ dataDir: work }).cryptoperiods).toEqual([]);
  });

  it('reads names by their spec or XML form, with rotateAutomatic on and max off by default', () => {
    expect(policyOf([{ match: { algorithm: 'AES', objectType: 'SymmetricKey', objectGroup: 'g' }, rotateInterval: 'P90D' }, { deactivateAfter: 'P1Y', max: true }])).toEqual([
      { match: { algorithm: CryptographicAlgorithm.AES, objectType: ObjectType.SymmetricKey, objectGroup: 'g' }, rotateInterval: 90 * DAY, rotateAutomatic: true, max: false },
      { match: {}, deactivateAfter: 365 * DAY, rotateAutomatic: true, max: true },
    ]);
    expect(policyOf([{ match: { objectType: 'Private Key' }, deactivateAfter: 'P1Y' }])[0]!.match.objectType).toBe(ObjectType.PrivateKey);
    expect(policyOf([{ match: { algorithm: 'HMAC-SHA256' }, deactivateAfter: 'P1Y' }])[0]!.match.algorithm).toBe(CryptographicAlgorithm.HMAC_SHA256);
  });

  it.each([
    [{ cryptoperiods: 'P1Y' }, 'config: cryptoperiods: must be an array'],
    [['P1Y'], 'config: cryptoperiods[0]: must be an object'],
    [[{ deactivateAfter: 'P1Y', match: { state: 'Active' } }], 'config: cryptoperiods[0].match.state: unknown key'],
    [[{ deactivateAfter: 'P1Y', rotate: 'P1Y' }], 'config: cryptoperiods[0].rotate: unknown key'],
    [[{ match: { objectType: 'Symmetric Key' } }], 'config: cryptoperiods[0]: gives neither deactivateAfter nor rotateInterval'],
    [[{ deactivateAfter: 'P1Y' }, { match: { algorithm: 'Rot13' }, deactivateAfter: 'P1Y' }], 'config: cryptoperiods[1].match.algorithm: must name a CryptographicAlgorithm'],
    [[{ match: { objectType: 'Key' }, deactivateAfter: 'P1Y' }], 'config: cryptoperiods[0].match.objectType: must name a ObjectType'],
    [[{ match: { objectGroup: '' }, deactivateAfter: 'P1Y' }], 'config: cryptoperiods[0].match.objectGroup: must be a non-empty string'],
    [[{ deactivateAfter: '1 year' }], 'config: cryptoperiods[0].deactivateAfter: must be an ISO 8601 duration'],
    [[{ deactivateAfter: 'P0D' }], 'config: cryptoperiods[0].deactivateAfter: must be an ISO 8601 duration above zero'],
    [[{ rotateInterval: 'P200Y' }], 'config: cryptoperiods[0].rotateInterval: is longer than an Interval holds'],
    [[{ deactivateAfter: 'P1Y', rotateAutomatic: true }], 'config: cryptoperiods[0].rotateAutomatic: needs rotateInterval'],
    [[{ rotateInterval: 'P1Y', rotateAutomatic: 'yes' }], 'config: cryptoperiods[0].rotateAutomatic: must be true or false'],
    [[{ rotateInterval: 'P1Y', max: 1 }], 'config: cryptoperiods[0].max: must be true or false'],
  ])('refuses %j naming the key', (value, message) => {
    const raw = typeof value === 'object' && !Array.isArray(value) ? value.cryptoperiods : value;
    expect(refusal(raw)).toContain(message);
  });
});

describe('applyCryptoperiod', () => {
  const NOW = 1_800_000_000n;
  const aes: StoredAttribute[] = [{ name: 'Cryptographic Algorithm', index: 0, value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES) }];
  const group = (name: string, index = 0): StoredAttribute => ({ name: 'Object Group', index, value: ttlv.textString(Tag.ObjectGroup, name) });
  const value = (attrs: readonly StoredAttribute[], name: string) => getAttribute(attrs, name)?.value;

  it('takes the first rule that matches, by algorithm, object type and any of the object\'s groups', () => {
    const policy = policyOf([
      { match: { algorithm: 'AES', objectGroup: 'payments' }, deactivateAfter: 'P30D' },
      { match: { objectType: 'Symmetric Key' }, deactivateAfter: 'P1Y' },
      { deactivateAfter: 'P2Y' },
    ]);
    expect(value(applyCryptoperiod(policy, ObjectType.SymmetricKey, [...aes, group('other'), group('payments', 1)], NOW), 'Deactivation Date')).toBe(NOW + BigInt(30 * DAY));
    expect(value(applyCryptoperiod(policy, ObjectType.SymmetricKey, [...aes, group('other')], NOW), 'Deactivation Date')).toBe(NOW + BigInt(365 * DAY));
    expect(value(applyCryptoperiod(policy, ObjectType.SecretData, [group('payments')], NOW), 'Deactivation Date')).toBe(NOW + BigInt(730 * DAY));
  });

  it('leaves an object no rule matches as it is, and sets no Rotate Automatic without an interval or when the rule says false', () => {
    const policy = policyOf([
      { match: { objectType: 'Certificate' }, deactivateAfter: 'P1Y' },
      { match: { objectType: 'Secret Data' }, rotateInterval: 'P1D', rotateAutomatic: false },
    ]);
    expect(applyCryptoperiod(policy, ObjectType.SymmetricKey, aes, NOW)).toBe(aes);
    expect(value(applyCryptoperiod(policy, ObjectType.Certificate, [], NOW), 'Rotate Automatic')).toBeUndefined();
    const secret = applyCryptoperiod(policy, ObjectType.SecretData, [], NOW);
    expect(value(secret, 'Rotate Interval')).toBe(DAY);
    expect(value(secret, 'Rotate Automatic')).toBeUndefined();
  });

  it('under max, cuts a later Deactivation Date counted from the Activation Date, and turns Rotate Automatic on', () => {
    const policy = policyOf([{ deactivateAfter: 'P30D', rotateInterval: 'P7D', max: true }]);
    const activation = NOW + BigInt(DAY);
    const out = applyCryptoperiod(
      policy,
      ObjectType.SymmetricKey,
      [
        { name: 'Activation Date', index: 0, value: ttlv.dateTime(Tag.ActivationDate, activation) },
        { name: 'Deactivation Date', index: 0, value: ttlv.dateTime(Tag.DeactivationDate, activation + BigInt(31 * DAY)) },
        { name: 'Rotate Interval', index: 0, value: ttlv.interval(Tag.RotateInterval, 8 * DAY) },
        { name: 'Rotate Automatic', index: 0, value: ttlv.boolean(Tag.RotateAutomatic, false) },
      ],
      NOW,
    );
    expect(value(out, 'Deactivation Date')).toBe(activation + BigInt(30 * DAY));
    expect(value(out, 'Rotate Interval')).toBe(7 * DAY);
    expect(value(out, 'Rotate Automatic')).toBe(true);
    expect(out.filter((a) => a.name === 'Deactivation Date')).toHaveLength(1);
  });
});

describe('checkCryptoperiodChange (Add, Modify, Set Attribute under a maximum)', () => {
  const CREATED = 1_800_000_000n;
  const date = (name: string, tag: number, v: bigint): StoredAttribute => ({ name, index: 0, value: ttlv.dateTime(tag, v) });
  const initial = date('Initial Date', Tag.InitialDate, CREATED);
  const deactivation = (v: bigint) => date('Deactivation Date', Tag.DeactivationDate, v);
  const payments = (index = 0): StoredAttribute => ({ name: 'Object Group', index, value: ttlv.textString(Tag.ObjectGroup, 'payments') });
  const policy = () => policyOf([{ match: { objectGroup: 'payments' }, deactivateAfter: 'P30D', max: true }, { deactivateAfter: 'P1Y' }]);
  const limit = CREATED + BigInt(30 * DAY);
  const check = (before: StoredAttribute[], after: StoredAttribute[]) => () => checkCryptoperiodChange(policy(), ObjectType.SymmetricKey, before, after);

  it('refuses a Deactivation Date past the limit counted from creation, or from the Activation Date the change leaves', () => {
    expect(check([initial, payments(), deactivation(limit)], [initial, payments(), deactivation(limit + 1n)])).toThrow(/no later than 2027-/);
    expect(check([initial, payments(), deactivation(limit)], [initial, payments(), deactivation(limit - 1n)])).not.toThrow();
    const activation = date('Activation Date', Tag.ActivationDate, CREATED + BigInt(DAY));
    expect(check([initial, payments(), deactivation(limit)], [initial, payments(), activation, deactivation(limit + BigInt(DAY))])).not.toThrow();
    expect(check([initial, payments(), deactivation(limit)], [initial, payments(), activation, deactivation(limit + BigInt(DAY) + 1n)])).toThrow(KmipError);
  });

  it('holds the rule the object was under before the change, so leaving its group in the same change does not escape it', () => {
    expect(check([initial, payments(), deactivation(limit)], [initial, deactivation(limit + BigInt(DAY))])).toThrow(KmipError);
  });

  it('passes a change that leaves both dates as they were, even past a limit tightened since, and any change under a rule that is not a maximum', () => {
    const name: StoredAttribute = { name: 'Name', index: 0, value: ttlv.textString(Tag.NameValue, 'n') };
    expect(check([initial, payments(), deactivation(limit + BigInt(DAY))], [initial, payments(), deactivation(limit + BigInt(DAY)), name])).not.toThrow();
    expect(check([initial, deactivation(limit)], [initial, deactivation(limit + BigInt(1000 * DAY))])).not.toThrow();
  });
});

describe('cryptoperiodDefaults (Query Defaults Information)', () => {
  it('lists per object type the rotation of the first rule keyed by type alone; nothing when no rule gives one', () => {
    const policy = policyOf([
      { match: { algorithm: 'AES' }, rotateInterval: 'P1D' },
      { match: { objectType: 'Private Key' }, deactivateAfter: 'P1Y' },
      { match: { objectType: 'Symmetric Key' }, rotateInterval: 'P90D', rotateAutomatic: false },
      { rotateInterval: 'P1Y' },
    ]);
    const [info] = cryptoperiodDefaults(policy, [ObjectType.SymmetricKey, ObjectType.PrivateKey, ObjectType.SecretData]);
    expect(info).toEqual(
      ttlv.structure(Tag.DefaultsInformation, [
        ttlv.structure(Tag.ObjectDefaults, [
          ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
          ttlv.structure(Tag.Attributes, [ttlv.structure(Tag.Attribute, [ttlv.textString(Tag.AttributeName, 'Rotate Interval'), ttlv.interval(Tag.RotateInterval, 90 * DAY)])]),
        ]),
        ttlv.structure(Tag.ObjectDefaults, [
          ttlv.enumeration(Tag.ObjectType, ObjectType.SecretData),
          ttlv.structure(Tag.Attributes, [
            ttlv.structure(Tag.Attribute, [ttlv.textString(Tag.AttributeName, 'Rotate Interval'), ttlv.interval(Tag.RotateInterval, 365 * DAY)]),
            ttlv.structure(Tag.Attribute, [ttlv.textString(Tag.AttributeName, 'Rotate Automatic'), ttlv.boolean(Tag.RotateAutomatic, true)]),
          ]),
        ]),
      ]),
    );
    expect(cryptoperiodDefaults(policyOf([{ deactivateAfter: 'P1Y' }]), [ObjectType.SymmetricKey])).toEqual([]);
    expect(cryptoperiodDefaults([], [ObjectType.SymmetricKey])).toEqual([]);
  });
});
