/**
 * Asynchronous operations through handleMessage (real SQLite, real SoftHSM2), in KMIP 1.4 and 2.1:
 * a client that sets the Asynchronous Indicator and asks for a long operation (an RSA-3072 pair) is
 * answered Operation Pending with an Asynchronous Correlation Value; Poll returns Operation Pending
 * while it runs and its result after; Cancel withdraws one still waiting; short operations and
 * clients that do not allow it are answered at once; another identity cannot poll or cancel it.
 */
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { ItemType, ttlv, type TtlvItem, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { CancellationResult, CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, Operation, QueryFunction, ResultReason, ResultStatus } from '../../../src/spec/generated/enums';
import type { KmipAttribute } from '../../../src/kmip/attributes';
import type { ProtocolVersion } from '../../../src/spec/versions';
import { attributesFor, find, successPayload, textOf, type ParsedResponse } from '../../helpers/kmip-client';
import { VERSIONS, bob, openHarness, uidItem, type Harness } from '../../helpers/ops-harness';
import type { MemoryAuditSink } from '../../../src/audit/audit-log';

let h: Harness;
beforeAll(async () => {
  h = await openHarness('async-ops');
});
afterAll(async () => {
  await h.close();
});

const allowAsync = [ttlv.boolean(Tag.AsynchronousIndicator, true)];

function rsaPair(v: ProtocolVersion, bits: number): TtlvItem[] {
  const wrap = (t1: number, t2: number, a: KmipAttribute[]) => ttlv.structure(v.major >= 2 ? t2 : t1, (attributesFor(v, a) as TtlvStructure).value);
  return [
    wrap(Tag.CommonTemplateAttribute, Tag.CommonAttributes, [
      { name: 'Cryptographic Algorithm', value: ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.RSA) },
      { name: 'Cryptographic Length', value: ttlv.integer(Tag.CryptographicLength, bits) },
    ]),
    wrap(Tag.PrivateKeyTemplateAttribute, Tag.PrivateKeyAttributes, [{ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Sign) }]),
    wrap(Tag.PublicKeyTemplateAttribute, Tag.PublicKeyAttributes, [{ name: 'Cryptographic Usage Mask', value: ttlv.integer(Tag.CryptographicUsageMask, CryptographicUsageMask.Verify) }]),
  ];
}

/** The Asynchronous Correlation Value of the response's only batch item. */
function correlationOf(r: ParsedResponse): Buffer {
  const item = r.root.value.find((c) => c.tag === Tag.BatchItem) as TtlvStructure;
  const acv = find(item, Tag.AsynchronousCorrelationValue);
  if (acv?.type !== ItemType.ByteString) throw new Error('no Asynchronous Correlation Value');
  return Buffer.from(acv.value);
}

const acvItem = (acv: Buffer) => ttlv.byteString(Tag.AsynchronousCorrelationValue, acv);

async function keyDer(v: ProtocolVersion, uid: string, format: number): Promise<Buffer> {
  const p = successPayload(await h.send(v, Operation.Get, [uidItem(uid), ttlv.enumeration(Tag.KeyFormatType, format)]));
  const body = p.value.find((c) => c.tag === Tag.PrivateKey || c.tag === Tag.PublicKey) as TtlvStructure;
  const block = find(body, Tag.KeyBlock) as TtlvStructure;
  const material = find(find(block, Tag.KeyValue) as TtlvStructure, Tag.KeyMaterial);
  if (material?.type !== ItemType.ByteString) throw new Error('no key bytes');
  return Buffer.from(material.value);
}

describe.each(VERSIONS)('KMIP %s asynchronous operations', (_label, v) => {
  test('an RSA-3072 pair: Operation Pending, Poll pending then the pair, which signs and verifies', async () => {
    const pending = await h.batch(v, [{ operation: Operation.CreateKeyPair, payload: rsaPair(v, 3072) }], allowAsync);
    expect(pending.items[0]!.status).toBe(ResultStatus.OperationPending);
    expect(pending.items[0]!.payload).toBeUndefined();
    const acv = correlationOf(pending);
    expect(acv.length).toBe(16);
    // Polled at once, the generation is still running (it takes far longer than this round trip).
    const early = await h.send(v, Operation.Poll, [acvItem(acv)]);
    expect(early.items[0]!.status).toBe(ResultStatus.OperationPending);
    expect(correlationOf(early).equals(acv)).toBe(true);
    await h.embedded.core.pending!.drain();
    const done = successPayload(await h.send(v, Operation.Poll, [acvItem(acv)]));
    const priv = textOf(done, Tag.PrivateKeyUniqueIdentifier)!;
    const pub = textOf(done, Tag.PublicKeyUniqueIdentifier)!;
    const privateKey = createPrivateKey({ key: await keyDer(v, priv, KeyFormatType.PKCS_8), format: 'der', type: 'pkcs8' });
    const publicKey = createPublicKey({ key: await keyDer(v, pub, KeyFormatType.X_509), format: 'der', type: 'spki' });
    expect(publicKey.asymmetricKeyDetails?.modulusLength).toBe(3072);
    expect(verify('sha256', Buffer.from('m'), publicKey, sign('sha256', Buffer.from('m'), privateKey))).toBe(true);
    // The outcome is audited when it happens, marked asynchronous.
    const audit = h.embedded.core.audit as MemoryAuditSink;
    expect(audit.records.some((rec) => rec.asynchronous === true && rec.operation === 'Create Key Pair' && rec.uniqueIdentifiers?.includes(priv))).toBe(true);
    expect(audit.records.some((rec) => rec.resultStatus === 'OperationPending' && rec.operation === 'Create Key Pair')).toBe(true);
  });

  test('answered at once: a client that does not allow it, and a short operation (RSA-2048) even when allowed', async () => {
    expect(textOf(successPayload(await h.batch(v, [{ operation: Operation.CreateKeyPair, payload: rsaPair(v, 3072) }])), Tag.PrivateKeyUniqueIdentifier)).toBeDefined();
    expect(textOf(successPayload(await h.batch(v, [{ operation: Operation.CreateKeyPair, payload: rsaPair(v, 2048) }], allowAsync)), Tag.PrivateKeyUniqueIdentifier)).toBeDefined();
  });

  test('Cancel: a waiting operation is cancelled (Poll says so), a running one cannot be, a finished one is Completed', async () => {
    // The first is an RSA-4096 pair: it runs for hundreds of milliseconds, the second waits behind it.
    const first = correlationOf(await h.batch(v, [{ operation: Operation.CreateKeyPair, payload: rsaPair(v, 4096) }], allowAsync));
    const second = correlationOf(await h.batch(v, [{ operation: Operation.CreateKeyPair, payload: rsaPair(v, 3072) }], allowAsync));
    const cancel = async (acv: Buffer) => find(successPayload(await h.send(v, Operation.Cancel, [acvItem(acv)])), Tag.CancellationResult)?.value;
    expect(await cancel(second)).toBe(CancellationResult.Canceled);
    expect(await cancel(first)).toBe(CancellationResult.UnableToCancel);
    const polled = await h.send(v, Operation.Poll, [acvItem(second)]);
    expect(polled.items[0]!.status).toBe(ResultStatus.OperationFailed);
    expect(polled.items[0]!.reason).toBe(ResultReason.OperationCanceledByRequester);
    await h.embedded.core.pending!.drain();
    expect(await cancel(first)).toBe(CancellationResult.Completed);
    expect(textOf(successPayload(await h.send(v, Operation.Poll, [acvItem(first)])), Tag.PublicKeyUniqueIdentifier)).toBeDefined();
  });

  test('another identity can neither poll nor cancel it', async () => {
    const acv = correlationOf(await h.batch(v, [{ operation: Operation.CreateKeyPair, payload: rsaPair(v, 3072) }], allowAsync));
    const r = await h.send(v, Operation.Poll, [acvItem(acv)], bob);
    expect(r.items[0]!.status).toBe(ResultStatus.OperationFailed);
    expect(r.items[0]!.reason).toBe(v.major >= 2 ? ResultReason.InvalidAsynchronousCorrelationValue : ResultReason.ItemNotFound);
    const c = successPayload(await h.send(v, Operation.Cancel, [acvItem(acv)], bob));
    expect(find(c, Tag.CancellationResult)?.value).toBe(CancellationResult.Unavailable);
    await h.embedded.core.pending!.drain();
  });

  test('Query says the server is capable of asynchronous operations', async () => {
    const p = successPayload(await h.send(v, Operation.Query, [ttlv.enumeration(Tag.QueryFunction, QueryFunction.QueryCapabilities)]));
    const caps = find(p, Tag.CapabilityInformation) as TtlvStructure;
    expect(find(caps, Tag.AsynchronousCapability)?.value).toBe(true);
  });
});
