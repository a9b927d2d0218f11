/**
 * KMIP 1.x Templates: a managed object holding a set of attributes that Create, Register and
 * Re-key requests can name in their Template-Attribute instead of listing the attributes.
 * (Deprecated in 1.3, removed in 2.0.)
 */
import type { TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { ObjectType, State } from '../spec/generated/enums';
import { attributeFromV1, readRequestAttributes, readTemplateNames, type IndexedAttribute } from '../kmip/attributes';
import { children, opt, withTag } from '../kmip/tree';
import type { OpContext } from './context';
import { KmipError, Reason } from '../kmip/errors';
import { loadObject, readBody, sameValue } from './managed-object';
import { isMultiValued } from './attribute-policy';

const LIVE_STATES: readonly number[] = [State.PreActive, State.Active, State.Deactivated, State.Compromised];

/** A Template's attributes, in canonical form. */
export function templateContents(body: TtlvStructure): IndexedAttribute[] {
  return children(body, Tag.Attribute).map(attributeFromV1);
}

/**
 * The attributes a request gives a new object: those of the Templates it names, then its own.
 * A Template's own Name identifies the Template and is not applied; an attribute the request
 * gives itself replaces the Template's. `which`: where the canonical request holds the templates'
 * names (1.x only) and its own attributes.
 */
export async function resolveRequestAttributes(
  payload: TtlvStructure,
  ctx: OpContext,
  which: { template: number; attributes: number } = { template: Tag.TemplateAttribute, attributes: Tag.Attributes },
): Promise<IndexedAttribute[]> {
  const explicit = readRequestAttributes(payload, which.attributes);
  rejectRepeatedSingleInstance(explicit);
  const names = readTemplateNames(payload, which.template);
  if (names.length === 0) return explicit;
  const fromTemplates: IndexedAttribute[] = [];
  for (const name of names) {
    const uids = await ctx.store.locate({
      owner: ctx.client.isAdmin ? undefined : ctx.client.name,
      objectType: ObjectType.Template,
      states: LIVE_STATES,
      conditions: [{ kind: 'equals', name: 'Name', value: withTag(name, Tag.Name) }],
    });
    const uid = uids[0];
    if (uid === undefined) {
      throw new KmipError(Reason.ItemNotFound, `no template named "${opt.text(name, Tag.NameValue) ?? ''}"`);
    }
    const body = await readBody(ctx, await loadObject(ctx, uid));
    fromTemplates.push(...templateContents(body).filter((a) => a.name !== 'Name'));
  }
  return mergeAttributes(fromTemplates, explicit);
}

/**
 * 1.2 section 4 (Template-Attribute): for a single-instance attribute the request's value wins over
 * the templates', and a later template's over an earlier one's; for a multi-instance attribute the
 * union of the values is used (an identical value once).
 */
function mergeAttributes(fromTemplates: readonly IndexedAttribute[], explicit: readonly IndexedAttribute[]): IndexedAttribute[] {
  const out: IndexedAttribute[] = [];
  for (const a of [...fromTemplates, ...explicit]) {
    const { name, value } = a;
    if (!isMultiValued(name)) {
      const at = out.findIndex((o) => o.name === name);
      if (at >= 0) out.splice(at, 1);
      out.push({ name, value });
    } else if (!out.some((o) => o.name === name && sameValue(o.value, value))) out.push({ name, value });
  }
  return out;
}

/**
 * A single-instance attribute given twice in one request's own attributes is a malformed request
 * (Invalid Message, 1.1 4.12): which value the client meant cannot be told.
 */
function rejectRepeatedSingleInstance(attrs: readonly IndexedAttribute[]): void {
  const seen = new Set<string>();
  for (const a of attrs) {
    if (isMultiValued(a.name)) continue;
    if (seen.has(a.name)) throw new KmipError(Reason.InvalidMessage, `${a.name} is given more than once in the request; it takes one value`);
    seen.add(a.name);
  }
}
