/**
 * The server-wide cryptoperiod policy (config `cryptoperiods`): per algorithm, object type or
 * Object Group, the Deactivation Date a new object gets and the KMIP 2.1 Rotate Interval and
 * Rotate Automatic the scheduler rotates it by. Applied once, when an object is created or
 * registered; a client's own value wins unless the rule says `max`.
 */
import { ItemType, ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { ENUM_INFO, type EnumName } from '../spec/generated/enums';
import { canonicalAttributeList } from '../kmip/attributes';
import type { StoredAttribute } from '../store/object-store';
import { KmipError, Reason } from '../kmip/errors';
import { getAttribute, setAttribute } from './managed-object';

export interface CryptoperiodRule {
  readonly match: { readonly algorithm?: number; readonly objectType?: number; readonly objectGroup?: string };
  /** Seconds from the Activation Date (or creation, when the object has none) to its Deactivation Date. */
  readonly deactivateAfter?: number;
  /** Rotate Interval, seconds. */
  readonly rotateInterval?: number;
  /** Rotate Automatic set with the interval (default true: an interval nobody acts on is no policy). */
  readonly rotateAutomatic: boolean;
  /** The rule's periods are maxima: a client's longer value is cut to them. */
  readonly max: boolean;
}

/** First matching rule wins, so an operator lists the narrow rules before the broad ones. */
export type CryptoperiodPolicy = readonly CryptoperiodRule[];

/** Rotate Interval is an Interval: an unsigned 32-bit count of seconds. */
const MAX_INTERVAL_SECONDS = 0xffffffff;

const UNIT_SECONDS: Readonly<Record<string, number>> = { Y: 365 * 86400, M: 30 * 86400, W: 7 * 86400, D: 86400, H: 3600, TM: 60, S: 1 };

/**
 * An ISO 8601 duration ("P1Y", "P90D", "PT12H") in seconds. Years and months are fixed lengths
 * (365 and 30 days): a cryptoperiod is a bound, not a calendar appointment, and a fixed length
 * is the same for every object whatever day it was made.
 */
export function parseDuration(text: string): number | undefined {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) return undefined;
  const units = ['Y', 'M', 'W', 'D', 'H', 'TM', 'S'];
  let total = 0;
  units.forEach((u, i) => (total += Number(m[i + 1] ?? 0) * UNIT_SECONDS[u]!));
  return total;
}

/** An enumeration value by its spec name ("Symmetric Key") or its XML name ("SymmetricKey"). */
function enumByName(name: EnumName, text: string): number | undefined {
  const plain = (s: string) => s.replace(/[\s_-]/g, '').toLowerCase();
  const wanted = plain(text);
  return ENUM_INFO[name].values.find((v) => plain(v.xmlName) === wanted || plain(v.name) === wanted)?.value;
}

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
type Fail = (key: string, message: string) => never;

function isObject(v: unknown): v is { [k: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function onlyKeys(obj: { [k: string]: Json }, allowed: readonly string[], key: string, fail: Fail): void {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) fail(`${key}.${k}`, `unknown key (allowed: ${allowed.join(', ')})`);
}

function duration(v: Json | undefined, key: string, fail: Fail, maxSeconds?: number): number | undefined {
  if (v === undefined) return undefined;
  const s = typeof v === 'string' ? parseDuration(v) : undefined;
  if (s === undefined || s <= 0) return fail(key, 'must be an ISO 8601 duration above zero, e.g. "P1Y", "P90D", "PT12H"');
  if (maxSeconds !== undefined && s > maxSeconds) return fail(key, `is longer than an Interval holds (${maxSeconds} seconds)`);
  return s;
}

function flag(v: Json | undefined, key: string, fail: Fail): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') return fail(key, 'must be true or false');
  return v;
}

/** `cryptoperiods` from the configuration file; `fail` throws the configuration's error naming the key. */
export function parseCryptoperiods(raw: unknown, fail: Fail): CryptoperiodPolicy {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) return fail('cryptoperiods', 'must be an array of rules ({ match, deactivateAfter, rotateInterval, ... })');
  return raw.map((entry: Json, i): CryptoperiodRule => {
    const key = `cryptoperiods[${i}]`;
    if (!isObject(entry)) return fail(key, 'must be an object');
    onlyKeys(entry, ['match', 'deactivateAfter', 'rotateInterval', 'rotateAutomatic', 'max'], key, fail);
    const matchRaw = entry['match'] ?? {};
    if (!isObject(matchRaw)) return fail(`${key}.match`, 'must be an object (algorithm, objectType, objectGroup)');
    onlyKeys(matchRaw, ['algorithm', 'objectType', 'objectGroup'], `${key}.match`, fail);
    const named = (k: string, enumName: EnumName): number | undefined => {
      const v = matchRaw[k];
      if (v === undefined) return undefined;
      const value = typeof v === 'string' ? enumByName(enumName, v) : undefined;
      if (value === undefined) return fail(`${key}.match.${k}`, `must name a ${enumName} by its spec name, e.g. "${ENUM_INFO[enumName].values[0]!.name}"`);
      return value;
    };
    const algorithm = named('algorithm', 'CryptographicAlgorithm');
    const objectType = named('objectType', 'ObjectType');
    const group = matchRaw['objectGroup'];
    if (group !== undefined && (typeof group !== 'string' || group === '')) return fail(`${key}.match.objectGroup`, 'must be a non-empty string');
    const deactivateAfter = duration(entry['deactivateAfter'], `${key}.deactivateAfter`, fail);
    const rotateInterval = duration(entry['rotateInterval'], `${key}.rotateInterval`, fail, MAX_INTERVAL_SECONDS);
    if (deactivateAfter === undefined && rotateInterval === undefined) return fail(key, 'gives neither deactivateAfter nor rotateInterval: the rule would do nothing');
    const rotateAutomatic = flag(entry['rotateAutomatic'], `${key}.rotateAutomatic`, fail);
    if (rotateAutomatic !== undefined && rotateInterval === undefined) return fail(`${key}.rotateAutomatic`, 'needs rotateInterval: it says whether the interval is acted on');
    return {
      match: { ...(algorithm !== undefined ? { algorithm } : {}), ...(objectType !== undefined ? { objectType } : {}), ...(group !== undefined ? { objectGroup: group } : {}) },
      ...(deactivateAfter !== undefined ? { deactivateAfter } : {}),
      ...(rotateInterval !== undefined ? { rotateInterval } : {}),
      rotateAutomatic: rotateAutomatic ?? true,
      max: flag(entry['max'], `${key}.max`, fail) ?? false,
    };
  });
}

function matches(rule: CryptoperiodRule, objectType: number, attrs: readonly StoredAttribute[]): boolean {
  const { algorithm, objectType: type, objectGroup } = rule.match;
  if (type !== undefined && type !== objectType) return false;
  if (algorithm !== undefined) {
    const alg = getAttribute(attrs, 'Cryptographic Algorithm');
    if (alg?.type !== ItemType.Enumeration || alg.value !== algorithm) return false;
  }
  if (objectGroup !== undefined) {
    if (!attrs.some((a) => a.name === 'Object Group' && a.value.type === ItemType.TextString && a.value.value === objectGroup)) return false;
  }
  return true;
}

/** The rule a new object of `objectType` with these attributes falls under, if any. */
export function cryptoperiodRuleFor(policy: CryptoperiodPolicy, objectType: number, attrs: readonly StoredAttribute[]): CryptoperiodRule | undefined {
  return policy.find((r) => matches(r, objectType, attrs));
}

/** The latest Deactivation Date a rule allows: its span from the Activation Date, else from `from` (creation). */
function deactivationLimit(deactivateAfter: number, attrs: readonly StoredAttribute[], from: bigint): bigint {
  const activation = getAttribute(attrs, 'Activation Date');
  return (activation?.type === ItemType.DateTime ? activation.value : from) + BigInt(deactivateAfter);
}

function dateOf(attrs: readonly StoredAttribute[], name: string): bigint | undefined {
  const v = getAttribute(attrs, name);
  return v?.type === ItemType.DateTime ? v.value : undefined;
}

/**
 * An attribute change (Add, Modify, Set, Delete Attribute) that moves the Deactivation Date or the
 * Activation Date of an object a `max` rule covers, before or after the change: a Deactivation Date
 * past the rule's limit, or none at all, is refused, so the limit bounds the key's life and not only
 * its first value. A change that leaves both dates as they were passes, so a rule tightened after
 * the object was made does not block its other attributes.
 */
export function checkCryptoperiodChange(policy: CryptoperiodPolicy, objectType: number, before: readonly StoredAttribute[], after: readonly StoredAttribute[]): void {
  if (dateOf(before, 'Deactivation Date') === dateOf(after, 'Deactivation Date') && dateOf(before, 'Activation Date') === dateOf(after, 'Activation Date')) return;
  const created = dateOf(after, 'Initial Date') ?? 0n;
  for (const attrs of [before, after]) {
    const rule = cryptoperiodRuleFor(policy, objectType, attrs);
    if (!rule?.max || rule.deactivateAfter === undefined) continue;
    const limit = deactivationLimit(rule.deactivateAfter, after, created);
    const deactivation = dateOf(after, 'Deactivation Date');
    if (deactivation === undefined || deactivation > limit) {
      throw new KmipError(
        Reason.InvalidAttributeValue,
        `the server's cryptoperiod policy allows this object a Deactivation Date no later than ${new Date(Number(limit) * 1000).toISOString()}`,
      );
    }
  }
}

/**
 * A new object's attributes with the policy's dates and rotation set. `now`: seconds since the
 * epoch. The cryptoperiod runs from the Activation Date the object was given, else from now.
 */
export function applyCryptoperiod(policy: CryptoperiodPolicy, objectType: number, attrs: StoredAttribute[], now: bigint): StoredAttribute[] {
  const rule = cryptoperiodRuleFor(policy, objectType, attrs);
  if (rule === undefined) return attrs;
  let out = attrs;
  if (rule.deactivateAfter !== undefined) {
    const limit = deactivationLimit(rule.deactivateAfter, out, now);
    const own = getAttribute(out, 'Deactivation Date');
    if (own?.type !== ItemType.DateTime || (rule.max && own.value > limit)) out = setAttribute(out, 'Deactivation Date', ttlv.dateTime(Tag.DeactivationDate, limit));
  }
  if (rule.rotateInterval !== undefined) {
    const own = getAttribute(out, 'Rotate Interval');
    if (own?.type !== ItemType.Interval || (rule.max && own.value > rule.rotateInterval)) out = setAttribute(out, 'Rotate Interval', ttlv.interval(Tag.RotateInterval, rule.rotateInterval));
    const auto = getAttribute(out, 'Rotate Automatic');
    // Under `max` the interval is the operator's bound, so the client cannot switch it off.
    if (rule.rotateAutomatic && (auto?.type !== ItemType.Boolean || (rule.max && !auto.value))) out = setAttribute(out, 'Rotate Automatic', ttlv.boolean(Tag.RotateAutomatic, true));
  }
  return out;
}

/**
 * Query Defaults Information (KMIP 2.0/2.1 Defaults Information): one Object Defaults per object
 * type with the Rotate Interval and Rotate Automatic the policy gives every object of that type.
 * Object Defaults is keyed by Object Type alone, so a rule narrowed by algorithm or group has no
 * place there, and a Deactivation Date default is a span, not the Date-Time the attribute holds.
 */
export function cryptoperiodDefaults(policy: CryptoperiodPolicy, objectTypes: readonly number[]): TtlvItem[] {
  const out: TtlvItem[] = [];
  for (const type of objectTypes) {
    const rule = policy.find((r) => r.match.algorithm === undefined && r.match.objectGroup === undefined && (r.match.objectType ?? type) === type);
    if (rule?.rotateInterval === undefined) continue;
    const attrs: { name: string; value: TtlvItem }[] = [{ name: 'Rotate Interval', value: ttlv.interval(Tag.RotateInterval, rule.rotateInterval) }];
    if (rule.rotateAutomatic) attrs.push({ name: 'Rotate Automatic', value: ttlv.boolean(Tag.RotateAutomatic, true) });
    out.push(ttlv.structure(Tag.ObjectDefaults, [ttlv.enumeration(Tag.ObjectType, type), canonicalAttributeList(attrs)]));
  }
  return out.length === 0 ? [] : [ttlv.structure(Tag.DefaultsInformation, out)];
}
