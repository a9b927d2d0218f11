/**
 * Concurrent attribute changes to one object from 32 connections at once: none is lost (each
 * write computed from a stale read is refused and its request runs again, in turn per object).
 */
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import { ttlv, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { Operation } from '../../../src/spec/generated/enums';
import { attributeToV1 } from '../../../src/kmip/attributes';
import { connectClient, startServerProcess } from '../../helpers/server-process';
import { KmipTlsClient } from '../../helpers/tls-client';
import { allOf, parseResponse, registerAesPayload, requestMessage, successPayload, textOf } from '../../helpers/kmip-client';

jest.setTimeout(120_000);
const V = { major: 1, minor: 4 };

async function call(c: KmipTlsClient, operation: number, payload: Parameters<typeof ttlv.structure>[1]): Promise<TtlvStructure> {
  return successPayload(parseResponse(await c.request(requestMessage(V, [{ operation, payload }]))));
}

test.each([['1'], ['2']])('workers %s: every concurrent Add Attribute survives', async (workers) => {
  const server = await startServerProcess({ extraArgs: ['--workers', workers] });
  const clients: KmipTlsClient[] = [];
  try {
    for (let i = 0; i < 32; i++) clients.push(await connectClient(server));
    const reg = await call(clients[0]!, Operation.Register, registerAesPayload(randomBytes(32)));
    const uid = textOf(reg, Tag.UniqueIdentifier)!;
    const rounds = 10;
    await Promise.all(
      clients.map(async (c, i) => {
        for (let r = 0; r < rounds; r++) {
          await call(c, Operation.AddAttribute, [
            ttlv.textString(Tag.UniqueIdentifier, uid),
            attributeToV1({ name: `x-c${i}-r${r}`, value: ttlv.textString(Tag.AttributeValue, 'v') }),
          ]);
        }
      }),
    );
    const p = await call(clients[0]!, Operation.GetAttributes, [ttlv.textString(Tag.UniqueIdentifier, uid)]);
    const names = allOf(p, Tag.Attribute).map((a) => textOf(a as TtlvStructure, Tag.AttributeName)).filter((n) => n?.startsWith('x-c'));
    expect(names).toHaveLength(clients.length * rounds);
  } finally {
    for (const c of clients) c.close();
    await server.stop('SIGTERM');
    fs.rmSync(server.dataDir, { recursive: true, force: true });
  }
});
