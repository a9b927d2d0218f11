/**
 * Look-ups over the generated spec tables that the server needs on its request path, built once.
 */
import { ATTRIBUTES, type AttributeRule } from './generated/attributes';
import { ENUM_INFO, TAG_ENUM, type EnumName, type EnumValueInfo } from './generated/enums';
import { TAG_INFO } from './generated/tags';
import { OPERATIONS, type OperationInfo } from './generated/operations';
import { isInVersion, type VersionLike } from './versions';

const ATTRIBUTE_BY_NAME = new Map<string, AttributeRule>(ATTRIBUTES.map((a) => [a.name, a]));
const ATTRIBUTE_BY_TAG = new Map<number, AttributeRule>(
  ATTRIBUTES.filter((a) => a.tag !== null).map((a) => [a.tag as number, a]),
);
const ENUM_VALUES = new Map<EnumName, Map<number, EnumValueInfo>>(
  (Object.keys(ENUM_INFO) as EnumName[]).map((n) => [n, new Map(ENUM_INFO[n].values.map((v) => [v.value, v]))]),
);

/** A standard attribute by its spec name ("Cryptographic Algorithm"). */
export function attributeByName(name: string): AttributeRule | undefined {
  return ATTRIBUTE_BY_NAME.get(name);
}

export function attributeByTag(tag: number): AttributeRule | undefined {
  return ATTRIBUTE_BY_TAG.get(tag);
}

export function enumValueInfo(enumName: EnumName, value: number): EnumValueInfo | undefined {
  return ENUM_VALUES.get(enumName)?.get(value);
}

export function tagInVersion(tag: number, v: VersionLike): boolean {
  const info = TAG_INFO.get(tag);
  // Extension tags (0x54xxxx) are the vendor's own: allowed in every version.
  if (info === undefined) return tag >= 0x540000 && tag <= 0x54ffff;
  return isInVersion(info.firstVersion, info.lastVersion, v);
}

/** An enumeration value carried by `tag` exists in `v` (unknown or extension values pass). */
export function enumValueInVersion(tag: number, value: number, v: VersionLike): boolean {
  const enumName = TAG_ENUM.get(tag);
  if (enumName === undefined || ENUM_INFO[enumName].kind !== 'enumeration') return true;
  const info = enumValueInfo(enumName, value);
  if (info === undefined) return true;
  return isInVersion(info.firstVersion, info.lastVersion, v);
}

export function attributeInVersion(rule: AttributeRule, v: VersionLike): boolean {
  return isInVersion(rule.firstVersion, rule.lastVersion, v);
}

const OPERATION_INFO = new Map<number, OperationInfo>(OPERATIONS.map((o) => [o.value, o]));

/** The spec's facts about an operation (name, directions, versions). */
export function operationInfo(op: number): OperationInfo | undefined {
  return OPERATION_INFO.get(op);
}
