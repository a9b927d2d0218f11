/**
 * Locate: the caller's objects matching every given attribute, as one indexed SQL query.
 * Two instances of the same date attribute give a range; Cryptographic Usage Mask matches objects
 * with at least those bits; Object Type and State match the object row.
 */
import { ItemType, ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation, State, StorageStatusMask } from '../spec/generated/enums';
import { readRequestAttribute, type KmipAttribute } from '../kmip/attributes';
import { opt } from '../kmip/tree';
import type { LocateCondition, LocateQuery } from '../store/object-store';
import type { OpContext } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';
import { mayReach, noteAdministratorOverride } from '../objects/managed-object';
import { dnStringForms } from '../crypto/certificate';
import type { OperationHandler } from '../objects/context';
import { digestIndexMac } from '../objects/digest-index';

/** The filter's attributes (kmip/request-adapter.ts gathers a 1.x client's into Attributes, in their 1.x form). */
function filterAttributes(payload: Parameters<OperationHandler['handle']>[0]): KmipAttribute[] {
  const attrs = opt.structure(payload, Tag.Attributes);
  return attrs ? attrs.value.map(readRequestAttribute) : [];
}

/** The member holding a distinguished name string in the 1.x certificate attributes. */
const DN_MEMBER: Readonly<Record<string, number>> = {
  'Certificate Subject': Tag.CertificateSubjectDistinguishedName,
  'Certificate Issuer': Tag.CertificateIssuerDistinguishedName,
  'Certificate Identifier': Tag.Issuer,
};

/**
 * A certificate attribute naming a DN, in every form the DN string may be written (RFC 4514, as
 * the server answers, or the ", "-separated form in certificate order): a client may look a
 * certificate up by either. Undefined for every other attribute.
 */
function distinguishedNameForms(name: string, v: TtlvItem): TtlvItem[] | undefined {
  const member = DN_MEMBER[name];
  if (member === undefined || v.type !== ItemType.Structure) return undefined;
  const dn = v.value.find((c) => c.tag === member);
  if (dn?.type !== ItemType.TextString) return undefined;
  return dnStringForms(dn.value).map((form) => ttlv.structure(v.tag, v.value.map((c) => (c === dn ? ttlv.textString(member, form) : c))));
}

async function buildQuery(attrs: readonly KmipAttribute[], ctx: OpContext): Promise<LocateQuery> {
  const conditions: LocateCondition[] = [];
  let objectType: number | undefined;
  let states: number[] | undefined;
  const dates = new Map<string, bigint[]>();
  for (const a of attrs) {
    const v: TtlvItem = a.value;
    if (a.name === 'Object Type' && v.type === ItemType.Enumeration) objectType = v.value;
    else if (a.name === 'State' && v.type === ItemType.Enumeration) (states ??= []).push(v.value);
    else if (a.name === 'Cryptographic Usage Mask' && v.type === ItemType.Integer) {
      conditions.push({ kind: 'maskContains', name: a.name, bits: v.value });
    } else if (v.type === ItemType.DateTime) dates.set(a.name, [...(dates.get(a.name) ?? []), v.value]);
    else if (a.name === 'Digest') {
      // Secret objects' Digests are stored as their index MAC only (digest-index.ts): the same MAC of this one finds them.
      conditions.push({ kind: 'digest', name: 'Digest', value: v, mac: await digestIndexMac(ctx.keys, v) });
    } else {
      const forms = distinguishedNameForms(a.name, v);
      conditions.push(forms ? { kind: 'equalsAny', name: a.name, values: forms } : { kind: 'equals', name: a.name, value: v });
    }
  }
  for (const [name, values] of dates) {
    if (values.length > 2) throw new KmipError(Reason.InvalidField, `${name} may be given at most twice (a range)`);
    if (values.length === 1) conditions.push({ kind: 'range', name, min: values[0], max: values[0] });
    else {
      const [x, y] = values as [bigint, bigint];
      conditions.push({ kind: 'range', name, min: x < y ? x : y, max: x < y ? y : x });
    }
  }
  return {
    // Under an access policy the caller's reach (own, granted, or every object by role) decides.
    owner: ctx.access !== undefined || ctx.client.isAdmin ? undefined : ctx.client.name,
    ...(ctx.access?.locateReach() !== undefined ? { reach: ctx.access.locateReach() } : {}),
    objectType,
    states,
    conditions,
  };
}

const ALL_STATES = Object.values(State) as number[];
const DESTROYED_STATES: ReadonlySet<number> = new Set([State.Destroyed, State.DestroyedCompromised]);

/**
 * Storage Status Mask: on-line objects by default; archived ones (they carry an Archive Date)
 * only when Archival Storage is asked for; destroyed ones only when 2.x Destroyed Storage is (a
 * destroyed object's material is gone, so it is in no storage a 1.x client can name: the request
 * adapter clears the bit for 1.x).
 */
function withStorage(base: LocateQuery, mask: number | undefined): LocateQuery | undefined {
  const m = mask ?? StorageStatusMask.OnLineStorage;
  const online = (m & StorageStatusMask.OnLineStorage) !== 0;
  const archival = (m & StorageStatusMask.ArchivalStorage) !== 0;
  const destroyed = (m & StorageStatusMask.DestroyedStorage) !== 0;
  let states = base.states ?? ALL_STATES;
  if (!destroyed) states = states.filter((s) => !DESTROYED_STATES.has(s));
  else if (!online && !archival) states = states.filter((s) => DESTROYED_STATES.has(s));
  const conditions: LocateCondition[] = [...base.conditions];
  if (online && !archival) conditions.push({ kind: 'absent', name: 'Archive Date' });
  else if (archival && !online) conditions.push({ kind: 'range', name: 'Archive Date' });
  // No storage asked for, or no state left: nothing can match (the store reads [] as "any state").
  if ((!online && !archival && !destroyed) || states.length === 0) return undefined;
  return { ...base, states, conditions };
}

/** Identifiers of a Locate's answer its audit record lists (with the count of all it returned). */
const LOCATE_AUDIT_IDENTIFIERS = 10;

/**
 * An administrator's Locate sees every identity's objects: when the answer names another
 * identity's, its audit record says so and names their owners. Only administrators pay for the
 * second query (their own objects, one indexed query) and a read of each other identity's object named.
 */
async function noteOthersReturned(ctx: OpContext, query: LocateQuery, page: readonly string[]): Promise<void> {
  if (page.length === 0) return;
  const own = new Set(await ctx.store.locate({ ...query, owner: ctx.client.name }));
  for (const uid of page) {
    if (own.has(uid)) continue;
    const rec = await ctx.store.get(uid);
    if (rec === undefined || rec.owner === ctx.client.name) continue;
    // Under an access policy: noted as reached by role or by grant (managed-object.ts mayReach).
    if (ctx.access !== undefined) mayReach(ctx, rec);
    else noteAdministratorOverride(ctx, rec.owner);
  }
}

export const locateHandler: OperationHandler = {
  operation: Operation.Locate,
  async handle(payload, ctx) {
    const maximum = opt.integer(payload, Tag.MaximumItems);
    const offset = opt.integer(payload, Tag.OffsetItems) ?? 0;
    if ((maximum !== undefined && maximum < 0) || offset < 0) {
      throw new KmipError(Reason.InvalidField, 'Maximum Items and Offset Items must not be negative');
    }
    const base = await buildQuery(filterAttributes(payload), ctx);
    const query = withStorage(base, opt.integer(payload, Tag.StorageStatusMask));
    // Located Items (1.3+) counts every match, before Offset and Maximum apply.
    const all = query ? await ctx.store.locate(query) : [];
    const page = all.slice(offset, maximum === undefined ? undefined : offset + maximum);
    const out: TtlvItem[] = [];
    out.push(ttlv.integer(Tag.LocatedItems, all.length));
    for (const uid of page) out.push(ttlv.textString(Tag.UniqueIdentifier, uid));
    if (page.length === 1) ctx.idPlaceholder = page[0];
    ctx.auditDetail.located = { returned: page.length, matched: all.length, first: page.slice(0, LOCATE_AUDIT_IDENTIFIERS) };
    if ((ctx.client.isAdmin || ctx.access !== undefined) && query) await noteOthersReturned(ctx, query, page);
    return out;
  },
};
