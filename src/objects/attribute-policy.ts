/**
 * The attribute policy: who may set, change and delete each attribute, whether it takes several
 * instances, and which object types it applies to. Every answer comes from the spec's Attribute
 * Rules tables (src/spec/generated/attributes.ts); handlers ask here and hold no rules of their own.
 *
 * The tables word a few client permissions as prose ("Yes, only while in Pre-Active state").
 * `CONDITIONAL_RULES` restates each of those; a unit test checks it covers every 'conditional'
 * row, so a regenerated table cannot add one silently.
 */
import { type TtlvItem } from '../../ttlv/types';
import { ObjectType, State } from '../spec/generated/enums';
import type { AttributeRule } from '../spec/generated/attributes';
import { attributeInVersion } from '../spec/registry';
import { attributeRule, dateAttribute } from '../kmip/attributes';
import type { ProtocolVersion } from '../spec/versions';
import type { StateValue } from '../lifecycle/state-machine';
import type { StoredAttribute } from '../store/object-store';
import { KmipError, Reason } from '../kmip/errors';

/** What a client asks to do to an attribute of an existing object. */
export type AttributeChange = 'add' | 'modify' | 'delete' | 'set';

/** The object an attribute change applies to. */
export interface AttributeTarget {
  readonly objectType: number;
  readonly state: number;
  readonly attributes: readonly StoredAttribute[];
}

interface ConditionalRule {
  /** States in which the client may give the attribute a value. */
  readonly states?: readonly StateValue[];
  /** Only while the attribute's current date lies in the future ("has not been reached"). */
  readonly untilReached?: boolean;
  /** Why the rule is conditional, for the error message. */
  readonly wording: string;
}

/**
 * The prose conditions of the tables' "Modifiable by client" / "Deletable by client" columns.
 * Usage Limits: only before Get Usage Allocation, which this server does not offer, so always.
 * Custom Attribute: "for client-created attributes" is `isClientCustom`.
 */
export const CONDITIONAL_RULES: Readonly<Record<string, ConditionalRule>> = {
  'Activation Date': { states: [State.PreActive], wording: 'only while Pre-Active' },
  'Deactivation Date': { states: [State.PreActive, State.Active], wording: 'only while Pre-Active or Active' },
  'Process Start Date': {
    states: [State.PreActive, State.Active],
    untilReached: true,
    wording: 'only while Pre-Active or Active and before the date is reached',
  },
  'Protect Stop Date': {
    states: [State.PreActive, State.Active],
    untilReached: true,
    wording: 'only while Pre-Active or Active and before the date is reached',
  },
  'Usage Limits': { wording: 'only before Get Usage Allocation' },
  'Custom Attribute': { wording: 'only for client-created attributes' },
};

/**
 * Attributes the tables mark "initially set by server" that nevertheless come from the request:
 * the server sets them from what the client asked for (Create needs the algorithm and length) or
 * from the object the client supplied (Register), so a template may carry them.
 */
const DESCRIBES_REQUEST: ReadonlySet<string> = new Set([
  'Object Type',
  'Cryptographic Algorithm',
  'Cryptographic Length',
  'Certificate Type',
  'Digital Signature Algorithm',
  'Key Format Type',
  'Opaque Data Type',
]);

const OBJECT_TYPE_KEYS = new Map<number, string>(Object.entries(ObjectType).map(([k, v]) => [v, k]));

function ruleOf(name: string): AttributeRule | undefined {
  const rule = attributeRule(name);
  return rule && rule.hasRules ? rule : undefined;
}

/**
 * Custom attributes: 'y-' ones (the 2.x vendor "y") are the server's; every other name outside the
 * spec's table ('x-', and 2.x Vendor Attributes of any vendor) is the client's.
 */
function isClientCustom(name: string): boolean {
  return attributeRule(name) === undefined && !name.startsWith('y-');
}

/** Several instances allowed. Custom attributes follow the 1.x Custom Attribute row (multiple: yes). */
export function isMultiValued(name: string): boolean {
  const rule = ruleOf(name);
  return rule === undefined || rule.multipleInstances !== 'no';
}

export function appliesTo(name: string, objectType: number): boolean {
  const rule = ruleOf(name);
  if (rule === undefined || rule.objectTypes === null || rule.objectTypes === 'all') return true;
  const key = OBJECT_TYPE_KEYS.get(objectType);
  return key !== undefined && (rule.objectTypes as readonly string[]).includes(key);
}

/** Attributes only the server ever sets: a client naming one in a new object's template is refused. */
export function isServerManaged(name: string): boolean {
  const rule = ruleOf(name);
  if (rule === undefined) return !isClientCustom(name);
  if (DESCRIBES_REQUEST.has(name)) return false;
  return !rule.initiallySetBy.includes('client') && rule.modifiableByClient === 'no';
}

function readOnly(name: string, why: string): KmipError {
  return new KmipError(Reason.AttributeReadOnly, `${name} ${why}`);
}

/**
 * `v`: the client's version, where the caller has not already refused attributes outside it
 * (handlers have not: the request adapter, src/kmip/request-adapter.ts, refuses them).
 */
function checkKnown(name: string, v: ProtocolVersion | undefined, objectType: number): void {
  const rule = attributeRule(name);
  if (v !== undefined && rule !== undefined && !attributeInVersion(rule, v)) {
    throw new KmipError(Reason.InvalidAttribute, `${name} does not exist in this protocol version`);
  }
  if (!appliesTo(name, objectType)) {
    throw new KmipError(Reason.InvalidAttribute, `${name} does not apply to this object type`);
  }
}

function checkConditions(name: string, target: AttributeTarget, nowSeconds: bigint): void {
  const cond = CONDITIONAL_RULES[name];
  if (cond === undefined) return;
  if (cond.states && !cond.states.includes(target.state as StateValue)) {
    throw new KmipError(Reason.WrongKeyLifecycleState, `${name} can be set ${cond.wording}`);
  }
  if (cond.untilReached) {
    const current = dateAttribute(target.attributes, name);
    if (current !== undefined && current <= nowSeconds) {
      throw new KmipError(Reason.WrongKeyLifecycleState, `${name} can be set ${cond.wording}`);
    }
  }
}

/**
 * May the client make this change? Throws the KMIP error a client expects when not. `exists`:
 * the object already has an instance of the attribute (an 'add' or 'set' then changes a value).
 */
export function checkClientChange(
  change: AttributeChange,
  name: string,
  target: AttributeTarget,
  v: ProtocolVersion | undefined,
  nowSeconds: bigint,
): void {
  checkKnown(name, v, target.objectType);
  const rule = ruleOf(name);
  if (rule === undefined) {
    if (!isClientCustom(name)) throw readOnly(name, 'is set by the server');
    return;
  }
  const exists = target.attributes.some((a) => a.name === name);
  if (change === 'delete') {
    if (rule.deletableByClient === 'no' || rule.deletableByClient === null) throw readOnly(name, 'cannot be deleted by a client');
    return;
  }
  // A value the object already has is modified; a new instance is added.
  const modifies = change === 'modify' || (change === 'set' && exists);
  if (modifies) {
    if (rule.modifiableByClient === 'no' || rule.modifiableByClient === null) throw readOnly(name, 'cannot be modified by a client');
  } else if (!rule.initiallySetBy.includes('client') && rule.modifiableByClient === 'no') {
    throw readOnly(name, 'is set by the server');
  }
  checkConditions(name, target, nowSeconds);
}

/**
 * The attributes a client supplies for a new object (Create, Register, Re-key templates): each
 * must exist in the client's version (`v`, as for checkClientChange), apply to the object type, and not be one only the server
 * sets. An Object Type attribute must agree with the request's.
 */
export function checkNewObjectAttributes(
  attrs: readonly { readonly name: string; readonly value: TtlvItem }[],
  v: ProtocolVersion | undefined,
  objectType: number,
): void {
  for (const a of attrs) {
    checkKnown(a.name, v, objectType);
    if (a.name === 'Object Type') {
      if (a.value.value !== objectType) throw new KmipError(Reason.InvalidField, 'Object Type does not match the request');
      continue;
    }
    if (isServerManaged(a.name)) throw readOnly(a.name, 'is set by the server');
    if (!isMultiValued(a.name) && attrs.filter((b) => b.name === a.name).length > 1) {
      throw new KmipError(Reason.AttributeSingleValued, `${a.name} takes one value`);
    }
  }
}
