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
import type { OpContext } from '../server/context';
import { KmipError, Reason } from '../server/errors';
import { loadObject, readBody } from './managed-object';

const LIVE_STATES: readonly number[] = [State.PreActive, State.Active, State.Deactivated, State.Compromised];

/** A Template's attributes, in canonical form. */
export function templateContents(body: TtlvStructure): IndexedAttribute[] {
  return children(body, Tag.Attribute).map(attributeFromV1);
}

/**
 * The attributes a request gives a new object: those of the Templates it names, then its own.
 * A Template's own Name identifies the Template and is not applied; an attribute the request
 * gives itself replaces the Template's.
 */
export async function resolveRequestAttributes(
  payload: TtlvStructure,
  ctx: OpContext,
  which?: { v1: number; v2: number },
): Promise<IndexedAttribute[]> {
  const explicit = readRequestAttributes(payload, ctx.version, which);
  const names = readTemplateNames(payload, ctx.version, which);
  if (names.length === 0) return explicit;
  const fromTemplates: IndexedAttribute[] = [];
  for (const name of names) {
    const uids = ctx.store.locate({
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
  return [...fromTemplates.filter((t) => !explicit.some((e) => e.name === t.name)), ...explicit];
}
