/**
 * A Message Extension in a batch item, through handleMessage over a real store and token: a
 * critical one the server does not understand fails the item with Feature Not Supported in every
 * version (1.0 11.1 General Errors; the 1.0 use case "critical message extension" expects it);
 * a non-critical one is ignored.
 */
import { encodeTtlv } from '../../../ttlv/encode';
import { ttlv, type TtlvItem } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { ObjectType, Operation, ResultReason, ResultStatus } from '../../../src/spec/generated/enums';
import { handleMessage } from '../../../src/server/handle-message';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { attributesFor, parseResponse } from '../../helpers/kmip-client';
import { ENCRYPT_DECRYPT, aesTemplate, alice, openHarness, type Harness } from '../../helpers/ops-harness';

let h: Harness;
beforeAll(async () => {
  h = await openHarness('msgext');
});
afterAll(async () => {
  await h.close();
});

function createWithExtension(v: ProtocolVersion, critical: boolean): Uint8Array {
  const extension = ttlv.structure(Tag.MessageExtension, [
    ttlv.textString(Tag.VendorIdentification, 'Acme'),
    ttlv.boolean(Tag.CriticalityIndicator, critical),
    ttlv.structure(Tag.VendorExtension, [ttlv.textString(0x540001, 'na')]),
  ]);
  const payload: TtlvItem[] = [ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey), attributesFor(v, aesTemplate(undefined, ENCRYPT_DECRYPT, 128))];
  return encodeTtlv(
    ttlv.structure(Tag.RequestMessage, [
      ttlv.structure(Tag.RequestHeader, [
        ttlv.structure(Tag.ProtocolVersion, [ttlv.integer(Tag.ProtocolVersionMajor, v.major), ttlv.integer(Tag.ProtocolVersionMinor, v.minor)]),
        ttlv.integer(Tag.BatchCount, 1),
      ]),
      ttlv.structure(Tag.BatchItem, [ttlv.enumeration(Tag.Operation, Operation.Create), ttlv.structure(Tag.RequestPayload, payload), extension]),
    ]),
  );
}

const VERSIONS: readonly ProtocolVersion[] = [
  { major: 1, minor: 0 },
  { major: 1, minor: 2 },
  { major: 1, minor: 4 },
  { major: 2, minor: 0 },
  { major: 2, minor: 1 },
];

test.each(VERSIONS.map((v) => [`${v.major}.${v.minor}`, v] as const))('KMIP %s: a critical extension the server does not understand: Feature Not Supported; a non-critical one is ignored', async (_label, v) => {
  const refused = parseResponse(await handleMessage(createWithExtension(v, true), { client: alice }, h.embedded.core));
  expect(refused.items[0]!.status).toBe(ResultStatus.OperationFailed);
  expect(refused.items[0]!.reason).toBe(ResultReason.FeatureNotSupported);
  expect(refused.items[0]!.message).toMatch(/critical message extension of vendor "Acme"/);
  const ignored = parseResponse(await handleMessage(createWithExtension(v, false), { client: alice }, h.embedded.core));
  expect(ignored.items[0]!.status).toBe(ResultStatus.Success);
});
