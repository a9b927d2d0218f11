/**
 * The gate every cryptographic operation passes before it touches key material: the caller may
 * see the object, the object is of a type that serves this use, its lifecycle state and its
 * Protect Stop / Process Start dates allow it, its Cryptographic Usage Mask has the use's bit, and
 * (for protecting uses) its Usage Limits are not exhausted. Only then is the body decrypted from
 * the HSM-wrapped store.
 */
import { ItemType, ttlv, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { CryptographicUsageMask, ObjectType, UsageLimitsUnit } from '../spec/generated/enums';
import { child, opt } from '../kmip/tree';
import { isAllowed, stateName, type StateValue } from '../lifecycle/state-machine';
import type { ManagedObjectRecord } from '../store/object-store';
import type { OpContext } from './context';
import { KmipError, Reason } from '../kmip/errors';
import { certificateKeyBlock } from '../crypto/certificate';
import { keyBlockOf, requireKeyValue } from './key-block';
import { getAttribute, isDestroyed, loadObject, nowSeconds, readBody, requestedUid, requireOnline, setAttribute } from './managed-object';
import { dateAttribute } from '../kmip/attributes';

export type KeyUse = 'encrypt' | 'decrypt' | 'sign' | 'verify' | 'macGenerate' | 'macVerify';

interface UseRule {
  readonly mask: number;
  /** protect: needs Active and before Protect Stop Date; process: also Deactivated/Compromised, after Process Start Date. */
  readonly lifecycle: 'protect' | 'process';
  readonly objectTypes: readonly number[];
  readonly label: string;
}

const USE_RULES: Readonly<Record<KeyUse, UseRule>> = {
  encrypt: { mask: CryptographicUsageMask.Encrypt, lifecycle: 'protect', objectTypes: [ObjectType.SymmetricKey, ObjectType.PublicKey, ObjectType.Certificate], label: 'Encrypt' },
  decrypt: { mask: CryptographicUsageMask.Decrypt, lifecycle: 'process', objectTypes: [ObjectType.SymmetricKey, ObjectType.PrivateKey], label: 'Decrypt' },
  sign: { mask: CryptographicUsageMask.Sign, lifecycle: 'protect', objectTypes: [ObjectType.PrivateKey], label: 'Sign' },
  verify: { mask: CryptographicUsageMask.Verify, lifecycle: 'process', objectTypes: [ObjectType.PublicKey, ObjectType.Certificate], label: 'Verify' },
  macGenerate: { mask: CryptographicUsageMask.MACGenerate, lifecycle: 'protect', objectTypes: [ObjectType.SymmetricKey], label: 'MAC Generate' },
  macVerify: { mask: CryptographicUsageMask.MACVerify, lifecycle: 'process', objectTypes: [ObjectType.SymmetricKey], label: 'MAC Verify' },
};

export interface UsableKey {
  readonly rec: ManagedObjectRecord;
  readonly uid: string;
  /** The decrypted body; its Byte Strings are in ctx.secrets and zeroed after the response. */
  readonly body: TtlvStructure;
  readonly block: TtlvStructure;
  /** The key's Cryptographic Algorithm (block, else attribute). */
  readonly algorithm: number | undefined;
}

/** State and dates, per the use's lifecycle rule (SP 800-57 originator and recipient periods). */
function checkLifecycle(ctx: OpContext, rec: ManagedObjectRecord, rule: UseRule): void {
  const state = rec.state as StateValue;
  if (!isAllowed(state, rule.lifecycle)) {
    throw new KmipError(Reason.WrongKeyLifecycleState, `${rule.label} is not allowed on an object in state ${stateName(state)}`);
  }
  const now = nowSeconds(ctx);
  if (rule.lifecycle === 'protect') {
    const stop = dateAttribute(rec.attributes, 'Protect Stop Date');
    if (stop !== undefined && stop <= now) throw new KmipError(Reason.WrongKeyLifecycleState, `the key's Protect Stop Date has passed`);
  } else {
    const start = dateAttribute(rec.attributes, 'Process Start Date');
    if (start !== undefined && start > now) throw new KmipError(Reason.WrongKeyLifecycleState, `the key's Process Start Date has not come`);
  }
}

function checkUsageMask(rec: ManagedObjectRecord, rule: UseRule): void {
  const v = getAttribute(rec.attributes, 'Cryptographic Usage Mask');
  // No mask is no permission, as Check treats it.
  const bits = v?.type === ItemType.Integer ? v.value : 0;
  if ((bits & rule.mask) === 0) {
    throw new KmipError(Reason.IncompatibleCryptographicUsageMask, `the key's Cryptographic Usage Mask does not allow ${rule.label}`);
  }
}

/** Loads the key (or certificate) named by the request and checks it may serve `use`; decrypts its body. */
export async function loadKeyFor(ctx: OpContext, payload: TtlvStructure, use: KeyUse): Promise<UsableKey> {
  const rule = USE_RULES[use];
  const uid = requestedUid(payload, ctx);
  const rec = await loadObject(ctx, uid);
  if (isDestroyed(rec.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${uid} is destroyed`);
  requireOnline(rec);
  if (!rule.objectTypes.includes(rec.objectType)) {
    throw new KmipError(Reason.InvalidObjectType, `${rule.label} cannot use an object of this type`);
  }
  checkLifecycle(ctx, rec, rule);
  checkUsageMask(rec, rule);
  const body = await readBody(ctx, rec);
  // A certificate serves through its public key.
  const certValue = rec.objectType === ObjectType.Certificate ? opt.bytes(body, Tag.CertificateValue) : undefined;
  const block = certValue ? certificateKeyBlock(certValue) : keyBlockOf(body);
  if (!block) throw new KmipError(Reason.InvalidObjectType, `object ${uid} holds no key`);
  requireKeyValue(block, uid);
  if (child(block, Tag.KeyWrappingData)) {
    throw new KmipError(Reason.CryptographicFailure, `object ${uid} is stored wrapped and cannot be used for ${rule.label}`);
  }
  const algAttr = getAttribute(rec.attributes, 'Cryptographic Algorithm');
  const algorithm = opt.enumeration(block, Tag.CryptographicAlgorithm) ?? (algAttr?.type === ItemType.Enumeration ? algAttr.value : undefined);
  return { rec, uid, body, block, algorithm };
}

/**
 * Usage Limits (spec: the bytes or objects a key may protect). The count starts at the total and
 * goes down with every protecting use; a use that would take it below zero is refused and leaves
 * it unchanged. The OASIS case CS-BC-M-7 expects Permission Denied in 1.x and 2.x alike.
 */
export async function consumeUsage(ctx: OpContext, uid: string, bytes: number): Promise<void> {
  // Re-read right before the write, so concurrent uses count against the latest value; one that
  // commits in between moves the revision on and this write is refused (CONFLICT).
  const rec = await ctx.store.get(uid);
  const limits = rec ? getAttribute(rec.attributes, 'Usage Limits') : undefined;
  if (!rec || limits?.type !== ItemType.Structure) return;
  const total = longOf(limits, Tag.UsageLimitsTotal);
  const count = longOf(limits, Tag.UsageLimitsCount) ?? total;
  if (count === undefined) return;
  const unit = opt.enumeration(limits, Tag.UsageLimitsUnit);
  const need = unit === UsageLimitsUnit.Object ? 1n : BigInt(bytes);
  if (need > count) throw new KmipError(Reason.PermissionDenied, 'the key has reached its Usage Limits');
  const items = limits.value.filter((c) => c.tag !== Tag.UsageLimitsCount);
  const updated = ttlv.structure(Tag.UsageLimits, [...items, ttlv.longInteger(Tag.UsageLimitsCount, count - need)]);
  await ctx.store.update(uid, { attributes: setAttribute(rec.attributes, 'Usage Limits', updated), expectedRevision: rec.revision });
}

function longOf(s: TtlvStructure, tag: number): bigint | undefined {
  const item = child(s, tag);
  if (item === undefined) return undefined;
  if (item.type === ItemType.LongInteger) return item.value;
  if (item.type === ItemType.Integer) return BigInt(item.value);
  throw new KmipError(Reason.InvalidField, 'Usage Limits values must be Long Integers');
}

/** Request Byte Strings that carry plaintext or key-derived data: zeroed after the response. */
export function keepSecret(ctx: OpContext, ...buffers: Uint8Array[]): void {
  for (const b of buffers) ctx.secrets.push(b);
}
