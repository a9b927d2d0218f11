/**
 * The trail's volume is bounded by what a client achieves, its counts exact: one large message of
 * failing Gets (half a megabyte, eight thousand items) is one audit record, not eight thousand. A real
 * server process, real mTLS, SQLite and SoftHSM2.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BatchErrorContinuationOption, Operation, ResultReason, ResultStatus } from '../../../src/spec/generated/enums';
import { Tag } from '../../../src/spec/generated/tags';
import { ttlv } from '../../../ttlv/types';
import { parseResponse, requestMessage } from '../../helpers/kmip-client';
import { connectClient, startServerProcess, type ServerProcess } from '../../helpers/server-process';

const V = { major: 1, minor: 4 };
const ITEMS = 8_000;

let server: ServerProcess;
beforeAll(async () => {
  server = await startServerProcess();
});
afterAll(async () => {
  await server?.stop();
});

function auditLines(): Record<string, unknown>[] {
  return fs
    .readFileSync(path.join(server.dataDir, 'audit.log'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('eight thousand failing Gets in one message: one audit record with the exact count, a few hundred bytes', async () => {
  const items = Array.from({ length: ITEMS }, (_, i) => ({
    operation: Operation.Get,
    payload: [ttlv.textString(Tag.UniqueIdentifier, `no-such-object-${String(i).padStart(6, '0')}`)],
  }));
  const message = requestMessage(V, items, [ttlv.enumeration(Tag.BatchErrorContinuationOption, BatchErrorContinuationOption.Continue)]);
  expect(message.length).toBeGreaterThan(400_000);
  const before = fs.statSync(path.join(server.dataDir, 'audit.log')).size;
  const c = await connectClient(server);
  try {
    const r = parseResponse(await c.request(message));
    expect(r.items).toHaveLength(ITEMS);
    expect(r.items.every((i) => i.status === ResultStatus.OperationFailed && i.reason === ResultReason.ItemNotFound)).toBe(true);
  } finally {
    c.close();
  }
  // The answer came after its record was synced: it is in the file now.
  const grown = fs.statSync(path.join(server.dataDir, 'audit.log')).size - before;
  const gets = auditLines().filter((l) => l.operation === 'Get');
  expect(gets).toHaveLength(1);
  expect(gets[0]).toMatchObject({ client: 'client', resultStatus: 'OperationFailed', count: ITEMS });
  expect((gets[0]!.uniqueIdentifiers as string[]).length).toBe(10);
  expect(grown).toBeLessThan(4_000);
});
