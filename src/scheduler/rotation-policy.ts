/**
 * The server's rotation policies (config `rotation.policies`): automatic rotation for objects whose
 * clients cannot ask for it (KMIP 1.x has no Rotate attributes), by Object Group or Object Type.
 * The first policy that matches an object applies; an object's own Rotate Automatic true with a
 * Rotate Interval (2.1) takes its interval and offset from the object, and the old-key handling
 * from the policy that matches it, if any. Symmetric keys rotate by Re-key, private keys (with
 * their public keys) by Re-key Key Pair; a policy without objectType names symmetric keys only,
 * so a policy written before key pairs rotated does not start replacing published public keys.
 */
import { ItemType } from '../../ttlv/types';
import { ObjectType } from '../spec/generated/enums';
import type { ManagedObjectRecord } from '../store/object-store';

export interface RotationPolicy {
  /** For the audit trail: `objectGroup=payments` or `objectType=SymmetricKey`. */
  readonly name: string;
  readonly objectGroup?: string;
  /** Absent: symmetric keys (the policy's group alone never selects key pairs). */
  readonly objectType?: number;
  readonly intervalSeconds: number;
  /** Re-key's Offset: the replacement's Activation Date is the rotation's time plus this. */
  readonly offsetSeconds?: number;
  /** What becomes of the replaced key: it keeps its State (Re-key's rule), or deactivates. */
  readonly oldKey: 'keep' | 'deactivate';
  /** With oldKey `deactivate`: how long after the rotation (default at once). */
  readonly deactivateAfterSeconds?: number;
}

export function policyFor(policies: readonly RotationPolicy[], rec: Pick<ManagedObjectRecord, 'objectType' | 'attributes'>): RotationPolicy | undefined {
  const groups = rec.attributes.filter((a) => a.name === 'Object Group').map((a) => (a.value.type === ItemType.TextString ? a.value.value : undefined));
  return policies.find((p) => (p.objectGroup === undefined || groups.includes(p.objectGroup)) && (p.objectType ?? ObjectType.SymmetricKey) === rec.objectType);
}

/** A policy the configuration cannot take: `key` names where (config.ts turns it into a ConfigError). */
export class RotationPolicyError extends Error {
  override readonly name = 'RotationPolicyError';
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(message);
  }
}

const DURATION = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;
const UNIT_SECONDS = [365 * 86400, 30 * 86400, 7 * 86400, 86400, 3600, 60, 1];

/** Seconds from a number of seconds or an ISO 8601 duration ("P90D", "PT12H"; a year is 365 days, a month 30). */
export function durationSeconds(v: unknown, key: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  const m = typeof v === 'string' && v !== 'P' && !v.endsWith('T') ? DURATION.exec(v) : null;
  if (m === null) throw new RotationPolicyError(`${key}`, `expected whole seconds or an ISO 8601 duration such as "P90D", got ${JSON.stringify(v)}`);
  const s = UNIT_SECONDS.reduce((sum, unit, i) => sum + unit * Number(m[i + 1] ?? 0), 0);
  if (!Number.isSafeInteger(s) || s > 0x7fffffff) throw new RotationPolicyError(`${key}`, `${v} is longer than a KMIP Interval holds`);
  return s;
}

/** The types the scheduler can replace, each by its own operation: Re-key, Re-key Key Pair. */
const ROTATING_TYPES: Readonly<Record<string, number>> = { SymmetricKey: ObjectType.SymmetricKey, PrivateKey: ObjectType.PrivateKey };
const POLICY_KEYS = new Set(['objectGroup', 'objectType', 'interval', 'offset', 'oldKey', 'deactivateAfter']);

/** `rotation.policies` of the configuration, checked; errors name the key. */
export function parseRotationPolicies(raw: unknown, key = 'rotation.policies'): RotationPolicy[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new RotationPolicyError(`${key}`, `expected an array of policies`);
  return raw.map((p: unknown, i) => {
    const k = `${key}[${i}]`;
    if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new RotationPolicyError(`${k}`, `expected an object`);
    const o = p as Record<string, unknown>;
    for (const name of Object.keys(o)) if (!POLICY_KEYS.has(name)) throw new RotationPolicyError(`${k}.${name}`, `unknown key (allowed: ${[...POLICY_KEYS].join(', ')})`);
    if (o.objectGroup !== undefined && (typeof o.objectGroup !== 'string' || o.objectGroup === '')) throw new RotationPolicyError(`${k}.objectGroup`, `expected a non-empty string`);
    let objectType: number | undefined;
    if (o.objectType !== undefined) {
      objectType = typeof o.objectType === 'string' && Object.hasOwn(ROTATING_TYPES, o.objectType) ? ROTATING_TYPES[o.objectType] : undefined;
      if (objectType === undefined) {
        throw new RotationPolicyError(`${k}.objectType`, `only "SymmetricKey" (Re-key) and "PrivateKey" (Re-key Key Pair, its public key with it) rotate, got ${JSON.stringify(o.objectType)}`);
      }
    }
    if (o.objectGroup === undefined && objectType === undefined) throw new RotationPolicyError(`${k}`, `give objectGroup or objectType (a policy for every object is not allowed)`);
    if (o.interval === undefined) throw new RotationPolicyError(`${k}.interval`, `required`);
    const intervalSeconds = durationSeconds(o.interval, `${k}.interval`);
    if (intervalSeconds === 0) throw new RotationPolicyError(`${k}.interval`, `must be longer than zero`);
    const oldKey = o.oldKey ?? 'keep';
    if (oldKey !== 'keep' && oldKey !== 'deactivate') throw new RotationPolicyError(`${k}.oldKey`, `expected "keep" or "deactivate"`);
    if (o.deactivateAfter !== undefined && oldKey !== 'deactivate') throw new RotationPolicyError(`${k}.deactivateAfter`, `only with oldKey "deactivate"`);
    const name = [o.objectGroup !== undefined ? `objectGroup=${String(o.objectGroup)}` : '', objectType !== undefined ? `objectType=${String(o.objectType)}` : ''].filter(Boolean).join(',');
    return {
      name,
      ...(o.objectGroup !== undefined ? { objectGroup: o.objectGroup as string } : {}),
      ...(objectType !== undefined ? { objectType } : {}),
      intervalSeconds,
      ...(o.offset !== undefined ? { offsetSeconds: durationSeconds(o.offset, `${k}.offset`) } : {}),
      oldKey,
      ...(o.deactivateAfter !== undefined ? { deactivateAfterSeconds: durationSeconds(o.deactivateAfter, `${k}.deactivateAfter`) } : {}),
    };
  });
}
