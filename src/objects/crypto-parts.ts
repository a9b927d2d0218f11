/**
 * The multi-part fields of the cryptographic operations (Init Indicator, Correlation Value, Final
 * Indicator, KMIP 1.3 on): which part a request is, and the error for a Correlation Value that
 * names no stream.
 */
import type { TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { opt } from '../kmip/tree';
import type { OpContext } from './context';
import { KmipError, Reason } from '../kmip/errors';
import { closeStream } from '../crypto/streams';
import { consumeUsage } from './crypto-key';

/**
 * whole: one complete message (no indicators, Init and Final together, or Final alone);
 * start: the first part (Init without Final); next: a later part (Correlation Value), `final`
 * when it is the last.
 */
export type Part =
  | { readonly kind: 'whole' }
  | { readonly kind: 'start' }
  | { readonly kind: 'next'; readonly correlation: Uint8Array; readonly final: boolean };

export function readPart(payload: TtlvStructure, operation: string): Part {
  const correlation = opt.bytes(payload, Tag.CorrelationValue);
  const init = opt.boolean(payload, Tag.InitIndicator) === true;
  const final = opt.boolean(payload, Tag.FinalIndicator) === true;
  if (correlation !== undefined) {
    if (init) throw new KmipError(Reason.InvalidField, `${operation}: a part with a Correlation Value continues a stream and cannot also start one (Init Indicator)`);
    return { kind: 'next', correlation, final };
  }
  return init && !final ? { kind: 'start' } : { kind: 'whole' };
}

/**
 * A Correlation Value that names no stream of this client, key and operation: Invalid Correlation
 * Value in 2.x; KMIP 1.3 and 1.4 list Item Not Found ("No outstanding operation with the specified
 * Correlation Value exists").
 */
export function unknownCorrelation(_ctx: OpContext, operation: string): () => KmipError {
  return () =>
    new KmipError(Reason.InvalidCorrelationValue, `${operation}: no operation in progress has this Correlation Value`, undefined, Reason.ItemNotFound);
}

/**
 * Usage Limits for a part already fed to the stream: counted after the work, like one-shot
 * signing; a refused part ends the stream, since it already holds that part's data.
 */
export async function consumeOrEnd(ctx: OpContext, uid: string, bytes: number, correlation: Uint8Array): Promise<void> {
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
export function digestedData(payload: TtlvStructure, part: Part, ctx: OpContext, operation: string): Uint8Array | undefined {
  const digested = opt.bytes(payload, Tag.DigestedData);
  if (digested === undefined) return undefined;
  if (ctx.version.major === 1 && ctx.version.minor < 4) throw new KmipError(Reason.InvalidField, `${operation}: Digested Data is a KMIP 1.4 field`);
  if (opt.bytes(payload, Tag.Data) !== undefined) throw new KmipError(Reason.InvalidField, `${operation}: give Data or Digested Data, not both`);
  if (part.kind !== 'whole') throw new KmipError(Reason.InvalidField, `${operation}: Digested Data is sent in one request, not in parts`);
  return digested;
}

/** A digest of the wrong length: Bad Cryptographic Parameters where the version has it, else Invalid Field. */
export function badDigest(_ctx: OpContext): (message: string) => KmipError {
  return (message) => new KmipError(Reason.BadCryptographicParameters, message);
}

/** The MAC or signature to check at the final part: given then or with the first; Missing Data if neither. */
export function finalValue(value: Uint8Array | undefined, name: string): Uint8Array {
  if (value === undefined) throw new KmipError(Reason.MissingData, `${name} is required, with the first or the final part`);
  return value;
}
