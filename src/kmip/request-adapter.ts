/**
 * The request half of the version adapters: a client's Request Payload, in its version's form,
 * becomes the canonical form handlers read (2.x vocabulary), from a table of the fields whose form
 * or presence varies by version (per-field version ranges, from the spec's tables where they have
 * one). Reading stays lazy: the adapter moves and renames items and never parses an attribute
 * value, so a handler meets a malformed one where it always did. A field the client's version
 * lacks is refused here, with the reason and message the handler gave; a request wrong in two
 * ways may therefore hear of this one first.
 */
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { ObjectType, Operation, UniqueIdentifier } from '../spec/generated/enums';
import { attributeInVersion, enumValueInfo, enumValueInVersion, tagInVersion } from '../spec/registry';
import { isInVersion, type ProtocolVersion } from '../spec/versions';
import type { EnumName } from '../spec/generated/enums';
import { attributeRule, requestAttributeName } from './attributes';
import { KmipError, Reason, type ReasonValue } from './errors';
import { child } from './tree';

/** A refusal: the Result Reason and message a client hears. */
interface Refusal {
  readonly reason: ReasonValue;
  readonly message: string;
}

/** What becomes of one field of a request payload in one major version's form. */
type FieldAction =
  /** Not a field of this version's form: ignored, as the handler always ignored it. */
  | { readonly kind: 'drop' }
  /** An enumeration value the version lacks was not asked for (Query Functions). */
  | { readonly kind: 'enumInVersion' }
  /** A mask: the bits whose enumeration values the version lacks were not asked for. */
  | { readonly kind: 'maskInVersion'; readonly mask: EnumName }
  /** Every such item, in order, becomes a member of one `into` structure (1.x Locate's Attributes). */
  | { readonly kind: 'gather'; readonly into: number }
  /**
   * The item (a 1.x Attribute) becomes the one member of an `into` structure (New Attribute).
   * `index`: its Attribute Index (0 when absent) goes to the payload, naming the instance changed.
   */
  | { readonly kind: 'wrap'; readonly into: number; readonly index?: boolean }
  /**
   * The first 1.x Template-Attribute (or a variant): its Attributes become an `into` structure
   * (the 2.x Attributes variant, members in their 1.x form); its Names, which name Templates and
   * not the new object, stay behind in the Template-Attribute. Later ones were never read.
   */
  | { readonly kind: 'template'; readonly into: number }
  /** The field under another tag, its value as it was (1.x Certificate Request, 2.x Certificate Request Value). */
  | { readonly kind: 'rename'; readonly to: number }
  /** Refused where the spec's tables lack the tag (a field newer than the version). */
  | { readonly kind: 'tagInVersion'; readonly refusal: Refusal }
  /** Refused where the spec lacks the enumeration value the field holds. */
  | { readonly kind: 'valueInVersion'; readonly refusal: Refusal }
  /** Refused in this version's form (a Unique Identifier enumeration, which only 2.x has). */
  | { readonly kind: 'refuseEnumeration'; readonly refusal: Refusal };

interface FieldRule {
  readonly v1?: FieldAction;
  readonly v2?: FieldAction;
}

interface OperationRules {
  readonly fields: ReadonlyMap<number, FieldRule>;
  /** 1.x: fields the canonical form has when the client left them out (1.x Delete Attribute's index 0). */
  readonly v1Defaults?: readonly TtlvItem[];
  /** Canonical fields naming or holding attributes, each of which must exist in the client's version. */
  readonly attributesInVersion?: readonly number[];
  /** A check on the whole payload, for a rule that spans fields (a Key Block without its Key Value). */
  readonly check?: (payload: TtlvStructure, v: ProtocolVersion) => void;
}

const DROP: FieldAction = { kind: 'drop' };

/** What the tree readers say of an enumeration where a Text String belongs. */
const NOT_TEXT: Refusal = { reason: Reason.InvalidField, message: 'Unique Identifier must be a Text String' };

/** A 1.x Unique Identifier is a Text String; the ID Placeholder enumeration arrives in 2.0. */
const UID_V1: FieldRule = { v1: { kind: 'refuseEnumeration', refusal: NOT_TEXT } };

/** The ways a new object's attributes arrive: 1.x Template-Attribute, 2.x Attributes. */
function templateFields(pairs: readonly (readonly [number, number])[]): Map<number, FieldRule> {
  const fields = new Map<number, FieldRule>([[Tag.UniqueIdentifier, UID_V1]]);
  for (const [v1, v2] of pairs) {
    fields.set(v1, { v1: { kind: 'template', into: v2 }, v2: DROP });
    fields.set(v2, { v1: DROP });
  }
  return fields;
}

const TEMPLATE_ATTRIBUTE = [[Tag.TemplateAttribute, Tag.Attributes]] as const;
const KEY_PAIR_TEMPLATES = [
  [Tag.CommonTemplateAttribute, Tag.CommonAttributes],
  [Tag.PrivateKeyTemplateAttribute, Tag.PrivateKeyAttributes],
  [Tag.PublicKeyTemplateAttribute, Tag.PublicKeyAttributes],
] as const;

/** A new object's own attributes (Create, Register ...): each must exist in the client's version. */
function creating(fields: Map<number, FieldRule>, extra?: Partial<OperationRules>): OperationRules {
  return { fields, attributesInVersion: [Tag.Attributes], ...extra };
}

/**
 * Objects whose Key Block may leave out the Key Value (metadata-only objects, KMIP 1.2 on): in 1.x
 * those the Key Value Present attribute applies to (1.2-1.4: Symmetric Key, Private Key, Split
 * Key, Secret Data); in 2.x it applies to all objects.
 */
const METADATA_ONLY_1X: readonly number[] = [ObjectType.SymmetricKey, ObjectType.PrivateKey, ObjectType.SplitKey, ObjectType.SecretData];
const METADATA_ONLY_FIRST = { major: 1, minor: 2 } as const;

function metadataOnlyAllowed(objectType: number, v: ProtocolVersion): boolean {
  if (v.major >= 2) return true;
  return v.minor >= METADATA_ONLY_FIRST.minor && METADATA_ONLY_1X.includes(objectType);
}

/** The object bodies a Register or Import may carry, by Object Type, whose Key Block may lack its Key Value. */
const KEY_BLOCK_BODIES: ReadonlyMap<number, number> = new Map([
  [ObjectType.SymmetricKey, Tag.SymmetricKey],
  [ObjectType.PublicKey, Tag.PublicKey],
  [ObjectType.PrivateKey, Tag.PrivateKey],
  [ObjectType.SplitKey, Tag.SplitKey],
  [ObjectType.SecretData, Tag.SecretData],
  [ObjectType.PGPKey, Tag.PGPKey],
]);

/** A metadata-only object (no Key Value) where the version has none for its type. */
function checkMetadataOnly(payload: TtlvStructure, v: ProtocolVersion): void {
  if (v.major >= 2) return;
  const type = child(payload, Tag.ObjectType);
  if (type?.type !== ItemType.Enumeration) return;
  const bodyTag = KEY_BLOCK_BODIES.get(type.value);
  const body = bodyTag === undefined ? undefined : child(payload, bodyTag);
  const block = body?.type === ItemType.Structure ? child(body, Tag.KeyBlock) : undefined;
  if (block?.type !== ItemType.Structure || child(block, Tag.KeyValue) !== undefined || metadataOnlyAllowed(type.value, v)) return;
  const which = v.minor < METADATA_ONLY_FIRST.minor ? 'before KMIP 1.2' : 'in KMIP 1.x for this object type';
  throw new KmipError(Reason.MissingData, `the Key Block has no Key Value: an object without its key value cannot be registered ${which}`);
}

/** 1.x names an attribute's instance by Attribute Index, inside its Attribute (Modify) or beside its name (Delete). */
const ATTRIBUTE_EDIT = new Map<number, FieldRule>([
  [Tag.UniqueIdentifier, UID_V1],
  [Tag.Attribute, { v1: { kind: 'wrap', into: Tag.NewAttribute } }],
  [Tag.NewAttribute, { v1: DROP }],
]);

const DIGESTED_DATA = (operation: string): FieldRule => ({
  v1: { kind: 'tagInVersion', refusal: { reason: Reason.InvalidField, message: `${operation}: Digested Data is a KMIP 1.4 field` } },
});

/** Certify and Re-certify: 1.x Certificate Request is 2.x's Certificate Request Value; the stored request object is 2.x's alone. */
const CERTIFICATE_REQUEST: readonly (readonly [number, FieldRule])[] = [
  [Tag.CertificateRequestValue, { v1: DROP }],
  [Tag.CertificateRequest, { v1: { kind: 'rename', to: Tag.CertificateRequestValue }, v2: DROP }],
  [Tag.CertificateRequestUniqueIdentifier, { v1: DROP }],
];

const REQUEST_RULES: ReadonlyMap<number, OperationRules> = new Map<number, OperationRules>([
  [Operation.Query, { fields: new Map([[Tag.QueryFunction, { v1: { kind: 'enumInVersion' }, v2: { kind: 'enumInVersion' } }]]) }],
  [
    Operation.Locate,
    {
      fields: new Map<number, FieldRule>([
        // 1.x lists the filter's attributes (each an Attribute, 1.x form) in the payload; 2.x holds them in Attributes.
        [Tag.Attribute, { v1: { kind: 'gather', into: Tag.Attributes }, v2: DROP }],
        [Tag.Attributes, { v1: DROP }],
        // Destroyed Storage arrives in 2.0.
        [Tag.StorageStatusMask, { v1: { kind: 'maskInVersion', mask: 'StorageStatusMask' } }],
      ]),
    },
  ],
  [Operation.AddAttribute, { fields: ATTRIBUTE_EDIT, attributesInVersion: [Tag.NewAttribute] }],
  [Operation.SetAttribute, { fields: ATTRIBUTE_EDIT, attributesInVersion: [Tag.NewAttribute] }],
  [
    Operation.ModifyAttribute,
    {
      fields: new Map<number, FieldRule>([
        [Tag.UniqueIdentifier, UID_V1],
        [Tag.Attribute, { v1: { kind: 'wrap', into: Tag.NewAttribute, index: true } }],
        [Tag.NewAttribute, { v1: DROP }],
        [Tag.CurrentAttribute, { v1: DROP }],
        [Tag.AttributeIndex, { v1: DROP, v2: DROP }],
      ]),
      attributesInVersion: [Tag.NewAttribute],
    },
  ],
  [
    Operation.DeleteAttribute,
    {
      fields: new Map<number, FieldRule>([
        [Tag.UniqueIdentifier, UID_V1],
        [Tag.AttributeName, { v2: DROP }],
        [Tag.AttributeIndex, { v2: DROP }],
        [Tag.CurrentAttribute, { v1: DROP }],
        [Tag.AttributeReference, { v1: DROP }],
      ]),
      v1Defaults: [ttlv.integer(Tag.AttributeIndex, 0)],
      attributesInVersion: [Tag.AttributeName, Tag.CurrentAttribute, Tag.AttributeReference],
    },
  ],
  [Operation.AdjustAttribute, { fields: new Map([[Tag.UniqueIdentifier, UID_V1]]), attributesInVersion: [Tag.AttributeReference] }],
  [Operation.Create, creating(templateFields(TEMPLATE_ATTRIBUTE))],
  [
    Operation.Register,
    creating(
      templateFields(TEMPLATE_ATTRIBUTE).set(Tag.ObjectType, {
        // 1.x: Certificate Request objects arrive in 2.0.
        v1: { kind: 'valueInVersion', refusal: { reason: Reason.InvalidField, message: 'this Object Type does not exist in this protocol version' } },
        v2: { kind: 'valueInVersion', refusal: { reason: Reason.InvalidObjectType, message: 'Templates do not exist in KMIP 2' } },
      }),
      { check: checkMetadataOnly },
    ),
  ],
  [Operation.Import, { fields: templateFields(TEMPLATE_ATTRIBUTE), check: checkMetadataOnly }],
  [Operation.ReKey, creating(templateFields(TEMPLATE_ATTRIBUTE))],
  [Operation.CreateSplitKey, creating(templateFields(TEMPLATE_ATTRIBUTE))],
  [Operation.JoinSplitKey, creating(templateFields(TEMPLATE_ATTRIBUTE))],
  [
    Operation.DeriveKey,
    creating(
      templateFields(TEMPLATE_ATTRIBUTE).set(Tag.DerivationMethod, {
        v1: { kind: 'valueInVersion', refusal: { reason: Reason.InvalidField, message: 'this Derivation Method does not exist in this protocol version' } },
        v2: { kind: 'valueInVersion', refusal: { reason: Reason.InvalidField, message: 'this Derivation Method does not exist in this protocol version' } },
      }),
    ),
  ],
  [
    Operation.Certify,
    creating(
      new Map([
        ...templateFields(TEMPLATE_ATTRIBUTE),
        ...CERTIFICATE_REQUEST,
        // 2.x Certify reads its identifier as a Text String (the ID Placeholder stands in only when it is left out).
        [Tag.UniqueIdentifier, { v1: { kind: 'refuseEnumeration', refusal: NOT_TEXT }, v2: { kind: 'refuseEnumeration', refusal: NOT_TEXT } }],
      ]),
      // 1.x: the ID Placeholder stands in whenever the identifier is left out, a request given or not.
      { v1Defaults: [ttlv.enumeration(Tag.UniqueIdentifier, UniqueIdentifier.IDPlaceholder)] },
    ),
  ],
  [Operation.ReCertify, creating(new Map([...templateFields(TEMPLATE_ATTRIBUTE), ...CERTIFICATE_REQUEST]))],
  [Operation.CreateKeyPair, { fields: templateFields(KEY_PAIR_TEMPLATES), attributesInVersion: KEY_PAIR_TEMPLATES.map(([, v2]) => v2) }],
  [Operation.ReKeyKeyPair, { fields: templateFields(KEY_PAIR_TEMPLATES), attributesInVersion: KEY_PAIR_TEMPLATES.map(([, v2]) => v2) }],
  [Operation.Sign, { fields: new Map([[Tag.UniqueIdentifier, UID_V1], [Tag.DigestedData, DIGESTED_DATA('Sign')]]) }],
  [Operation.SignatureVerify, { fields: new Map([[Tag.UniqueIdentifier, UID_V1], [Tag.DigestedData, DIGESTED_DATA('Signature Verify')]]) }],
]);

/** Every other operation: only the Unique Identifier's form varies. */
const UID_ONLY: OperationRules = { fields: new Map([[Tag.UniqueIdentifier, UID_V1]]) };

/** The payload in the canonical form (the same object when nothing in it varies by version). */
export function requestForVersion(operation: number, payload: TtlvStructure, v: ProtocolVersion): TtlvStructure {
  const rules = REQUEST_RULES.get(operation) ?? (v.major < 2 ? UID_ONLY : undefined);
  if (rules === undefined) return payload;
  rules.check?.(payload, v);
  const out: TtlvItem[] = [];
  const gathered = new Map<number, TtlvItem[]>();
  let changed = false;
  for (const item of payload.value) {
    const rule = rules.fields.get(item.tag);
    const action = rule === undefined ? undefined : v.major >= 2 ? rule.v2 : rule.v1;
    const adapted = action === undefined ? item : adaptField(action, item, v, gathered, out);
    if (adapted !== item) changed = true;
    if (adapted !== undefined) out.push(adapted);
  }
  if (v.major < 2 && rules.v1Defaults !== undefined) {
    for (const d of rules.v1Defaults) {
      if (out.some((c) => c.tag === d.tag)) continue;
      out.push(d);
      changed = true;
    }
  }
  if (rules.attributesInVersion !== undefined) checkAttributesInVersion(out, rules.attributesInVersion, v);
  return changed ? { ...payload, value: out } : payload;
}

function adaptField(action: FieldAction, item: TtlvItem, v: ProtocolVersion, gathered: Map<number, TtlvItem[]>, out: TtlvItem[]): TtlvItem | undefined {
  switch (action.kind) {
    case 'drop':
      return undefined;
    case 'enumInVersion':
      return item.type !== ItemType.Enumeration || enumValueInVersion(item.tag, item.value, v) ? item : undefined;
    case 'maskInVersion': {
      if (item.type !== ItemType.Integer) return item;
      let bits = item.value;
      for (let bit = 1; bit > 0 && bit <= item.value; bit <<= 1) {
        const info = (bits & bit) !== 0 ? enumValueInfo(action.mask, bit) : undefined;
        if (info !== undefined && !isInVersion(info.firstVersion, info.lastVersion, v)) bits &= ~bit;
      }
      return bits === item.value ? item : { ...item, value: bits };
    }
    case 'gather': {
      let members = gathered.get(action.into);
      if (members === undefined) {
        members = [];
        gathered.set(action.into, members);
        out.push(ttlv.structure(action.into, members));
      }
      members.push(item);
      return undefined;
    }
    case 'wrap': {
      if (action.index) {
        const index = item.type === ItemType.Structure ? child(item, Tag.AttributeIndex) : undefined;
        out.push(index ?? ttlv.integer(Tag.AttributeIndex, 0));
      }
      return ttlv.structure(action.into, [item]);
    }
    case 'template': {
      if (gathered.has(action.into)) return undefined;
      gathered.set(action.into, []);
      // Not a structure: left as it is, for the handler's reader to refuse as it always did.
      if (item.type !== ItemType.Structure) return item;
      const attributes = item.value.filter((c) => c.tag === Tag.Attribute);
      const names = item.value.filter((c) => c.tag === Tag.Name);
      out.push(ttlv.structure(action.into, attributes));
      return names.length > 0 ? ttlv.structure(item.tag, names) : undefined;
    }
    case 'rename':
      return { ...item, tag: action.to } as TtlvItem;
    case 'tagInVersion':
      if (!tagInVersion(item.tag, v)) throw new KmipError(action.refusal.reason, action.refusal.message);
      return item;
    case 'valueInVersion':
      if (item.type === ItemType.Enumeration && !enumValueInVersion(item.tag, item.value, v)) throw new KmipError(action.refusal.reason, action.refusal.message);
      return item;
    case 'refuseEnumeration':
      if (item.type === ItemType.Enumeration) throw new KmipError(action.refusal.reason, action.refusal.message);
      return item;
  }
}

/** Structures whose members are attributes; the other fields name one attribute themselves. */
const ATTRIBUTE_HOLDERS: ReadonlySet<number> = new Set([
  Tag.Attributes,
  Tag.CommonAttributes,
  Tag.PrivateKeyAttributes,
  Tag.PublicKeyAttributes,
  Tag.NewAttribute,
  Tag.CurrentAttribute,
]);

/** An attribute the client's version lacks is refused, as the attribute policy refused it. */
function checkAttributesInVersion(payload: readonly TtlvItem[], fields: readonly number[], v: ProtocolVersion): void {
  for (const item of payload) {
    if (!fields.includes(item.tag)) continue;
    const named = ATTRIBUTE_HOLDERS.has(item.tag) ? (item.type === ItemType.Structure ? item.value : []) : [item];
    for (const a of named) {
      const name = requestAttributeName(a);
      const rule = name === undefined ? undefined : attributeRule(name);
      if (rule !== undefined && !attributeInVersion(rule, v)) {
        throw new KmipError(Reason.InvalidAttribute, `${name} does not exist in this protocol version`);
      }
    }
  }
}
