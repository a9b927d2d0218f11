/**
 * What the `kmip` command reads and writes besides the protocol: spec names typed by people
 * ("aes", "Symmetric Key", "symmetric-key"), key and certificate files for Register (PEM, DER,
 * raw bytes), Get's output in a chosen format, and attribute values printed or in JSON. Names
 * come from the generated spec tables; nothing here hand-types a tag or an enumeration value.
 */
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../ttlv';
import { kmipDictionary } from './spec/dictionary';
import { ENUM_INFO, TAG_ENUM, CertificateType, CryptographicAlgorithm, KeyFormatType, ObjectType, SecretDataType, type EnumName } from './spec/generated/enums';
import { attributeRule, attributeTag } from './kmip/attributes';
import { Tag } from './spec/generated/tags';
import { keyObject, objectTagOf, attribute, type KmipAttribute, type GetResult } from './client';

/** A bad argument or input file: exit code 2, one line. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const squash = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');

/** A value of an enumeration by any of its spellings, or a number (decimal or 0x hex). */
export function enumValue(table: EnumName, text: string, what = ENUM_TITLES[table] ?? table): number {
  if (/^(0x[0-9a-f]+|\d+)$/i.test(text.trim())) return Number(text.trim());
  const want = squash(text);
  for (const v of ENUM_INFO[table].values) {
    if ([v.xmlName, v.name, ...(v.aliases ?? [])].some((n) => squash(n) === want)) return v.value;
  }
  const names = ENUM_INFO[table].values.map((v) => v.xmlName);
  const shown = names.length > 16 ? `${names.slice(0, 16).join(', ')}, ...` : names.join(', ');
  throw new UsageError(`unknown ${what} "${text}" (one of: ${shown})`);
}

/** A mask from "Encrypt,Decrypt" or "Encrypt|Decrypt". */
export function maskValue(table: EnumName, text: string): number {
  return text
    .split(/[,|]/)
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .reduce((mask, part) => (mask | enumValue(table, part)) >>> 0, 0);
}

const ENUM_TITLES: Partial<Record<EnumName, string>> = {
  ObjectType: 'object type',
  CryptographicAlgorithm: 'algorithm',
  CryptographicUsageMask: 'usage',
  KeyFormatType: 'key format',
  BlockCipherMode: 'block cipher mode',
  PaddingMethod: 'padding method',
  HashingAlgorithm: 'hashing algorithm',
  DigitalSignatureAlgorithm: 'signature algorithm',
  RevocationReasonCode: 'revocation reason',
  State: 'state',
};

/** The spec's name of a value ("Symmetric Key"), or its hex when the table has none. */
export function enumName(table: EnumName, value: number): string {
  return ENUM_INFO[table].values.find((v) => v.value === value)?.name ?? `0x${value.toString(16).padStart(8, '0')}`;
}

/**
 * An attribute from `--attribute NAME=VALUE` text, read as the spec's attribute table says: names
 * for enumerations and masks, ISO 8601 for dates, hex for bytes. Custom ("x-") attributes are text.
 */
export function attributeFromText(name: string, text: string): KmipAttribute {
  const tag = attributeTag(name);
  const type = attributeRule(name)?.itemTypes[0];
  if (tag === undefined || type === undefined) return attribute(name, text);
  const table = TAG_ENUM.get(tag);
  switch (type) {
    case 'Enumeration':
      if (table === undefined) break;
      return attribute(name, enumValue(table, text, name));
    case 'Integer':
      if (table !== undefined) return attribute(name, maskValue(table, text));
      if (!/^-?\d+$/.test(text)) throw new UsageError(`${name} takes a whole number`);
      return attribute(name, Number(text));
    case 'LongInteger':
    case 'Interval':
      if (!/^-?\d+$/.test(text)) throw new UsageError(`${name} takes a whole number`);
      return attribute(name, type === 'LongInteger' ? BigInt(text) : Number(text));
    case 'DateTime':
    case 'DateTimeExtended': {
      const date = new Date(text);
      if (Number.isNaN(date.getTime())) throw new UsageError(`${name} takes an ISO 8601 date, e.g. 2026-01-31T12:00:00Z`);
      return attribute(name, date);
    }
    case 'Boolean':
      if (text !== 'true' && text !== 'false') throw new UsageError(`${name} takes true or false`);
      return attribute(name, text === 'true');
    case 'ByteString':
      return attribute(name, parseHex(text, name));
    case 'Structure':
      throw new UsageError(`${name} is a structure, which --attribute cannot spell (use --name for Name)`);
    default:
      break;
  }
  return attribute(name, text);
}

export function parseHex(text: string, what: string): Uint8Array {
  const digits = text.replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(digits)) throw new UsageError(`${what} must be hex bytes, e.g. 000102...`);
  return Buffer.from(digits, 'hex');
}

export const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// ---- Register: files into managed objects ----------------------------------------------------

export type KeyFileFormat = 'pem' | 'der' | 'raw';

export interface RegisterInput {
  readonly objectType: number;
  readonly object: TtlvStructure;
  /** What the file says about the key: algorithm and length (attributes of the new object). */
  readonly attributes: KmipAttribute[];
  /** A human description for the output ("RSA 2048-bit private key, PKCS#8"). */
  readonly description: string;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----/;

function asymmetricFacts(key: KeyObject): { algorithm: number; length?: number } {
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss':
      return { algorithm: CryptographicAlgorithm.RSA, length: details?.modulusLength };
    case 'ec': {
      const bits: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521, secp256k1: 256 };
      return { algorithm: CryptographicAlgorithm.EC, length: bits[details?.namedCurve ?? ''] };
    }
    case 'ed25519':
      return { algorithm: CryptographicAlgorithm.Ed25519, length: 255 };
    case 'ed448':
      return { algorithm: CryptographicAlgorithm.Ed448, length: 448 };
    case 'dsa':
      return { algorithm: CryptographicAlgorithm.DSA, length: details?.modulusLength };
    default:
      throw new UsageError(`unsupported key type ${key.asymmetricKeyType ?? 'unknown'}`);
  }
}

function keyRegistration(objectType: number, format: number, material: Uint8Array, facts: { algorithm: number; length?: number }, what: string): RegisterInput {
  const object = keyObject(objectTagOf(objectType), { format, material, algorithm: facts.algorithm, ...(facts.length === undefined ? {} : { length: facts.length }) });
  const attributes = [attribute('Cryptographic Algorithm', facts.algorithm)];
  if (facts.length !== undefined) attributes.push(attribute('Cryptographic Length', facts.length));
  const bits = facts.length === undefined ? '' : ` ${facts.length}-bit`;
  return { objectType, object, attributes, description: `${enumName('CryptographicAlgorithm', facts.algorithm)}${bits} ${what}` };
}

function certificateRegistration(der: Uint8Array): RegisterInput {
  const cert = new X509Certificate(der);
  const object = ttlv.structure(Tag.Certificate, [ttlv.enumeration(Tag.CertificateType, CertificateType.X_509), ttlv.byteString(Tag.CertificateValue, cert.raw)]);
  return { objectType: ObjectType.Certificate, object, attributes: [], description: `X.509 certificate ${cert.subject.replace(/\n/g, ', ')}` };
}

function privateKeyRegistration(key: KeyObject): RegisterInput {
  const der = key.export({ type: 'pkcs8', format: 'der' });
  return keyRegistration(ObjectType.PrivateKey, KeyFormatType.PKCS_8, der, asymmetricFacts(key), 'private key, PKCS#8');
}

function publicKeyRegistration(key: KeyObject): RegisterInput {
  const der = key.export({ type: 'spki', format: 'der' });
  return keyRegistration(ObjectType.PublicKey, KeyFormatType.X_509, der, asymmetricFacts(key), 'public key, SubjectPublicKeyInfo');
}

/** PEM: the block's label says what it is. */
function fromPem(text: string): RegisterInput {
  const label = PEM_BLOCK.exec(text)?.[1];
  if (label === undefined) throw new UsageError('no PEM block (-----BEGIN ...-----) in the file');
  try {
    if (label === 'CERTIFICATE' || label === 'X509 CERTIFICATE') return certificateRegistration(new X509Certificate(text).raw);
    if (label === 'ENCRYPTED PRIVATE KEY') throw new UsageError('the private key is encrypted: decrypt it first (openssl pkcs8 -in FILE -out PLAIN.pem)');
    if (label.endsWith('PRIVATE KEY')) return privateKeyRegistration(createPrivateKey(text));
    if (label.endsWith('PUBLIC KEY')) return publicKeyRegistration(createPublicKey(text));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`the PEM ${label} block does not parse: ${(e as Error).message}`);
  }
  throw new UsageError(`a PEM ${label} block is not something kmip registers (certificates, private and public keys)`);
}

/** DER: a certificate, a PKCS#8 or PKCS#1 private key, or a SubjectPublicKeyInfo, tried in that order. */
function fromDer(der: Buffer): RegisterInput {
  try {
    return certificateRegistration(new X509Certificate(der).raw);
  } catch {
    // not a certificate; try keys
  }
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      return privateKeyRegistration(createPrivateKey({ key: der, format: 'der', type }));
    } catch {
      // next encoding
    }
  }
  for (const type of ['spki', 'pkcs1'] as const) {
    try {
      return publicKeyRegistration(createPublicKey({ key: der, format: 'der', type }));
    } catch {
      // next encoding
    }
  }
  throw new UsageError('the file is not a DER certificate, private key or public key (for key bytes use --format raw)');
}

/** Raw bytes: a symmetric key (algorithm given or AES) or secret data. */
function fromRaw(bytes: Uint8Array, objectType: number, algorithm: number | undefined): RegisterInput {
  if (bytes.length === 0) throw new UsageError('the file is empty');
  if (objectType === ObjectType.SymmetricKey) {
    return keyRegistration(objectType, KeyFormatType.Raw, bytes, { algorithm: algorithm ?? CryptographicAlgorithm.AES, length: bytes.length * 8 }, 'symmetric key');
  }
  if (objectType === ObjectType.SecretData) {
    const block = keyObject(Tag.SecretData, { format: KeyFormatType.Opaque, material: bytes });
    const object = ttlv.structure(Tag.SecretData, [ttlv.enumeration(Tag.SecretDataType, SecretDataType.Seed), ...block.value]);
    return { objectType, object, attributes: [], description: `secret data, ${bytes.length} bytes` };
  }
  throw new UsageError(`raw bytes register as a Symmetric Key or Secret Data, not a ${enumName('ObjectType', objectType)}`);
}

/**
 * A file for Register. The format is detected when not given: PEM by its armour; raw for --type
 * symmetric-key or secret-data; else DER when it parses as DER, and raw symmetric key bytes when not.
 */
export function registrationFromFile(
  bytes: Buffer,
  opts: { format?: KeyFileFormat; objectType?: number; algorithm?: number },
): RegisterInput {
  const text = bytes.subarray(0, 64 * 1024).toString('latin1');
  const rawType = opts.objectType === ObjectType.SymmetricKey || opts.objectType === ObjectType.SecretData;
  const format = opts.format ?? (PEM_BLOCK.test(text) ? 'pem' : rawType ? 'raw' : undefined);
  let input: RegisterInput;
  if (format === 'pem') input = fromPem(bytes.toString('utf8'));
  else if (format === 'der') input = fromDer(bytes);
  else if (format === 'raw') input = fromRaw(bytes, opts.objectType ?? ObjectType.SymmetricKey, opts.algorithm);
  else {
    // Neither armour nor a type: DER when it parses as DER, else raw symmetric key bytes.
    try {
      input = fromDer(bytes);
    } catch {
      input = fromRaw(bytes, ObjectType.SymmetricKey, opts.algorithm);
    }
  }
  if (opts.objectType !== undefined && input.objectType !== opts.objectType) {
    throw new UsageError(`the file holds a ${enumName('ObjectType', input.objectType)}, not a ${enumName('ObjectType', opts.objectType)}`);
  }
  return input;
}

// ---- Get: objects into files -------------------------------------------------------------------

export type OutputFormat = 'pem' | 'der' | 'raw' | 'hex' | 'base64';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['pem', 'der', 'raw', 'hex', 'base64'];

/** The Key Format Type to ask the server for, so that `format` can be written. */
export function keyFormatFor(objectType: number, format: OutputFormat | undefined): number | undefined {
  if (format !== 'pem' && format !== 'der' && format !== undefined) return undefined;
  if (objectType === ObjectType.PrivateKey) return KeyFormatType.PKCS_8;
  if (objectType === ObjectType.PublicKey) return KeyFormatType.X_509;
  return undefined;
}

const PEM_LABELS: ReadonlyMap<string, string> = new Map([
  [`${ObjectType.PrivateKey}/${KeyFormatType.PKCS_8}`, 'PRIVATE KEY'],
  [`${ObjectType.PrivateKey}/${KeyFormatType.PKCS_1}`, 'RSA PRIVATE KEY'],
  [`${ObjectType.PrivateKey}/${KeyFormatType.ECPrivateKey}`, 'EC PRIVATE KEY'],
  [`${ObjectType.PublicKey}/${KeyFormatType.X_509}`, 'PUBLIC KEY'],
  [`${ObjectType.PublicKey}/${KeyFormatType.PKCS_1}`, 'RSA PUBLIC KEY'],
]);

/** Whether the object came back in a form that PEM and DER can carry (or needs none: certificates, symmetric keys). */
export function hasByteEncoding(got: GetResult): boolean {
  if (got.keyBlock === undefined || (got.objectType !== ObjectType.PrivateKey && got.objectType !== ObjectType.PublicKey)) return true;
  return PEM_LABELS.has(`${got.objectType}/${got.keyBlock.keyFormatType}`);
}

/** Whether an object's bytes are public (certificates and public keys) or must be kept private. */
export function isSecretObject(objectType: number): boolean {
  return objectType !== ObjectType.Certificate && objectType !== ObjectType.PublicKey;
}

/** The default format: PEM for what has one, raw bytes to a file, hex to a terminal. */
export function defaultOutputFormat(objectType: number, toFile: boolean): OutputFormat {
  if (objectType === ObjectType.Certificate || objectType === ObjectType.PrivateKey || objectType === ObjectType.PublicKey) return 'pem';
  return toFile ? 'raw' : 'hex';
}

/** The object's bytes in `format`; throws a UsageError when the object has no such form. */
export function encodeObject(got: GetResult, format: OutputFormat): Buffer {
  let bytes: Uint8Array | undefined = got.value;
  let label = got.objectType === ObjectType.Certificate ? 'CERTIFICATE' : undefined;
  if (got.keyBlock !== undefined) {
    const material = got.keyBlock.keyMaterial;
    if (!(material instanceof Uint8Array)) {
      throw new UsageError(`the key came back as ${enumName('KeyFormatType', got.keyBlock.keyFormatType)} structure, which has no byte form`);
    }
    bytes = material;
    label = PEM_LABELS.get(`${got.objectType}/${got.keyBlock.keyFormatType}`);
  }
  if (bytes === undefined) throw new UsageError(`a ${enumName('ObjectType', got.objectType)} has no bytes to write`);
  switch (format) {
    case 'raw':
    case 'der':
      return Buffer.from(bytes);
    case 'hex':
      return Buffer.from(`${hexOf(bytes)}\n`);
    case 'base64':
      return Buffer.from(`${Buffer.from(bytes).toString('base64')}\n`);
    case 'pem': {
      if (label === undefined) throw new UsageError(`a ${enumName('ObjectType', got.objectType)} has no PEM form: use raw, hex or base64`);
      const body = Buffer.from(bytes).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
      return Buffer.from(`-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`);
    }
  }
}

// ---- Printing values ---------------------------------------------------------------------------

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/**
 * A TTLV value for people and for JSON: enumerations and masks by name, dates in ISO 8601, bytes
 * in hex, structures as objects keyed by tag name (repeated fields as arrays).
 */
export function itemValue(item: TtlvItem): JsonValue {
  switch (item.type) {
    case ItemType.Structure: {
      const out: { [key: string]: JsonValue } = {};
      for (const c of item.value) {
        const key = kmipDictionary.tagName(c.tag) ?? `0x${c.tag.toString(16)}`;
        const v = itemValue(c);
        const prev = out[key];
        out[key] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
      }
      return out;
    }
    case ItemType.Enumeration:
      return kmipDictionary.valueDomain(item.tag, {})?.nameOf(item.value) ?? item.value;
    case ItemType.Integer: {
      const domain = kmipDictionary.valueDomain(item.tag, {});
      if (domain?.kind !== 'mask') return item.value;
      const bits: string[] = [];
      for (let i = 0; i < 32; i++) {
        const bit = (1 << i) >>> 0;
        if ((item.value & bit) !== 0) bits.push(domain.nameOf(bit) ?? `0x${bit.toString(16)}`);
      }
      return bits;
    }
    case ItemType.DateTime:
      return new Date(Number(item.value) * 1000).toISOString().replace('.000Z', 'Z');
    case ItemType.DateTimeExtended:
      return new Date(Number(item.value / 1000n)).toISOString();
    case ItemType.LongInteger:
    case ItemType.BigInteger:
      return item.value.toString();
    case ItemType.ByteString:
      return hexOf(item.value);
    default:
      return item.value;
  }
}

/** One line of text for a value: scalars as they are, masks joined with "|", structures as compact JSON. */
export function valueText(v: JsonValue): string {
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join('|');
  if (typeof v === 'object' && v !== null) return JSON.stringify(v);
  return String(v);
}
