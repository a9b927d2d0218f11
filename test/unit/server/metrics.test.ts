/**
 * ServerMetrics on its own: what it reads from audit records (folded failures counted whole,
 * refusals and rejected messages as bounded labels, records passed on unchanged), the HSM calls it
 * times on a real SoftHSM2 token (a failure counted by its code and thrown on as it was), and the
 * refusal reasons the listeners write, each mapped to its label.
 */
import { KEK_LABEL } from '../../../src/config';
import { MemoryAuditSink, type AuditRecord } from '../../../src/audit/audit-log';
import { Pkcs11KeyProtector } from '../../../src/keys/pkcs11';
import { KeyProtectorError } from '../../../src/keys/key-protector';
import { softHsmProtectorConfig } from '../../../src/keys/softhsm';
import { ServerMetrics, refusalKind } from '../../../src/server/metrics';
import { AggregatorRegistry } from 'prom-client';
import { ObjectType, ResultReason, State } from '../../../src/spec/generated/enums';
import { NO_CLIENT_AUTH_EKU, NO_CLIENT_CERTIFICATE, NO_IDENTITY } from '../../../src/pki/client-certificate';
import { makeTestToken } from '../../helpers/softhsm';
import { sample } from '../../helpers/metrics-scrape';

const operation = (o: Partial<AuditRecord>): AuditRecord => ({ event: 'operation', correlationId: 'c', client: 'client', protocolVersion: '2.1', ...o });

test('audit records become request, refusal and rejected-message counts; the records go on unchanged', async () => {
  const metrics = new ServerMetrics();
  const memory = new MemoryAuditSink();
  const audit = metrics.observeAudit(memory);
  const records: AuditRecord[] = [
    operation({ operation: 'Create', resultStatus: 'Success', durationMs: 2 }),
    operation({ operation: 'Create', resultStatus: 'Success', durationMs: 3 }),
    // AuditBurst folds identical failures of one message into one record with their count.
    operation({ operation: 'Destroy', resultStatus: 'OperationFailed', resultReason: String(ResultReason.ItemNotFound), count: 5, durationMs: 1 }),
    { event: 'connection-rejected', correlationId: 'c', peer: '127.0.0.1:1', reason: 'no client certificate' },
    { event: 'connection-rejected', correlationId: 'c', peer: '127.0.0.1:2', reason: 'per-identity connection limit reached (8 open connections for alice)' },
    { event: 'message-rejected', correlationId: 'c', peer: '127.0.0.1:3', reason: 'HTTP 415: unsupported content type' },
    { event: 'message-rejected', correlationId: 'c', peer: '127.0.0.1:3', reason: 'message not completed in time' },
    { event: 'message-rejected', correlationId: 'c', peer: '127.0.0.1:3', reason: 'BadTag' },
    { event: 'message-rejected', correlationId: 'c', peer: '127.0.0.1:3', protocolVersion: '9.9', resultStatus: 'OperationFailed', resultReason: String(ResultReason.UnsupportedProtocolVersion), reason: 'protocol version 9.9 is not supported' },
    { event: 'notification', correlationId: 'c' },
  ];
  for (const r of records) audit.record(r);
  expect(memory.records).toEqual(records);
  const text = await metrics.text();
  expect(sample(text, 'kmip_requests_total', { operation: 'Create', version: '2.1', result: 'Success', reason: '' })).toBe(2);
  expect(sample(text, 'kmip_requests_total', { operation: 'Destroy', result: 'OperationFailed', reason: 'ItemNotFound' })).toBe(5);
  expect(sample(text, 'kmip_request_duration_seconds_count', { operation: 'Destroy' })).toBe(5);
  expect(sample(text, 'kmip_request_duration_seconds_sum', { operation: 'Create' })).toBeCloseTo(0.005, 9);
  expect(sample(text, 'kmip_request_duration_seconds_bucket', { operation: 'Create', le: '0.0025' })).toBe(1);
  expect(sample(text, 'kmip_connections_refused_total', { reason: 'no_client_certificate' })).toBe(1);
  expect(sample(text, 'kmip_connections_refused_total', { reason: 'identity_limit' })).toBe(1);
  expect(sample(text, 'kmip_messages_rejected_total', { reason: 'http_415' })).toBe(1);
  expect(sample(text, 'kmip_messages_rejected_total', { reason: 'message_timeout' })).toBe(1);
  expect(sample(text, 'kmip_messages_rejected_total', { reason: 'framing' })).toBe(1);
  expect(sample(text, 'kmip_messages_rejected_total', { reason: 'UnsupportedProtocolVersion' })).toBe(1);
  // A scrape hands over totals: a second one shows the same, not double.
  expect(sample(await metrics.text(), 'kmip_requests_total', { operation: 'Create' })).toBe(2);
});

test.each([
  ['connection limit reached', 'connection_limit'],
  ['connection limit reached: closed an idle connection that sent nothing', 'connection_limit'],
  ['per-identity connection limit reached (2 open connections for bob)', 'identity_limit'],
  ['certificate revoked', 'certificate_revoked'],
  [NO_CLIENT_CERTIFICATE, 'no_client_certificate'],
  [NO_CLIENT_AUTH_EKU, 'no_client_auth_eku'],
  [NO_IDENTITY, 'no_identity'],
  ['client certificate rejected: UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'certificate_unable_to_verify_leaf_signature'],
  ['client certificate rejected: CERT_HAS_EXPIRED', 'certificate_cert_has_expired'],
  ['140000:error:0A0000C1:SSL routines:tls_post_process_client_hello:no shared cipher', 'no_shared_cipher'],
  ['C0:error:0A000102:SSL routines:ssl_choose_server_version:unsupported protocol', 'protocol_version'],
  ['TLS handshake timeout', 'handshake_timeout'],
  ['Client network socket disconnected before secure TLS connection was established', 'disconnected'],
  ['something OpenSSL has not said before', 'handshake_failed'],
])('refusal "%s" is labelled %s', (reason, kind) => {
  expect(refusalKind(reason)).toBe(kind);
});

test('HSM calls on a real token are timed by call; a failure is counted by its code and thrown as it was', async () => {
  const token = makeTestToken('kmip-metrics-unit');
  const metrics = new ServerMetrics();
  const hsm = await Pkcs11KeyProtector.open(softHsmProtectorConfig(token, KEK_LABEL));
  try {
    const keys = metrics.observeKeys(hsm);
    expect(keys.kekId).toBe(hsm.kekId);
    const blob = await keys.protect('uid-1', Buffer.from('sixteen byte key'));
    expect(Buffer.from(await keys.unprotect('uid-1', blob)).toString()).toBe('sixteen byte key');
    // Moved to another identifier, the blob does not authenticate: the HSM's own refusal.
    const moved = await keys.unprotect('uid-2', blob).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(moved).toBeInstanceOf(KeyProtectorError);
    const text = await metrics.text();
    expect(sample(text, 'kmip_hsm_call_duration_seconds_count', { call: 'protect' })).toBe(1);
    expect(sample(text, 'kmip_hsm_call_duration_seconds_count', { call: 'unprotect' })).toBe(2);
    expect(sample(text, 'kmip_hsm_errors_total', { call: 'unprotect', code: (moved as KeyProtectorError).code })).toBe(1);
    expect(sample(text, 'kmip_hsm_errors_total', { call: 'protect' })).toBe(0);
  } finally {
    await hsm.close();
    token.cleanup();
  }
});

test('histogram buckets are cumulative, a value on a bound counts in that bucket, and two processes sum', async () => {
  const one = new ServerMetrics();
  const two = new ServerMetrics();
  // 1 ms is a bound of the request buckets: it belongs to le="0.001".
  one.observeAudit(new MemoryAuditSink()).record(operation({ operation: 'Get', resultStatus: 'Success', durationMs: 1 }));
  two.observeAudit(new MemoryAuditSink()).record(operation({ operation: 'Get', resultStatus: 'Success', durationMs: 20 }));
  one.readFrom({ objectCounts: async () => [{ objectType: ObjectType.SymmetricKey, state: State.Active, count: 7 }] });
  two.readFrom({ objectCounts: async () => [{ objectType: ObjectType.SymmetricKey, state: State.Active, count: 7 }] });
  const single = await one.text();
  expect(sample(single, 'kmip_request_duration_seconds_bucket', { operation: 'Get', le: '0.0005' })).toBe(0);
  expect(sample(single, 'kmip_request_duration_seconds_bucket', { operation: 'Get', le: '0.001' })).toBe(1);
  expect(sample(single, 'kmip_request_duration_seconds_bucket', { operation: 'Get', le: '10' })).toBe(1);
  const summed = await AggregatorRegistry.aggregate([await one.registry.getMetricsAsJSON(), await two.registry.getMetricsAsJSON()]).metrics();
  expect(sample(summed, 'kmip_requests_total', { operation: 'Get' })).toBe(2);
  expect(sample(summed, 'kmip_request_duration_seconds_bucket', { operation: 'Get', le: '0.001' })).toBe(1);
  expect(sample(summed, 'kmip_request_duration_seconds_bucket', { operation: 'Get', le: '0.025' })).toBe(2);
  expect(sample(summed, 'kmip_request_duration_seconds_sum', { operation: 'Get' })).toBeCloseTo(0.021, 9);
  // Both read the same store: one reading, not 14.
  expect(sample(summed, 'kmip_objects', { type: 'SymmetricKey', state: 'Active' })).toBe(7);
});
