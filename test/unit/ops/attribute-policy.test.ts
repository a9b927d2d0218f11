/**
 * The attribute policy answers from the spec's rules table; the prose conditions it restates
 * must cover every 'conditional' row, so a regenerated table cannot slip one past it.
 */
import { ttlv } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { ObjectType, ResultReason, State } from '../../../src/spec/generated/enums';
import { ATTRIBUTES } from '../../../src/spec/generated/attributes';
import {
  CONDITIONAL_RULES,
  appliesTo,
  checkClientChange,
  checkNewObjectAttributes,
  isMultiValued,
  isServerManaged,
  type AttributeTarget,
} from '../../../src/objects/attribute-policy';
import { KmipError } from '../../../src/kmip/errors';

const V14 = { major: 1, minor: 4 };
const V21 = { major: 2, minor: 1 };
const NOW = 1_700_000_000n;

function reasonOf(f: () => void): number | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (e instanceof KmipError) return e.reason;
    throw e;
  }
}

function key(state: number, attributes: AttributeTarget['attributes'] = []): AttributeTarget {
  return { objectType: ObjectType.SymmetricKey, state, attributes };
}

test('every conditional client permission in the table has its condition restated', () => {
  const conditional = ATTRIBUTES.filter((a) => a.modifiableByClient === 'conditional' || a.deletableByClient === 'conditional').map((a) => a.name);
  expect(conditional.length).toBeGreaterThan(0);
  for (const name of conditional) expect(Object.keys(CONDITIONAL_RULES)).toContain(name);
});

test('single or multi-valued, and applicability, come from the table', () => {
  expect(isMultiValued('Name')).toBe(true);
  expect(isMultiValued('Link')).toBe(true);
  expect(isMultiValued('Description')).toBe(false);
  expect(isMultiValued('x-anything')).toBe(true);
  expect(appliesTo('Certificate Length', ObjectType.Certificate)).toBe(true);
  expect(appliesTo('Certificate Length', ObjectType.SymmetricKey)).toBe(false);
  expect(appliesTo('x-anything', ObjectType.OpaqueObject)).toBe(true);
});

test('server-managed attributes: what only the server sets, not what the request describes', () => {
  for (const n of ['State', 'Digest', 'Initial Date', 'Lease Time', 'Unique Identifier', 'Always Sensitive', 'y-server']) {
    expect(isServerManaged(n)).toBe(true);
  }
  for (const n of ['Cryptographic Algorithm', 'Cryptographic Length', 'Fresh', 'Sensitive', 'Name', 'x-client', 'Activation Date']) {
    expect(isServerManaged(n)).toBe(false);
  }
});

test('client changes: read-only, lifecycle conditions, deletion, custom ownership', () => {
  const date = (name: string, tag: number, t: bigint) => ({ name, index: 0, value: ttlv.dateTime(tag, t) });
  expect(reasonOf(() => checkClientChange('modify', 'State', key(State.Active), V21, NOW))).toBe(ResultReason.AttributeReadOnly);
  expect(reasonOf(() => checkClientChange('modify', 'Activation Date', key(State.Active), V21, NOW))).toBe(ResultReason.WrongKeyLifecycleState);
  expect(reasonOf(() => checkClientChange('modify', 'Activation Date', key(State.PreActive), V21, NOW))).toBeUndefined();
  expect(reasonOf(() => checkClientChange('modify', 'Deactivation Date', key(State.Active), V21, NOW))).toBeUndefined();
  expect(reasonOf(() => checkClientChange('modify', 'Deactivation Date', key(State.Deactivated), V21, NOW))).toBe(ResultReason.WrongKeyLifecycleState);
  // Protect Stop Date: only until it is reached.
  const reached = key(State.Active, [date('Protect Stop Date', Tag.ProtectStopDate, NOW - 1n)]);
  const ahead = key(State.Active, [date('Protect Stop Date', Tag.ProtectStopDate, NOW + 100n)]);
  expect(reasonOf(() => checkClientChange('modify', 'Protect Stop Date', reached, V21, NOW))).toBe(ResultReason.WrongKeyLifecycleState);
  expect(reasonOf(() => checkClientChange('modify', 'Protect Stop Date', ahead, V21, NOW))).toBeUndefined();
  expect(reasonOf(() => checkClientChange('delete', 'Cryptographic Usage Mask', key(State.Active), V21, NOW))).toBe(ResultReason.AttributeReadOnly);
  expect(reasonOf(() => checkClientChange('delete', 'Name', key(State.Active), V21, NOW))).toBeUndefined();
  // Cryptographic Usage Mask: the client may give it a first value, not change it.
  expect(reasonOf(() => checkClientChange('add', 'Cryptographic Usage Mask', key(State.Active), V21, NOW))).toBeUndefined();
  const withMask = key(State.Active, [{ name: 'Cryptographic Usage Mask', index: 0, value: ttlv.integer(Tag.CryptographicUsageMask, 4) }]);
  expect(reasonOf(() => checkClientChange('set', 'Cryptographic Usage Mask', withMask, V21, NOW))).toBe(ResultReason.AttributeReadOnly);
  expect(reasonOf(() => checkClientChange('add', 'y-owned', key(State.Active), V21, NOW))).toBe(ResultReason.AttributeReadOnly);
  expect(reasonOf(() => checkClientChange('delete', 'x-mine', key(State.Active), V21, NOW))).toBeUndefined();
  expect(reasonOf(() => checkClientChange('add', 'Quantum Safe', key(State.Active), V14, NOW))).toBe(ResultReason.InvalidAttribute);
  expect(reasonOf(() => checkClientChange('add', 'Certificate Type', key(State.Active), V21, NOW))).toBe(ResultReason.InvalidAttribute);
});

test('new-object attributes: server-set ones, repeated single values and a contradicting Object Type are refused', () => {
  const a = (name: string, value: ReturnType<typeof ttlv.integer> | ReturnType<typeof ttlv.enumeration> | ReturnType<typeof ttlv.textString>) => ({ name, value });
  expect(reasonOf(() => checkNewObjectAttributes([a('Cryptographic Length', ttlv.integer(Tag.CryptographicLength, 256))], V21, ObjectType.SymmetricKey))).toBeUndefined();
  expect(reasonOf(() => checkNewObjectAttributes([a('State', ttlv.enumeration(Tag.State, 1))], V21, ObjectType.SymmetricKey))).toBe(ResultReason.AttributeReadOnly);
  const twice = [a('Description', ttlv.textString(Tag.Description, 'a')), a('Description', ttlv.textString(Tag.Description, 'b'))];
  expect(reasonOf(() => checkNewObjectAttributes(twice, V21, ObjectType.SymmetricKey))).toBe(ResultReason.AttributeSingleValued);
  const type = [a('Object Type', ttlv.enumeration(Tag.ObjectType, ObjectType.SecretData))];
  expect(reasonOf(() => checkNewObjectAttributes(type, V21, ObjectType.SymmetricKey))).toBe(ResultReason.InvalidField);
});
