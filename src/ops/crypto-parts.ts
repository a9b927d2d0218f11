/**
 * The multi-part fields of the cryptographic operations (Init Indicator, Correlation Value, Final
 * Indicator, KMIP 1.3 on): which part a request is, and the error for a Correlation Value that
 * names no stream.
 */
import type { TtlvStructure } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { opt } from '../kmip/tree';
import type { OpContext } from '../server/context';
import { KmipError, Reason } from '../server/errors';
import { closeStream } from '../crypto/streams';
import { consumeUsage } from './crypto-key';
import { versionedError } from './managed-object';

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
export function unknownCorrelation(ctx: OpContext, operation: string): () => KmipError {
  return () =>
    versionedError(ctx, [Reason.InvalidCorrelationValue, Reason.ItemNotFound], `${operation}: no operation in progress has this Correlation Value`);
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
