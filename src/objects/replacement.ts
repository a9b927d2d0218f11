/** What a replacement key (Re-key, Re-key Key Pair, Re-certify) takes over from the object it replaces. */
import { ItemType, ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { child } from '../kmip/tree';
import type { StoredAttribute } from '../store/object-store';
import { getAttribute } from './managed-object';

import { dateAttribute } from '../kmip/attributes';
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
  const activation = dateAttribute(existing, 'Activation Date');
  if (offset === undefined) {
    for (const name of ['Activation Date', ...SHIFTED_DATES]) put(name, tags[name] as number, dateAttribute(existing, name));
    return out;
  }
  const newActivation = now + BigInt(offset);
  put('Activation Date', Tag.ActivationDate, newActivation);
  const shift = activation === undefined ? undefined : newActivation - activation;
  for (const name of SHIFTED_DATES) {
    const d = dateAttribute(existing, name);
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
