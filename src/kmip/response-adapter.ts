/**
 * The response half of the version adapters: handlers answer once, in the canonical form (2.x
 * vocabulary, attribute instances as `canonicalAttribute`), and this shapes each answer for the
 * client's version from a table of the fields whose form or presence varies by version. The
 * version filter (version-filter.ts) stays behind it as the safety net; nothing should be left
 * for it to drop.
 */
import { ItemType, ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation, ProfileName } from '../spec/generated/enums';
import { enumValueInVersion, operationInfo, tagInVersion } from '../spec/registry';
import { compareVersions, isInRange, type ProtocolVersion, type SpecVersion } from '../spec/versions';
import {
  attributeToV1,
  encodeAttributeList,
  encodeAttributeReference,
  readAttributeReference,
  readCanonicalAttribute,
  shapeForVersion,
  visibleInVersion,
  type ShapeOptions,
} from './attributes';
import { asStructure } from './tree';

/** How one field of a response payload is written for a version. */
type FieldShape =
  /** Present only where the spec's tables have its tag (since/until). */
  | { readonly kind: 'tagInVersion' }
  /** Present only where the spec has its enumeration value. */
  | { readonly kind: 'enumInVersion' }
  /** An Operation present only where the spec has it, client to server or server to client. */
  | { readonly kind: 'operationInVersion' }
  /** A structure whose members are present only where the spec has their tags. */
  | { readonly kind: 'membersInVersion' }
  /**
   * A canonical attribute list: 2.x one Attributes structure, 1.x a list of Attribute, inside a
   * `v1Wrapper` structure where the 1.x payload has one (Template-Attribute). `compat`: the
   * compatibility profile's shape options apply (Get Attributes only, as clients read it).
   */
  | { readonly kind: 'attributeList'; readonly v1Wrapper?: number; readonly compat?: boolean }
  /** An attribute named by reference: 2.x Attribute Reference, 1.x Attribute Name; absent where the version lacks the attribute. */
  | { readonly kind: 'attributeReference' }
  /** The instance an attribute operation changed: 1.x echoes it (with its index, 0 too); 2.x answers without it. */
  | { readonly kind: 'changedInstance' }
  /** Query Profiles: the profile's name in the version's naming, with the Profile Version 2.x adds. */
  | { readonly kind: 'profile' }
  /** Query Defaults Information: each Object Defaults keeps the attributes the version has, and goes when none is left. */
  | { readonly kind: 'defaultsInformation' };

type FieldShapes = ReadonlyMap<number, FieldShape>;

const CHANGED_INSTANCE: FieldShapes = new Map([[Tag.Attribute, { kind: 'changedInstance' }]]);

const RESPONSE_FIELDS: ReadonlyMap<number, FieldShapes> = new Map<number, FieldShapes>([
  [Operation.GetAttributes, new Map([[Tag.Attributes, { kind: 'attributeList', compat: true }]])],
  [Operation.Export, new Map([[Tag.Attributes, { kind: 'attributeList', v1Wrapper: Tag.TemplateAttribute }]])],
  [Operation.GetAttributeList, new Map([[Tag.AttributeReference, { kind: 'attributeReference' }]])],
  [Operation.AddAttribute, CHANGED_INSTANCE],
  [Operation.ModifyAttribute, CHANGED_INSTANCE],
  [Operation.DeleteAttribute, CHANGED_INSTANCE],
  // Located Items arrives in 1.3.
  [Operation.Locate, new Map([[Tag.LocatedItems, { kind: 'tagInVersion' }]])],
  [
    Operation.Query,
    new Map<number, FieldShape>([
      [Tag.Operation, { kind: 'operationInVersion' }],
      [Tag.ObjectType, { kind: 'enumInVersion' }],
      // 1.x leaves Server Information's contents to the vendor; its named fields arrive in 2.0.
      [Tag.ServerInformation, { kind: 'membersInVersion' }],
      [Tag.CapabilityInformation, { kind: 'membersInVersion' }],
      [Tag.ProfileInformation, { kind: 'profile' }],
      [Tag.DefaultsInformation, { kind: 'defaultsInformation' }],
    ]),
  ],
]);

/**
 * The failures that still answer a Response Payload, and the last version that does: 1.x and 2.0
 * Check name the field that failed; 2.1's Basic profile case BL-M-2-21 shows a failed Check with none.
 */
const FAILURE_PAYLOAD_UNTIL: ReadonlyMap<number, SpecVersion> = new Map([[Operation.Check, '2.0']]);

/**
 * Profiles by their 2.x name, with the name 1.3 and 1.4 give each (those versions name a profile
 * per protocol version; 1.0-1.2 have no profile names; 2.x add a Profile Version).
 */
const PROFILE_NAMES_1X: ReadonlyMap<number, { readonly v13: number; readonly v14: number }> = new Map([
  [ProfileName.SymmetricKeyLifecycleServer, { v13: ProfileName.SymmetricKeyLifecycleServerKMIPV1_3, v14: ProfileName.SymmetricKeyLifecycleServerKMIPV1_4 }],
  [ProfileName.SymmetricKeyFoundryServer, { v13: ProfileName.SymmetricKeyFoundryServerKMIPV1_3, v14: ProfileName.SymmetricKeyFoundryServerKMIPV1_4 }],
  [
    ProfileName.OpaqueManagedObjectStoreServer,
    { v13: ProfileName.OpaqueManagedObjectStoreServerKMIPV1_3, v14: ProfileName.OpaqueManagedObjectStoreServerKMIPV1_4 },
  ],
  [
    ProfileName.StorageArrayWithSelfEncryptingDriveServer,
    { v13: ProfileName.StorageArrayWithSelfEncryptingDriveServerKMIPV1_3, v14: ProfileName.StorageArrayWithSelfEncryptingDriveServerKMIPV1_4 },
  ],
  [ProfileName.TapeLibraryServer, { v13: ProfileName.TapeLibraryServerKMIPV1_3, v14: ProfileName.TapeLibraryServerKMIPV1_4 }],
]);

/** A handler's canonical Response Payload, as a client of version `v` reads it. */
export function responseForVersion(operation: number, payload: readonly TtlvItem[], v: ProtocolVersion, shape: ShapeOptions): readonly TtlvItem[] {
  const fields = RESPONSE_FIELDS.get(operation);
  if (fields === undefined) return payload;
  const out: TtlvItem[] = [];
  for (const item of payload) {
    const field = fields.get(item.tag);
    if (field === undefined) out.push(item);
    else out.push(...shapeField(field, item, v, shape));
  }
  return out;
}

/** A failure's Response Payload (KmipError.payload), where the version has one. */
export function failurePayloadForVersion(operation: number, payload: readonly TtlvItem[] | undefined, v: ProtocolVersion): readonly TtlvItem[] | undefined {
  const until = FAILURE_PAYLOAD_UNTIL.get(operation);
  return until !== undefined && compareVersions(v, until) > 0 ? undefined : payload;
}

function shapeField(field: FieldShape, item: TtlvItem, v: ProtocolVersion, shape: ShapeOptions): TtlvItem[] {
  switch (field.kind) {
    case 'tagInVersion':
      return tagInVersion(item.tag, v) ? [item] : [];
    case 'enumInVersion':
      return item.type === ItemType.Enumeration && !enumValueInVersion(item.tag, item.value, v) ? [] : [item];
    case 'operationInVersion': {
      const info = item.type === ItemType.Enumeration ? operationInfo(item.value) : undefined;
      const ranges = info === undefined ? [] : [info.clientToServer, info.serverToClient];
      return ranges.some((r) => r != null && isInRange(r, v)) ? [item] : [];
    }
    case 'membersInVersion': {
      const s = asStructure(item);
      return [ttlv.structure(s.tag, s.value.filter((c) => tagInVersion(c.tag, v)))];
    }
    case 'attributeList': {
      const attrs = asStructure(item).value.map(readCanonicalAttribute);
      const list = encodeAttributeList(attrs, v, field.compat ? shape : {});
      return v.major < 2 && field.v1Wrapper !== undefined ? [ttlv.structure(field.v1Wrapper, list)] : list;
    }
    case 'attributeReference': {
      const name = readAttributeReference(item);
      return visibleInVersion({ name, value: item }, v) ? [encodeAttributeReference(name, v)] : [];
    }
    case 'changedInstance': {
      if (v.major >= 2) return [];
      const instance = readCanonicalAttribute(item);
      return [attributeToV1(shapeForVersion(instance, v), instance.index, true)];
    }
    case 'profile':
      return profileForVersion(asStructure(item).value, v);
    case 'defaultsInformation':
      return defaultsForVersion(item, v);
  }
}

/** Defaults Information (2.0 on): the Object Defaults whose type and attributes the version has, or nothing. */
function defaultsForVersion(item: TtlvItem, v: ProtocolVersion): TtlvItem[] {
  if (!tagInVersion(item.tag, v)) return [];
  const kept: TtlvItem[] = [];
  for (const defaults of asStructure(item).value) {
    const members = asStructure(defaults).value;
    const type = members.find((c) => c.tag === Tag.ObjectType);
    if (type?.type !== ItemType.Enumeration || !enumValueInVersion(type.tag, type.value, v)) continue;
    const attrs = members.filter((c) => c.tag === Tag.Attributes).flatMap((a) => asStructure(a).value.map(readCanonicalAttribute));
    const visible = attrs.filter((a) => visibleInVersion(a, v));
    if (visible.length > 0) kept.push(ttlv.structure(defaults.tag, [type, ...encodeAttributeList(visible, v)]));
  }
  return kept.length === 0 ? [] : [ttlv.structure(item.tag, kept)];
}

function profileForVersion(info: readonly TtlvItem[], v: ProtocolVersion): TtlvItem[] {
  const nameItem = info.find((c) => c.tag === Tag.ProfileName);
  if (nameItem?.type !== ItemType.Enumeration) return [];
  const rest = info.filter((c) => c !== nameItem);
  if (v.major >= 2) {
    const version = ttlv.structure(Tag.ProfileVersion, [ttlv.integer(Tag.ProfileVersionMajor, v.major), ttlv.integer(Tag.ProfileVersionMinor, v.minor)]);
    return [ttlv.structure(Tag.ProfileInformation, [nameItem, version, ...rest])];
  }
  const names = PROFILE_NAMES_1X.get(nameItem.value);
  const name = v.minor === 3 ? names?.v13 : v.minor === 4 ? names?.v14 : undefined;
  return name === undefined ? [] : [ttlv.structure(Tag.ProfileInformation, [ttlv.enumeration(Tag.ProfileName, name), ...rest])];
}
