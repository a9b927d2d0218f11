/**
 * The one flow of the cryptographic operations that run in one request or in parts (Sign, Signature
 * Verify, MAC, MAC Verify, Hash, Encrypt, Decrypt; parts from KMIP 1.3 on). It reads the fields they
 * share (the key, Data, Correlation Value, Init Indicator, Final Indicator, Digested Data), passes
 * the key gate at every part, makes the single call or starts, continues or ends the stream
 * (src/crypto/streams.ts), counts Usage Limits, and writes the shared response fields (Unique
 * Identifier, Correlation Value). An operation describes only what is its own: its key use, how it
 * starts its stream, and what a part, the final part and a single call answer.
 */
import { ttlv, type TtlvItem, type TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { opt } from '../kmip/tree';
import { KmipError, Reason } from '../kmip/errors';
import { advanceStream, closeStream, openSession, resumeSession, type RunOf, type StreamKind, type StreamRun } from '../crypto/streams';
import type { OperationHandler, OpContext } from './context';
import { consumeUsage, loadKeyFor, type KeyUse, type UsableKey } from './crypto-key';

const EMPTY = new Uint8Array(0);

/** What every step of an operation sees. */
export interface PartRequest<Key extends UsableKey | undefined> {
  readonly payload: TtlvStructure;
  readonly ctx: OpContext;
  readonly key: Key;
  /** Data; empty when the request has none. */
  readonly data: Uint8Array;
}

/**
 * One operation over the flow. K is its stream's kind, S what a first part or single call sets up
 * (parameters resolved, the key in usable form), Key the gated key (none for Hash). The fields the
 * steps return go between the Unique Identifier and the Correlation Value.
 */
export interface MultiPartOperation<K extends StreamKind, S, Key extends UsableKey | undefined = UsableKey> {
  readonly operation: number;
  /** The operation's name in messages. */
  readonly name: string;
  readonly stream: K;
  /** The key gate, run at every part: `keyFor(use)`, or `noKey`. */
  readonly key: (ctx: OpContext, payload: TtlvStructure) => Promise<Key>;
  /**
   * Usage Limits, for the uses that protect: counted after each part's work. 'ends stream': a
   * refused part ends its stream, since the stream already holds that part's data (Sign, MAC).
   * 'keeps stream': Encrypt has always let its stream go on; kept so no client sees a change.
   */
  readonly usage?: 'ends stream' | 'keeps stream';
  /** The Missing Data message for a single call without Data; without it, no Data is empty Data. */
  readonly missingData?: string;
  /**
   * Encrypt and Decrypt, whose parts came first, keep two ways of their own so no client sees a
   * change: an Init Indicator beside a Correlation Value is ignored (the others refuse it), and a
   * later part answers without the Correlation Value (the others echo it).
   */
  readonly cipherParts?: true;
  /** Digested Data in place of Data (Sign, Signature Verify; 1.4 on): always a single call. */
  readonly digested?: (r: PartRequest<Key>, digest: Uint8Array) => Promise<TtlvItem[]>;
  /**
   * What the key settles before the request's part is looked at: the answer of a key that serves
   * only single calls (RSA encryption, post-quantum keys), else undefined.
   */
  readonly byKey?: (r: PartRequest<Key>) => TtlvItem[] | undefined | Promise<TtlvItem[] | undefined>;
  /** The set-up of a first part or a single call. */
  prepare(r: PartRequest<Key>): S;
  once(s: S, r: PartRequest<Key>): TtlvItem[];
  /**
   * The first part's stream, before its Data, and what the first part answers beyond what every
   * part does (a server-made IV).
   */
  start(s: S, r: PartRequest<Key>): { readonly run: RunOf<K>; readonly fields?: TtlvItem[] };
  /** Feeds a part's Data, first or later but not final, and answers its output; by default none. */
  readonly update?: (run: RunOf<K>, r: PartRequest<Key>) => TtlvItem[];
  /**
   * The final part, its Data not yet fed; `total` is the Data the stream had before it. The flow
   * ends the stream after.
   */
  finish(run: RunOf<K>, r: PartRequest<Key>, total: number): TtlvItem[];
}

/** The key gate for a use (src/objects/crypto-key.ts). */
export function keyFor(use: KeyUse): (ctx: OpContext, payload: TtlvStructure) => Promise<UsableKey> {
  return (ctx, payload) => loadKeyFor(ctx, payload, use);
}

/** Hash uses no key; its streams are bound to the client alone. */
export async function noKey(): Promise<undefined> {
  return undefined;
}

export function multiPartHandler<K extends StreamKind, S, Key extends UsableKey | undefined>(op: MultiPartOperation<K, S, Key>): OperationHandler {
  return { operation: op.operation, handle: (payload, ctx) => runParts(op, payload, ctx) };
}

async function runParts<K extends StreamKind, S, Key extends UsableKey | undefined>(
  op: MultiPartOperation<K, S, Key>,
  payload: TtlvStructure,
  ctx: OpContext,
): Promise<TtlvItem[]> {
  const part = readPart(payload, op.name, op.cipherParts !== true);
  const digest = op.digested === undefined ? undefined : digestedData(payload, part, op.name);
  const key = await op.key(ctx, payload);
  const uid = key?.uid;
  const data = opt.bytes(payload, Tag.Data) ?? EMPTY;
  const r: PartRequest<Key> = { payload, ctx, key, data };
  const out: TtlvItem[] = uid === undefined ? [] : [ttlv.textString(Tag.UniqueIdentifier, uid)];
  // Counted after the work succeeded, so a refused request does not use up the key.
  const count = async (bytes: number, stream?: Uint8Array): Promise<void> => {
    if (op.usage === undefined || uid === undefined) return;
    if (stream === undefined || op.usage === 'keeps stream') return consumeUsage(ctx, uid, bytes);
    return consumeOrEnd(ctx, uid, bytes, stream);
  };

  if (digest !== undefined && op.digested !== undefined) {
    out.push(...(await op.digested(r, digest)));
    await count(digest.length);
    return out;
  }
  const single = await op.byKey?.(r);
  if (single !== undefined) {
    out.push(...single);
    await count(data.length);
    return out;
  }

  const update = op.update ?? feed;
  const now = ctx.clock.now();
  // Hash streams are bound to no key.
  const boundTo = uid ?? '';
  if (part.kind === 'next') {
    const { run, total } = resumeSession(part.correlation, ctx.client.name, boundTo, op.stream, now, unknownCorrelation(op.name));
    if (!part.final) {
      out.push(...update(run, r));
      advanceStream(part.correlation, data.length);
      await count(data.length, part.correlation);
      if (op.cipherParts !== true) out.push(ttlv.byteString(Tag.CorrelationValue, Buffer.from(part.correlation)));
      return out;
    }
    try {
      out.push(...op.finish(run, r, total));
    } finally {
      // Closing disposes of any buffered data (EdDSA), so only once the final part is done.
      closeStream(part.correlation);
    }
    await count(data.length);
    return out;
  }

  const setup = op.prepare(r);
  if (part.kind === 'start') {
    const { run, fields = [] } = op.start(setup, r);
    out.push(...update(run, r), ...fields);
    const id = openSession(run, ctx.client.name, boundTo, now, data.length);
    await count(data.length, id);
    out.push(ttlv.byteString(Tag.CorrelationValue, id));
    return out;
  }
  if (op.missingData !== undefined && opt.bytes(payload, Tag.Data) === undefined) throw new KmipError(Reason.MissingData, op.missingData);
  out.push(...op.once(setup, r));
  await count(data.length);
  return out;
}

function feed(run: StreamRun, r: { readonly data: Uint8Array }): TtlvItem[] {
  run.state.update(r.data);
  return [];
}

/**
 * whole: one complete message (no indicators, Init and Final together, or Final alone);
 * start: the first part (Init without Final); next: a later part (Correlation Value), `final`
 * when it is the last.
 */
type Part =
  | { readonly kind: 'whole' }
  | { readonly kind: 'start' }
  | { readonly kind: 'next'; readonly correlation: Uint8Array; readonly final: boolean };

function readPart(payload: TtlvStructure, operation: string, refuseInitWithCorrelation: boolean): Part {
  const correlation = opt.bytes(payload, Tag.CorrelationValue);
  const init = opt.boolean(payload, Tag.InitIndicator) === true;
  const final = opt.boolean(payload, Tag.FinalIndicator) === true;
  if (correlation !== undefined) {
    if (init && refuseInitWithCorrelation) {
      throw new KmipError(Reason.InvalidField, `${operation}: a part with a Correlation Value continues a stream and cannot also start one (Init Indicator)`);
    }
    return { kind: 'next', correlation, final };
  }
  return init && !final ? { kind: 'start' } : { kind: 'whole' };
}

/**
 * A Correlation Value that names no stream of this client, key and operation: Invalid Correlation
 * Value in 2.x; KMIP 1.3 and 1.4 list Item Not Found ("No outstanding operation with the specified
 * Correlation Value exists").
 */
function unknownCorrelation(operation: string): () => KmipError {
  return () =>
    new KmipError(Reason.InvalidCorrelationValue, `${operation}: no operation in progress has this Correlation Value`, undefined, Reason.ItemNotFound);
}

/**
 * Usage Limits for a part already fed to the stream: counted after the work, like one-shot
 * signing; a refused part ends the stream, since it already holds that part's data.
 */
async function consumeOrEnd(ctx: OpContext, uid: string, bytes: number, correlation: Uint8Array): Promise<void> {
  try {
    await consumeUsage(ctx, uid, bytes);
  } catch (e) {
    closeStream(correlation);
    throw e;
  }
}

/**
 * Digested Data (Sign, Signature Verify; 1.4 on): the digest the client made, or undefined when
 * the request carries Data. It stands instead of Data, in a request of its own: a digest is the
 * end of hashing, so there are no parts to stream.
 */
function digestedData(payload: TtlvStructure, part: Part, operation: string): Uint8Array | undefined {
  const digested = opt.bytes(payload, Tag.DigestedData);
  if (digested === undefined) return undefined;
  // Before 1.4: refused by the request adapter.
  if (opt.bytes(payload, Tag.Data) !== undefined) throw new KmipError(Reason.InvalidField, `${operation}: give Data or Digested Data, not both`);
  if (part.kind !== 'whole') throw new KmipError(Reason.InvalidField, `${operation}: Digested Data is sent in one request, not in parts`);
  return digested;
}

/** A digest of the wrong length: Bad Cryptographic Parameters where the version has it, else Invalid Field. */
export function badDigest(): (message: string) => KmipError {
  return (message) => new KmipError(Reason.BadCryptographicParameters, message);
}
