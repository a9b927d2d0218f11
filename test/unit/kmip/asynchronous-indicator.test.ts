/**
 * The Request Header's Asynchronous Indicator as the server reads it: a Boolean in 1.x; in 2.x an
 * Enumeration where Mandatory and Optional both accept an asynchronous answer (Optional leaves the
 * choice to the server: dual control and long key generation answer Operation Pending), Prohibited
 * does not.
 */
import { ttlv, type TtlvItem } from '../../../ttlv/types';
import { decodeTtlv } from '../../../ttlv/decode';
import { Tag } from '../../../src/spec/generated/tags';
import { AsynchronousIndicator, Operation } from '../../../src/spec/generated/enums';
import { readRequestMessage } from '../../../src/kmip/message';
import { encodeRequest } from '../../../src/client/messages';

function indicatorRead(version: { major: number; minor: number }, header: TtlvItem[]): boolean | undefined {
  return readRequestMessage(decodeTtlv(encodeRequest(version, [{ operation: Operation.Query, payload: [] }], { header }))).header.asynchronousIndicator;
}

test.each([
  ['1.x true', { major: 1, minor: 4 }, [ttlv.boolean(Tag.AsynchronousIndicator, true)], true],
  ['1.x false', { major: 1, minor: 4 }, [ttlv.boolean(Tag.AsynchronousIndicator, false)], false],
  ['2.x Mandatory', { major: 2, minor: 1 }, [ttlv.enumeration(Tag.AsynchronousIndicator, AsynchronousIndicator.Mandatory)], true],
  ['2.x Optional', { major: 2, minor: 1 }, [ttlv.enumeration(Tag.AsynchronousIndicator, AsynchronousIndicator.Optional)], true],
  ['2.x Prohibited', { major: 2, minor: 1 }, [ttlv.enumeration(Tag.AsynchronousIndicator, AsynchronousIndicator.Prohibited)], false],
  ['absent', { major: 2, minor: 1 }, [], undefined],
])('%s', (_label, version, header, expected) => {
  expect(indicatorRead(version, header)).toBe(expected);
});
