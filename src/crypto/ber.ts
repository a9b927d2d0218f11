/**
 * asn1js's BER decoder, made total: it reports most malformed input as offset -1, but throws on
 * some (a RangeError for a BMPString or UniversalString of an odd length, found by the fuzz run).
 * Every parser of client-supplied DER goes through here, so both come back as one "does not parse".
 */
import * as asn1js from 'asn1js';

type Limits = Parameters<typeof asn1js.fromBER>[1];

/** The decoded structure and where it ended, or undefined when the bytes are not BER. */
export function decodeBer(bytes: Uint8Array, limits?: Limits): { readonly result: asn1js.AsnType; readonly offset: number } | undefined {
  try {
    const r = asn1js.fromBER(Uint8Array.from(bytes), limits);
    return r.offset === -1 ? undefined : r;
  } catch {
    return undefined;
  }
}
