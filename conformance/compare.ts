/**
 * Comparing a server's response with a test case's expected response under the OASIS "Permitted
 * Test Case Variations", and the placeholder bookkeeping that links one step of a case to the next.
 *
 * What may vary, and how each variation is handled:
 * - Placeholders: `$UNIQUE_IDENTIFIER_n` (and `$SHORT_UNIQUE_IDENTIFIER_n`) bind to the first value
 *   the server returns and must stay the same, and distinct from each other, afterwards. Any other
 *   `$NAME` (`$DATA_n`, `$IV_COUNTER_NONCE`, `$CORRELATION_VALUE`, `$KEY_MATERIAL_n`, ...) binds to
 *   whatever the server returns there, latest value wins. `$NOW±n` is a time window.
 * - Server-generated values: time stamps, dates the client did not send, Result Message text,
 *   vendor identification and server information, digests, RNG descriptions, lease times,
 *   correlation values, key material and crypto outputs that depend on server randomness
 *   (generated keys, server-chosen IVs, randomised asymmetric algorithms) are masked: the type
 *   must match, the value may differ. A masked byte string the case later quotes literally in a
 *   request is replaced there by the value the server actually returned.
 * - Values derived from key material the server generated: what Encrypt and MAC compute with such
 *   a key, and what Decrypt recovers with it from a ciphertext this server did not produce (the
 *   case's literal was made under the key the case author's server generated), are masked too.
 * - Attribute lists (1.x Attribute, 2.x Attributes) may come in any order and hold extra
 *   attributes; Query results may be a superset; Discover Versions may list more versions, in the
 *   expected order; Locate may return its identifiers in any order (but no others).
 * - Everything else, Result Status and Result Reason first of all, must be equal.
 */
import { randomBytes, randomUUID } from 'crypto';
import { ItemType, ttlv } from '../ttlv/types';
import type { ItemTypeName, TtlvItem, TtlvNameContext, TtlvStructure } from '../ttlv/types';
import type { PlaceholderInfo } from '../ttlv/xml';
import { ITEM_TYPE_NAME, bytesToHex, collapseWhitespace, formatDateTime, formatDateTimeExtended, itemValueText, tagLabel } from '../ttlv/text-values';
import { kmipDictionary } from '../src/spec/dictionary';
import { ObjectType, Operation, ResultStatus } from '../src/spec/generated/enums';
import { Tag } from '../src/spec/generated/tags';
import type { ExpectedNode } from './expected';

// =============================================================================================
// State shared by the steps of a case, and by the cases that run against one server

export interface ObjectOrigin {
  /** 'registered': the client supplied the material, so what the server returns of it is fixed. */
  readonly origin: 'registered' | 'generated';
  readonly objectType: number | undefined;
}

/** What outlives one case: the server's objects (chained cases read what earlier ones left). */
export class ServerState {
  /** Actual unique identifier -> how the object came to be. */
  readonly objects = new Map<string, ObjectOrigin>();
  /** `valueKey` of every byte string, big integer and date the client sent. */
  readonly sentValues = new Set<string>();
  /** `valueKey` of every byte string a successful response payload carried. */
  readonly returnedValues = new Set<string>();
  constructor(readonly startedAtMs: number = Date.now()) {}
}

type Undo = () => void;

/**
 * The placeholder bindings of one case. Every change goes through an undo log, so a tentative
 * match (trying one attribute of an unordered list against another) leaves no trace when it fails.
 */
export class Bindings {
  private readonly values = new Map<string, TtlvItem>();
  /** Identifier value -> the placeholder it is bound to: two placeholders never share an object. */
  private readonly owners = new Map<string, string>();
  /** `valueKey` of a masked literal in an expected response -> what the server returned there. */
  private readonly substitutions = new Map<string, TtlvItem>();
  private readonly undo: Undo[] = [];

  get(name: string): TtlvItem | undefined {
    return this.values.get(name);
  }

  bind(name: string, item: TtlvItem): void {
    this.setIn(this.values, name, item);
  }

  ownerOf(identity: string): string | undefined {
    return this.owners.get(identity);
  }

  claim(identity: string, name: string): void {
    this.setIn(this.owners, identity, name);
  }

  substitution(key: string): TtlvItem | undefined {
    return this.substitutions.get(key);
  }

  substitute(key: string, actual: TtlvItem): void {
    this.setIn(this.substitutions, key, actual);
  }

  mark(): number {
    return this.undo.length;
  }

  rollback(mark: number): void {
    while (this.undo.length > mark) (this.undo.pop() as Undo)();
  }

  private setIn<V>(map: Map<string, V>, key: string, value: V): void {
    const had = map.has(key);
    const prev = map.get(key);
    map.set(key, value);
    this.undo.push(() => {
      if (had) map.set(key, prev as V);
      else map.delete(key);
    });
  }
}

/** The state of one case file while it runs. */
export class CaseState {
  readonly bindings = new Bindings();
  /**
   * Latest value the server returned under each tag. A placeholder that first appears in a
   * request (CS-AC-M-6: `$MAC_DATA` after a MAC response; CS-BC-M-13: `$DATA_0` and
   * `$IV_COUNTER_NONCE` after an Encrypt response) names that value.
   */
  readonly lastByTag = new Map<number, TtlvItem>();
  constructor(
    readonly server: ServerState,
    /** Clock difference tolerated between the runner and the server, each way. */
    readonly clockSlackSeconds: number = 60,
  ) {}
}

// =============================================================================================
// Small tree helpers

const NOW = /^\$NOW(?:\s*([+-])\s*(\d+))?$/;
const IDENTITY = /^\$(?:SHORT_)?UNIQUE_IDENTIFIER(?:_\d+)?$/;

export function isIdentityPlaceholder(raw: string): boolean {
  return IDENTITY.test(raw);
}

/** Seconds of a `$NOW±n` placeholder, or undefined for other placeholders. */
export function nowOffset(raw: string): number | undefined {
  const m = NOW.exec(raw);
  if (!m) return undefined;
  return m[2] === undefined ? 0 : Number(m[2]) * (m[1] === '-' ? -1 : 1);
}

function childOf(item: TtlvItem | undefined, tag: number): TtlvItem | undefined {
  if (item?.type !== ItemType.Structure) return undefined;
  for (const c of item.value) if (c.tag === tag) return c;
  return undefined;
}

function childrenOf(item: TtlvItem | undefined, tag: number): TtlvItem[] {
  if (item?.type !== ItemType.Structure) return [];
  return item.value.filter((c) => c.tag === tag);
}

function textOf(item: TtlvItem | undefined): string | undefined {
  return item?.type === ItemType.TextString ? item.value : undefined;
}

function enumOf(item: TtlvItem | undefined): number | undefined {
  return item?.type === ItemType.Enumeration ? item.value : undefined;
}

/** A key that identifies a value across trees: type and value. */
export function valueKey(item: TtlvItem): string {
  switch (item.type) {
    case ItemType.ByteString:
      return `b:${bytesToHex(item.value)}`;
    case ItemType.Structure:
      return `s:${item.tag}`;
    case ItemType.LongInteger:
    case ItemType.BigInteger:
    case ItemType.DateTime:
    case ItemType.DateTimeExtended:
      return `${item.type}:${item.value.toString(16)}`;
    default:
      return `${item.type}:${String(item.value)}`;
  }
}

function sameValue(a: TtlvItem, b: TtlvItem): boolean {
  if (a.type !== b.type) return false;
  if (a.type === ItemType.ByteString && b.type === ItemType.ByteString) {
    return a.value.length === b.value.length && a.value.every((x, i) => x === b.value[i]);
  }
  if (a.type === ItemType.Structure || b.type === ItemType.Structure) return false;
  return a.value === b.value;
}

function label(tag: number): string {
  return tagLabel(tag, kmipDictionary);
}

function typeName(item: TtlvItem): ItemTypeName {
  return ITEM_TYPE_NAME[item.type];
}

const MAX_SHOWN_HEX = 64;

/** A value for a report line: enumeration and mask names, ISO dates, shortened hex. */
export function showValue(item: TtlvItem, context: TtlvNameContext = {}): string {
  switch (item.type) {
    case ItemType.Structure:
      return `${label(item.tag)} structure (${item.value.length} items)`;
    case ItemType.TextString:
      return JSON.stringify(item.value);
    case ItemType.ByteString: {
      const hex = bytesToHex(item.value);
      return hex.length > MAX_SHOWN_HEX ? `${hex.slice(0, MAX_SHOWN_HEX)}... (${item.value.length} bytes)` : hex === '' ? '(empty)' : hex;
    }
    default:
      return itemValueText(item, kmipDictionary, context, ' ');
  }
}

// =============================================================================================
// Requests: placeholders in, the values sent recorded

function freshItem(tag: number, type: ItemTypeName, nowMs: number): TtlvItem {
  switch (type) {
    case 'TextString':
      return ttlv.textString(tag, `conformance-${randomUUID()}`);
    case 'ByteString':
      return ttlv.byteString(tag, new Uint8Array(randomBytes(16)));
    case 'DateTime':
      return ttlv.dateTime(tag, BigInt(Math.floor(nowMs / 1000)));
    case 'DateTimeExtended':
      return ttlv.dateTimeExtended(tag, BigInt(nowMs) * 1000n);
    case 'Integer':
      return ttlv.integer(tag, 0);
    case 'LongInteger':
      return ttlv.longInteger(tag, 0n);
    case 'BigInteger':
      return ttlv.bigInteger(tag, 0n);
    case 'Enumeration':
      return ttlv.enumeration(tag, 0);
    case 'Boolean':
      return ttlv.boolean(tag, false);
    case 'Interval':
      return ttlv.interval(tag, 0);
    case 'Structure':
      return ttlv.structure(tag, []);
  }
}

function tagOfName(tagName: string): number {
  if (/^0x[0-9a-fA-F]{6}$/.test(tagName)) return parseInt(tagName.slice(2), 16);
  return kmipDictionary.tagByName(tagName) ?? 0;
}

/** The value text the codec reads for `item` as a value of type `type`. */
function textFor(item: TtlvItem, type: ItemTypeName): string {
  if (typeName(item) === type || item.type === ItemType.Structure) return itemValueText(item, kmipDictionary, {}, ' ');
  // A value bound under one type and quoted under another: only text <-> bytes make sense.
  if (item.type === ItemType.ByteString && type === 'TextString') return Buffer.from(item.value).toString('utf8');
  if (item.type === ItemType.TextString && type === 'ByteString') return Buffer.from(item.value, 'utf8').toString('hex');
  return itemValueText(item, kmipDictionary, {}, ' ');
}

/**
 * Text for a placeholder in a request. In order: `$NOW±n` is the current time moved by n seconds;
 * a bound placeholder is its value; an unbound identifier or `*RANDOM*` placeholder gets a fresh
 * value (an object the server does not have); any other unbound one is the latest value the
 * server returned under the same tag, or a fresh value when there is none.
 */
export function resolveRequestPlaceholder(info: PlaceholderInfo, state: CaseState, nowMs: number): string | undefined {
  const offset = nowOffset(info.raw);
  if (offset !== undefined) {
    const seconds = BigInt(Math.floor(nowMs / 1000) + offset);
    if (info.type === 'DateTimeExtended') return formatDateTimeExtended(seconds * 1_000_000n);
    if (info.type === 'DateTime') return formatDateTime(seconds);
    return undefined;
  }
  const b = state.bindings;
  const bound = b.get(info.raw);
  if (bound !== undefined) return textFor(bound, info.type);
  const tag = tagOfName(info.tagName);
  let value: TtlvItem;
  if (isIdentityPlaceholder(info.raw) || info.raw.includes('RANDOM')) {
    value = freshItem(tag, info.type, nowMs);
  } else {
    value = state.lastByTag.get(tag) ?? freshItem(tag, info.type, nowMs);
  }
  b.bind(info.raw, value);
  if (isIdentityPlaceholder(info.raw)) b.claim(identityKey(value), info.raw);
  return textFor(value, info.type);
}

/**
 * After the codec built a request: byte strings the case copied from an expected response whose
 * value was masked (a ciphertext under a generated key, a server-chosen IV) become what the
 * server really returned; and every byte string, big integer and date sent is remembered, so a
 * response may be held to values the client fixed.
 */
export function finishRequest(item: TtlvItem, state: CaseState): TtlvItem {
  const out = substituteMasked(item, state.bindings);
  recordSent(out, state.server);
  return out;
}

function substituteMasked(item: TtlvItem, b: Bindings): TtlvItem {
  if (item.type === ItemType.Structure) {
    let changed = false;
    const value = item.value.map((c) => {
      const n = substituteMasked(c, b);
      if (n !== c) changed = true;
      return n;
    });
    return changed ? ttlv.structure(item.tag, value) : item;
  }
  if (item.type !== ItemType.ByteString) return item;
  const actual = b.substitution(valueKey(item));
  return actual?.type === ItemType.ByteString ? ttlv.byteString(item.tag, actual.value) : item;
}

function recordSent(item: TtlvItem, server: ServerState): void {
  if (item.type === ItemType.Structure) {
    for (const c of item.value) recordSent(c, server);
    return;
  }
  if (item.type === ItemType.ByteString || item.type === ItemType.BigInteger || item.type === ItemType.DateTime || item.type === ItemType.DateTimeExtended) {
    server.sentValues.add(valueKey(item));
  }
}

function identityKey(item: TtlvItem): string {
  return item.type === ItemType.TextString ? item.value : valueKey(item);
}

// =============================================================================================
// After a response: what it tells later steps

const GENERATING_OPERATIONS: ReadonlySet<number> = new Set([
  Operation.Create,
  Operation.CreateKeyPair,
  Operation.ReKey,
  Operation.ReKeyKeyPair,
  Operation.DeriveKey,
  Operation.Certify,
  Operation.ReCertify,
  Operation.CreateSplitKey,
  Operation.JoinSplitKey,
]);

const REGISTERING_OPERATIONS: ReadonlySet<number> = new Set([Operation.Register, Operation.Import]);

function recordLeaves(item: TtlvItem, into: Map<number, TtlvItem>, returned: Set<string>): void {
  if (item.type === ItemType.Structure) for (const c of item.value) recordLeaves(c, into, returned);
  else {
    into.set(item.tag, item);
    if (item.type === ItemType.ByteString) returned.add(valueKey(item));
  }
}

/** Notes where the objects in a response came from, and the latest value under each tag. */
export function observeResponse(request: TtlvItem, response: TtlvItem, state: CaseState): void {
  const requests = childrenOf(request, Tag.BatchItem);
  childrenOf(response, Tag.BatchItem).forEach((item, i) => {
    if (enumOf(childOf(item, Tag.ResultStatus)) !== ResultStatus.Success) return;
    const op = enumOf(childOf(item, Tag.Operation));
    const payload = childOf(item, Tag.ResponsePayload);
    if (payload === undefined || op === undefined) return;
    recordLeaves(payload, state.lastByTag, state.server.returnedValues);
    const requestPayload = childOf(requests[i], Tag.RequestPayload);
    const objectType = enumOf(childOf(payload, Tag.ObjectType)) ?? enumOf(childOf(requestPayload, Tag.ObjectType));
    const ids: Array<[TtlvItem | undefined, number | undefined]> = [
      [childOf(payload, Tag.UniqueIdentifier), objectType],
      [childOf(payload, Tag.PrivateKeyUniqueIdentifier), ObjectType.PrivateKey],
      [childOf(payload, Tag.PublicKeyUniqueIdentifier), ObjectType.PublicKey],
    ];
    const origin = GENERATING_OPERATIONS.has(op) ? 'generated' : REGISTERING_OPERATIONS.has(op) ? 'registered' : undefined;
    if (origin === undefined) return;
    for (const [id, type] of ids) {
      const text = textOf(id);
      if (text !== undefined) state.server.objects.set(text, { origin, objectType: type });
    }
  });
}

// =============================================================================================
// The comparison

export interface Mismatch {
  /** e.g. "ResponseMessage/BatchItem/ResponsePayload/Attribute[State]/AttributeValue" */
  readonly path: string;
  readonly expected: string;
  readonly actual: string;
}

/**
 * How a leaf value is compared: 'exact'; 'any' value of the right type; 'length' (same number of
 * bytes: random data of a requested size); 'objectBytes' (key material and the like: exact when
 * the client supplied the object or the value, else any).
 */
type Rule = 'exact' | 'any' | 'length' | 'objectBytes';
type ListMode = 'superset' | 'set' | 'subsequence';

/** Decided once per batch item, from the operation and the object it works on. */
interface ItemPolicy {
  readonly operation: number | undefined;
  /** Key material of a returned object: fixed only if the client registered it and asked for it unwrapped. */
  readonly objectBytes: 'exact' | 'mask';
  /** Payload fields whose value depends on server randomness. */
  readonly outputs: ReadonlyMap<number, Rule>;
}

interface Ctx {
  readonly policy: ItemPolicy;
  /** 1.x: the Attribute Name of the attribute being compared (names its enumerations, picks masks). */
  readonly attributeName?: string;
  /** Inside a managed object (Symmetric Key, Private Key, ...) of a response payload. */
  readonly inObject: boolean;
}

const NO_POLICY: ItemPolicy = { operation: undefined, objectBytes: 'exact', outputs: new Map() };

const MANAGED_OBJECT_TAGS: ReadonlySet<number> = new Set([
  Tag.SymmetricKey,
  Tag.PrivateKey,
  Tag.PublicKey,
  Tag.SecretData,
  Tag.OpaqueObject,
  Tag.SplitKey,
  Tag.Certificate,
  Tag.PGPKey,
  Tag.Template,
]);

/** Server-chosen whatever the request: compared by type only. */
const ALWAYS_MASKED_TAGS: ReadonlySet<number> = new Set([
  Tag.ServerCorrelationValue,
  Tag.DigestValue,
  Tag.RandomNumberGenerator,
  Tag.LeaseTime,
  Tag.CorrelationValue,
  Tag.AsynchronousCorrelationValue,
]);

/** The same, for 1.x attributes, by Attribute Name. */
const MASKED_ATTRIBUTE_NAMES: ReadonlySet<string> = new Set(['Random Number Generator', 'Lease Time']);

/** Operations whose 1.x response may add the attributes the server set implicitly. */
const IMPLICIT_ATTRIBUTE_OPERATIONS: ReadonlySet<number> = new Set([
  ...GENERATING_OPERATIONS,
  ...REGISTERING_OPERATIONS,
]);
const IMPLICIT_ATTRIBUTE_TAGS = [Tag.TemplateAttribute, Tag.PrivateKeyTemplateAttribute, Tag.PublicKeyTemplateAttribute];

function policyFor(
  operation: number | undefined,
  request: TtlvItem | undefined,
  actual: TtlvItem,
  server: ServerState,
  batchObject: string | undefined,
): ItemPolicy {
  const requestPayload = childOf(request, Tag.RequestPayload);
  const uid = textOf(childOf(requestPayload, Tag.UniqueIdentifier)) ?? batchObject;
  const origin = uid === undefined ? undefined : server.objects.get(uid);
  const registered = origin?.origin === 'registered';
  const asymmetric = origin?.objectType === ObjectType.PublicKey || origin?.objectType === ObjectType.PrivateKey;
  const actualPayload = childOf(actual, Tag.ResponsePayload);
  const serverChoseIv = childOf(actualPayload, Tag.IVCounterNonce) !== undefined && childOf(requestPayload, Tag.IVCounterNonce) === undefined;
  const outputs = new Map<number, Rule>();
  switch (operation) {
    case Operation.Encrypt:
      // Fixed only for a client-known symmetric key and IV: RSA encryption pads at random.
      if (!registered || asymmetric || serverChoseIv) {
        for (const t of [Tag.Data, Tag.IVCounterNonce, Tag.AuthenticatedEncryptionTag]) outputs.set(t, 'any');
      }
      break;
    case Operation.Decrypt:
      // A key the server generated recovers the case's plaintext only from a ciphertext made under
      // that same key, i.e. one this server returned (the runner substitutes those). A literal it
      // never returned was encrypted under the key the case author's server generated.
      if (!registered && !producedByServer(childOf(requestPayload, Tag.Data), server)) outputs.set(Tag.Data, 'any');
      break;
    case Operation.Sign:
      // PSS, DSA and ECDSA signatures are randomised; the profiles do not fix the scheme.
      outputs.set(Tag.SignatureData, 'any');
      break;
    case Operation.MAC:
      if (!registered) outputs.set(Tag.MACData, 'any');
      break;
    case Operation.RNGRetrieve:
      outputs.set(Tag.Data, 'length');
      break;
  }
  const wrapped = childOf(requestPayload, Tag.KeyWrappingSpecification) !== undefined;
  return { operation, objectBytes: registered && !wrapped ? 'exact' : 'mask', outputs };
}

/** The value is one a response of this server carried (so it was computed with this server's keys). */
function producedByServer(item: TtlvItem | undefined, server: ServerState): boolean {
  return item !== undefined && server.returnedValues.has(valueKey(item));
}

/** Compares one response message; returns the first difference, or undefined. Binds placeholders. */
export function compareResponse(
  expected: ExpectedNode,
  actual: TtlvItem,
  request: TtlvItem,
  state: CaseState,
  nowMs: number = Date.now(),
): Mismatch | undefined {
  return new Comparer(state, nowMs).message(expected, actual, request);
}

class Comparer {
  constructor(
    private readonly state: CaseState,
    private readonly nowMs: number,
  ) {}

  private get b(): Bindings {
    return this.state.bindings;
  }

  message(exp: ExpectedNode, act: TtlvItem, request: TtlvItem): Mismatch | undefined {
    const path = label(exp.item.tag);
    if (act.tag !== exp.item.tag || act.type !== ItemType.Structure) {
      return { path, expected: `a ${label(exp.item.tag)}`, actual: `${label(act.tag)} (${typeName(act)})` };
    }
    // Batch items first: their Result Status and Reason say more than the header's Batch Count.
    const expItems = exp.children.filter((c) => c.item.tag === Tag.BatchItem);
    const actItems = childrenOf(act, Tag.BatchItem);
    const reqItems = childrenOf(request, Tag.BatchItem);
    let batchObject: string | undefined;
    for (let i = 0; i < expItems.length; i++) {
      const e = expItems[i] as ExpectedNode;
      const a = actItems[i];
      const itemPath = expItems.length > 1 ? `${path}/BatchItem[${i}]` : `${path}/BatchItem`;
      if (a === undefined) return { path: itemPath, expected: `${expItems.length} batch items`, actual: `${actItems.length}` };
      const op = enumOf(childOf(e.item, Tag.Operation)) ?? enumOf(childOf(a, Tag.Operation));
      const policy = policyFor(op, reqItems[i], a, this.state.server, batchObject);
      const m = this.node(e, a, itemPath, { policy, inObject: false }, 'exact');
      if (m) return withResult(m, a);
      // The ID Placeholder: a later item of the batch without an identifier works on this object.
      batchObject = textOf(childOf(childOf(a, Tag.ResponsePayload), Tag.UniqueIdentifier)) ?? batchObject;
    }
    if (actItems.length > expItems.length) {
      return { path: `${path}/BatchItem[${expItems.length}]`, expected: `${expItems.length} batch items`, actual: `${actItems.length}` };
    }
    const header = exp.children.find((c) => c.item.tag === Tag.ResponseHeader);
    if (header === undefined) return undefined;
    const actHeader = childOf(act, Tag.ResponseHeader);
    if (actHeader === undefined) return { path: `${path}/ResponseHeader`, expected: 'a Response Header', actual: 'none' };
    return this.node(answerInRequestVersion(header, request), actHeader, `${path}/ResponseHeader`, { policy: NO_POLICY, inObject: false }, 'exact');
  }

  node(exp: ExpectedNode, act: TtlvItem, path: string, ctx: Ctx, rule: Rule): Mismatch | undefined {
    if (act.tag !== exp.item.tag) return { path, expected: label(exp.item.tag), actual: label(act.tag) };
    if (act.type !== exp.item.type) {
      return { path, expected: `a ${typeName(exp.item)}`, actual: `a ${typeName(act)}: ${showValue(act, this.nameContext(ctx))}` };
    }
    if (exp.item.type === ItemType.Structure || act.type === ItemType.Structure) {
      if (rule === 'any' || act.type !== ItemType.Structure) return undefined;
      return this.structure(exp, act, path, ctx);
    }
    return this.leaf(exp, act, path, ctx, rule);
  }

  private nameContext(ctx: Ctx): TtlvNameContext {
    return ctx.attributeName === undefined ? {} : { attributeName: ctx.attributeName };
  }

  // ------------------------------------------------------------------------------------------
  // Structures

  private structure(exp: ExpectedNode, act: TtlvStructure, path: string, ctx: Ctx): Mismatch | undefined {
    const tag = exp.item.tag;
    if (tag === Tag.Attributes) return this.list(exp.children, act.value, path, ctx, 'superset', tag);
    if (tag === Tag.ResponsePayload && ctx.policy.operation === Operation.Query) {
      return this.list(exp.children, act.value, path, ctx, 'superset', tag);
    }
    let inner = ctx;
    let expChildren = exp.children;
    let actChildren: readonly TtlvItem[] = act.value;
    if (tag === Tag.Attribute) {
      const name = textOf(exp.children.find((c) => c.item.tag === Tag.AttributeName)?.item);
      inner = { ...ctx, attributeName: name === undefined ? undefined : collapseWhitespace(name) };
      // Attribute Index 0 is the default: present or absent, it says the same.
      expChildren = expChildren.filter((c) => !isZeroIndex(c.item));
      actChildren = actChildren.filter((c) => !isZeroIndex(c));
    } else if (MANAGED_OBJECT_TAGS.has(tag)) {
      inner = { ...ctx, inObject: true };
    }
    const lists = this.listTags(tag, ctx);
    const listed = (t: number) => lists.has(t);
    const m = this.sequence(
      expChildren.filter((c) => !listed(c.item.tag)),
      actChildren.filter((c) => !listed(c.tag)),
      path,
      inner,
      tag,
    );
    if (m) return m;
    for (const [t, mode] of lists) {
      const e = expChildren.filter((c) => c.item.tag === t);
      const a = actChildren.filter((c) => c.tag === t);
      const lm = this.list(e, a, path, inner, mode, tag);
      if (lm) return lm;
    }
    return undefined;
  }

  /** Children that form an unordered (or superset) list inside a structure with this tag. */
  private listTags(tag: number, ctx: Ctx): Map<number, ListMode> {
    const lists = new Map<number, ListMode>([[Tag.Attribute, 'superset']]);
    if (tag !== Tag.ResponsePayload) return lists;
    switch (ctx.policy.operation) {
      case Operation.DiscoverVersions:
        lists.set(Tag.ProtocolVersion, 'subsequence');
        break;
      case Operation.Locate:
        lists.set(Tag.UniqueIdentifier, 'set');
        break;
      case Operation.GetAttributeList:
        lists.set(Tag.AttributeName, 'superset');
        lists.set(Tag.AttributeReference, 'superset');
        break;
    }
    return lists;
  }

  /** Actual children that the expected structure may lack. */
  private allowedExtras(parent: number, ctx: Ctx): ReadonlySet<number> {
    switch (parent) {
      case Tag.ResponseHeader:
        // Echoed correlation values and attestation nonces: optional in the header.
        return new Set([Tag.ClientCorrelationValue, Tag.ServerCorrelationValue, Tag.Nonce]);
      case Tag.BatchItem:
        return new Set([Tag.ResultMessage]);
      case Tag.ResponsePayload:
        // Located Items: "a server MAY elect to return" the count (spec 1.3+, Locate).
        if (ctx.policy.operation === Operation.Locate) return new Set([Tag.LocatedItems]);
        return ctx.policy.operation !== undefined && IMPLICIT_ATTRIBUTE_OPERATIONS.has(ctx.policy.operation)
          ? new Set(IMPLICIT_ATTRIBUTE_TAGS)
          : new Set();
      default:
        return new Set();
    }
  }

  /** Ordered comparison, skipping the actual extras the parent allows. */
  private sequence(exps: readonly ExpectedNode[], acts: readonly TtlvItem[], path: string, ctx: Ctx, parent: number): Mismatch | undefined {
    const extras = this.allowedExtras(parent, ctx);
    const optional = optionalExpected(parent);
    let j = 0;
    for (const e of exps) {
      const p = `${path}/${segment(e, exps)}`;
      while (j < acts.length && (acts[j] as TtlvItem).tag !== e.item.tag && extras.has((acts[j] as TtlvItem).tag)) j++;
      const a = acts[j];
      if (a === undefined || a.tag !== e.item.tag) {
        if (optional.has(e.item.tag)) continue;
        return { path: p, expected: this.describeExpected(e, ctx), actual: a === undefined ? 'nothing' : `${label(a.tag)} in its place` };
      }
      const m = this.node(e, a, p, ctx, this.rule(e, ctx, parent));
      if (m) return m;
      j++;
    }
    for (; j < acts.length; j++) {
      const a = acts[j] as TtlvItem;
      if (!extras.has(a.tag)) return { path: `${path}/${label(a.tag)}`, expected: 'nothing', actual: showValue(a, this.nameContext(ctx)) };
    }
    return undefined;
  }

  /** Unordered matching: each expected element needs its own actual one; extras per `mode`. */
  private list(
    exps: readonly ExpectedNode[],
    acts: readonly TtlvItem[],
    path: string,
    ctx: Ctx,
    mode: ListMode,
    parent: number,
  ): Mismatch | undefined {
    const used = new Array<boolean>(acts.length).fill(false);
    let cursor = 0;
    for (const e of exps) {
      const p = `${path}/${segment(e, exps)}`;
      const eName = attributeNameOf(e.item);
      // A failed try is worth reporting only against the same attribute (by name, or by tag in a
      // 2.x Attributes structure); for plain values (operations, identifiers) any candidate would
      // do, so the report says "missing".
      const keyed = e.item.type === ItemType.Structure || parent === Tag.Attributes;
      let firstFailure: Mismatch | undefined;
      let found = -1;
      for (let j = mode === 'subsequence' ? cursor : 0; j < acts.length; j++) {
        const a = acts[j] as TtlvItem;
        if (used[j] || a.tag !== e.item.tag) continue;
        if (eName !== undefined && attributeNameOf(a) !== eName) continue;
        const mark = this.b.mark();
        const m = this.node(e, a, p, ctx, this.rule(e, ctx, parent));
        if (m === undefined) {
          found = j;
          break;
        }
        this.b.rollback(mark);
        if (keyed) firstFailure ??= m;
      }
      if (found < 0) {
        const returned = acts.filter((a) => a.tag === e.item.tag).length;
        const missing = keyed ? 'missing' : `missing (not among the ${returned} returned)`;
        return firstFailure ?? { path: p, expected: this.describeExpected(e, ctx), actual: missing };
      }
      used[found] = true;
      cursor = found + 1;
    }
    if (mode === 'set') {
      const extra = acts.findIndex((_, j) => !used[j]);
      if (extra >= 0) {
        const a = acts[extra] as TtlvItem;
        const expected = exps.length === 0 ? `no ${label(a.tag)}` : `only the ${exps.length} expected`;
        return { path: `${path}/${label(a.tag)}`, expected, actual: `also ${showValue(a)}` };
      }
    }
    return undefined;
  }

  /** How the value of child `e` of `parent` is compared. */
  private rule(e: ExpectedNode, ctx: Ctx, parent: number): Rule {
    const tag = e.item.tag;
    if (parent === Tag.ResponseHeader && tag === Tag.TimeStamp) return 'any';
    if (parent === Tag.BatchItem && tag === Tag.ResultMessage) return 'any';
    if (ALWAYS_MASKED_TAGS.has(tag)) return 'any';
    if (tag === Tag.AttributeValue && ctx.attributeName !== undefined && MASKED_ATTRIBUTE_NAMES.has(ctx.attributeName)) return 'any';
    if (ctx.policy.operation === Operation.Query && (tag === Tag.VendorIdentification || tag === Tag.ServerInformation)) return 'any';
    if (parent === Tag.ResponsePayload) {
      const r = ctx.policy.outputs.get(tag);
      if (r !== undefined) return r;
    }
    if (ctx.inObject && (e.item.type === ItemType.ByteString || e.item.type === ItemType.BigInteger)) return 'objectBytes';
    return 'exact';
  }

  // ------------------------------------------------------------------------------------------
  // Leaves

  private leaf(exp: ExpectedNode, act: TtlvItem, path: string, ctx: Ctx, rule: Rule): Mismatch | undefined {
    if (exp.placeholder !== undefined) {
      // A masked time (the header's Time Stamp) is not held to the $NOW window either.
      if (rule === 'any' && nowOffset(exp.placeholder) !== undefined) return undefined;
      return this.placeholder(exp.placeholder, act, path, ctx);
    }
    const e = exp.item;
    if (e.type === ItemType.DateTime || e.type === ItemType.DateTimeExtended) {
      // A literal date is held only when the client sent it; otherwise it is the clock of the
      // server that produced the case (the v1.0-1.2 transcriptions carry such dates).
      if (rule === 'any' || !this.state.server.sentValues.has(valueKey(e))) return undefined;
      return this.equal(exp, act, path, ctx);
    }
    switch (rule) {
      case 'any':
        this.noteMasked(e, act);
        return undefined;
      case 'length':
        if (e.type === ItemType.ByteString && act.type === ItemType.ByteString && e.value.length !== act.value.length) {
          return { path, expected: `${e.value.length} bytes`, actual: `${act.value.length} bytes` };
        }
        return undefined;
      case 'objectBytes':
        if (ctx.policy.objectBytes === 'exact' || this.state.server.sentValues.has(valueKey(e))) return this.equal(exp, act, path, ctx);
        this.noteMasked(e, act);
        return undefined;
      case 'exact':
        return this.equal(exp, act, path, ctx);
    }
  }

  private equal(exp: ExpectedNode, act: TtlvItem, path: string, ctx: Ctx): Mismatch | undefined {
    if (sameValue(exp.item, act)) return undefined;
    const names = this.nameContext(ctx);
    return { path, expected: showValue(exp.item, names), actual: showValue(act, names) };
  }

  /** Remembers a masked byte string, so a later request quoting the case's value sends the server's. */
  private noteMasked(e: TtlvItem, act: TtlvItem): void {
    if (e.type === ItemType.ByteString && act.type === ItemType.ByteString && e.value.length >= 4 && !sameValue(e, act)) {
      this.b.substitute(valueKey(e), act);
    }
  }

  private placeholder(raw: string, act: TtlvItem, path: string, ctx: Ctx): Mismatch | undefined {
    const offset = nowOffset(raw);
    if (offset !== undefined) return this.timeWindow(raw, offset, act, path);
    const bound = this.b.get(raw);
    if (isIdentityPlaceholder(raw)) {
      if (bound !== undefined) {
        return sameValue(bound, act) ? undefined : { path, expected: `${raw} = ${showValue(bound)}`, actual: showValue(act, this.nameContext(ctx)) };
      }
      const key = identityKey(act);
      const owner = this.b.ownerOf(key);
      if (owner !== undefined && owner !== raw) return { path, expected: `a new identifier for ${raw}`, actual: `${showValue(act)}, which is ${owner}` };
      this.b.bind(raw, act);
      this.b.claim(key, raw);
      return undefined;
    }
    // Correlation values, IVs and data change from step to step: the latest value wins.
    this.b.bind(raw, act);
    return undefined;
  }

  /** `$NOW±n`: a time between the start of the run against this server and now, moved by n. */
  private timeWindow(raw: string, offset: number, act: TtlvItem, path: string): Mismatch | undefined {
    const slack = this.state.clockSlackSeconds;
    const lo = Math.floor(this.state.server.startedAtMs / 1000) - slack + offset;
    const hi = Math.ceil(this.nowMs / 1000) + slack + offset;
    let seconds: bigint;
    if (act.type === ItemType.DateTime) seconds = act.value;
    else if (act.type === ItemType.DateTimeExtended) seconds = act.value / 1_000_000n;
    else return undefined;
    if (seconds >= BigInt(lo) && seconds <= BigInt(hi)) return undefined;
    return { path, expected: `${raw} (${formatDateTime(BigInt(lo))} .. ${formatDateTime(BigInt(hi))})`, actual: formatDateTime(seconds) };
  }

  private describeExpected(e: ExpectedNode, ctx: Ctx): string {
    if (e.placeholder !== undefined) return `${label(e.item.tag)} ${e.placeholder}`;
    if (e.item.type === ItemType.Structure) {
      const name = attributeNameOf(e.item);
      return name === undefined ? `${label(e.item.tag)}` : `attribute "${name}"`;
    }
    return `${label(e.item.tag)} ${showValue(e.item, this.nameContext(ctx))}`;
  }
}

function isZeroIndex(item: TtlvItem): boolean {
  return item.tag === Tag.AttributeIndex && item.type === ItemType.Integer && item.value === 0;
}

/**
 * Children the expected structure shows that the server may leave out: Result Message is
 * informative, a Server Correlation Value is the server's choice to give.
 */
function optionalExpected(parent: number): ReadonlySet<number> {
  if (parent === Tag.BatchItem) return new Set([Tag.ResultMessage]);
  if (parent === Tag.ResponseHeader) return new Set([Tag.ServerCorrelationValue]);
  return new Set();
}

/** An expected tree for an item of the actual request (no placeholders). */
function plain(item: TtlvItem): ExpectedNode {
  return { item, children: item.type === ItemType.Structure ? item.value.map(plain) : [] };
}

/**
 * The server answers in the protocol version of the request (spec: Protocol Version). The corpus
 * has one response that says otherwise (v1.4 OMOS-O-1-14, step 2: 1.3 for a 1.4 request), a data
 * defect; so the version expected is always the request's.
 */
export function answerInRequestVersion(header: ExpectedNode, request: TtlvItem): ExpectedNode {
  const asked = childOf(childOf(request, Tag.RequestHeader), Tag.ProtocolVersion);
  if (asked === undefined) return header;
  return { ...header, children: header.children.map((c) => (c.item.tag === Tag.ProtocolVersion ? plain(asked) : c)) };
}

/** The 1.x Attribute Name of an Attribute structure (whitespace collapsed), else undefined. */
function attributeNameOf(item: TtlvItem): string | undefined {
  if (item.tag !== Tag.Attribute) return undefined;
  const name = textOf(childOf(item, Tag.AttributeName));
  return name === undefined ? undefined : collapseWhitespace(name);
}

/** Path segment of an expected child: its tag, with the attribute name or an index when repeated. */
function segment(e: ExpectedNode, siblings: readonly ExpectedNode[]): string {
  const name = label(e.item.tag);
  const attr = attributeNameOf(e.item);
  if (attr !== undefined) return `${name}[${attr}]`;
  const same = siblings.filter((s) => s.item.tag === e.item.tag);
  return same.length > 1 ? `${name}[${same.indexOf(e)}]` : name;
}

/** A wrong Result Status or Reason says why: the server's reason and message. */
function withResult(m: Mismatch, actualItem: TtlvItem): Mismatch {
  if (!/\/Result(Status|Reason)$/.test(m.path)) return m;
  const reason = childOf(actualItem, Tag.ResultReason);
  const message = textOf(childOf(actualItem, Tag.ResultMessage));
  const extra = [reason ? showValue(reason) : undefined, message !== undefined ? JSON.stringify(message) : undefined].filter((x) => x !== undefined);
  return extra.length === 0 ? m : { ...m, actual: `${m.actual} (${extra.join(': ')})` };
}
