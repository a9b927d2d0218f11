/**
 * Re-key: a replacement for a symmetric key, with a new Unique Identifier and fresh key material
 * of the same algorithm and length. The replacement takes the existing key's attributes except
 * those the spec lists for special handling (below); the two are linked (Replacement Object Link
 * on the existing key, Replaced Object Link on the new one), the Names move to the new key, and
 * the existing key keeps its state. Both writes are stored together.
 */
import { ItemType, ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { LinkType, ObjectType, Operation } from '../spec/generated/enums';
import { child } from '../kmip/tree';
import type { OperationHandler } from '../server/registry';
import type { StoredAttribute } from '../store/object-store';
import { KmipError, Reason } from '../server/errors';
import { generateSymmetricKey, wipe } from './create';
import { isServerManaged } from './attribute-policy';
import {
  addAttributeInstance,
  getAttribute,
  isDestroyed,
  loadObject,
  nowSeconds,
  requestedUid,
  requireOnline,
  touchLastChange,
  versionedError,
} from './managed-object';
import { checkClientAttributes, chooseProtectionStorage, prepareNewObject } from './new-object';
import { optInterval } from './read';
import { resolveRequestAttributes } from './templates';

/** Dates that move with the Offset; Activation Date sets the shift for the others. */
const SHIFTED_DATES = ['Process Start Date', 'Protect Stop Date', 'Deactivation Date'] as const;

/**
 * Not copied to the replacement: set anew by the server (dates, identifiers, digest, state), or
 * belonging to the existing key's history (revocation, compromise, destruction, archival, links).
 */
export const NOT_COPIED: ReadonlySet<string> = new Set([
  'Name',
  'Link',
  'Usage Limits',
  'Activation Date',
  ...SHIFTED_DATES,
  'Revocation Reason',
  'Compromise Date',
  'Compromise Occurrence Date',
  'Destroy Date',
  'Archive Date',
  'Fresh',
  'Random Number Generator',
]);

function dateOf(attrs: readonly StoredAttribute[], name: string): bigint | undefined {
  const v = getAttribute(attrs, name);
  return v?.type === ItemType.DateTime ? v.value : undefined;
}

function link(type: number, uid: string): TtlvItem {
  return ttlv.structure(Tag.Link, [ttlv.enumeration(Tag.LinkType, type), ttlv.textString(Tag.LinkedObjectIdentifier, uid)]);
}

/**
 * The replacement's dates. Without Offset they are the existing key's. With Offset, the new
 * Activation Date is the new Initial Date (now) plus Offset, and the other dates keep their
 * distance from it (spec: Re-key, "dates of the replacement key").
 */
export function replacementDates(existing: readonly StoredAttribute[], offset: number | undefined, now: bigint): StoredAttribute[] {
  const out: StoredAttribute[] = [];
  const put = (name: string, tag: number, when: bigint | undefined) => {
    if (when !== undefined) out.push({ name, index: 0, value: ttlv.dateTime(tag, when) });
  };
  const tags: Record<string, number> = {
    'Activation Date': Tag.ActivationDate,
    'Process Start Date': Tag.ProcessStartDate,
    'Protect Stop Date': Tag.ProtectStopDate,
    'Deactivation Date': Tag.DeactivationDate,
  };
  const activation = dateOf(existing, 'Activation Date');
  if (offset === undefined) {
    for (const name of ['Activation Date', ...SHIFTED_DATES]) put(name, tags[name] as number, dateOf(existing, name));
    return out;
  }
  const newActivation = now + BigInt(offset);
  put('Activation Date', Tag.ActivationDate, newActivation);
  const shift = activation === undefined ? undefined : newActivation - activation;
  for (const name of SHIFTED_DATES) {
    const d = dateOf(existing, name);
    put(name, tags[name] as number, d === undefined || shift === undefined ? undefined : d + shift);
  }
  return out;
}

/** Usage Limits: the Total carries over, and the replacement's Count starts again from it. */
export function usageLimits(existing: readonly StoredAttribute[]): StoredAttribute[] {
  const ul = getAttribute(existing, 'Usage Limits');
  if (ul?.type !== ItemType.Structure) return [];
  const total = child(ul, Tag.UsageLimitsTotal);
  const fields = ul.value.filter((c) => c.tag !== Tag.UsageLimitsCount);
  if (total?.type === ItemType.LongInteger) fields.push(ttlv.longInteger(Tag.UsageLimitsCount, total.value));
  return [{ name: 'Usage Limits', index: 0, value: ttlv.structure(Tag.UsageLimits, fields) }];
}

export const reKeyHandler: OperationHandler = {
  operation: Operation.ReKey,
  async handle(payload, ctx) {
    const uid = requestedUid(payload, ctx);
    const old = await loadObject(ctx, uid);
    if (old.objectType !== ObjectType.SymmetricKey) {
      throw versionedError(ctx, [Reason.IllegalObjectType, Reason.InvalidField], 'Re-key replaces symmetric keys only');
    }
    if (isDestroyed(old.state)) throw new KmipError(Reason.ObjectDestroyed, `object ${uid} is destroyed`);
    requireOnline(old);
    // Re-key errors (1.2 on): "the Key Value is not present on the server" is Key Value Not Present.
    const present = getAttribute(old.attributes, 'Key Value Present');
    if (present?.type === ItemType.Boolean && !present.value) {
      throw new KmipError(Reason.KeyValueNotPresent, `object ${uid} was registered without its Key Value: the server holds its attributes only`);
    }
    const offset = optInterval(payload, Tag.Offset);
    const requested = await resolveRequestAttributes(payload, ctx);
    checkClientAttributes(requested, ctx, ObjectType.SymmetricKey);
    const alg = getAttribute(old.attributes, 'Cryptographic Algorithm');
    const len = getAttribute(old.attributes, 'Cryptographic Length');
    if (alg?.type !== ItemType.Enumeration || len?.type !== ItemType.Integer) {
      throw new KmipError(Reason.MissingData, 'the existing key has no Cryptographic Algorithm and Length to repeat');
    }
    const now = nowSeconds(ctx);
    const inherited: StoredAttribute[] = [
      // Algorithm and length are among the copied ones: the policy counts them as the request's.
      ...old.attributes.filter((a) => !NOT_COPIED.has(a.name) && !isServerManaged(a.name)),
      ...old.attributes.filter((a) => a.name === 'Name'),
      ...replacementDates(old.attributes, offset, now),
      ...usageLimits(old.attributes),
      { name: 'Link', index: 0, value: link(LinkType.ReplacedObjectLink, uid) },
    ];
    const generated = generateSymmetricKey(alg.value, len.value, { replacing: true });
    try {
      const record = await prepareNewObject(ctx, {
        objectType: ObjectType.SymmetricKey,
        body: generated.body,
        clientAttributes: requested,
        derived: generated.derived,
        inherited,
        originalCreation: true,
        generated: true,
        protectionStorage: chooseProtectionStorage(payload),
        owner: old.owner,
      });
      // The existing key: its Names go to the replacement, a link points to it; its state stays.
      let oldAttrs = old.attributes.filter((a) => a.name !== 'Name');
      oldAttrs = touchLastChange(ctx, addAttributeInstance(oldAttrs, 'Link', link(LinkType.ReplacementObjectLink, record.uid)));
      await ctx.store.writeBatch([{ insert: record }, { uid, update: { attributes: oldAttrs, expectedRevision: old.revision } }]);
      ctx.idPlaceholder = record.uid;
      ctx.touched.push(record.uid);
      return [ttlv.textString(Tag.UniqueIdentifier, record.uid)];
    } finally {
      wipe(generated.body);
    }
  },
};
