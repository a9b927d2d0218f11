/**
 * First Gets through the real server (its Fresh write is not waited for): from many connections
 * at once, with attribute changes to the same keys, with one worker and with two; and across a
 * clean restart and a SIGKILL, after which every key reads consistently.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ttlv, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { Operation } from '../../../src/spec/generated/enums';
import { attributeToV1 } from '../../../src/kmip/attributes';
import { SqliteObjectStore } from '../../../src/store/sqlite';
import { connectClient, startServerProcess, type ServerProcess } from '../../helpers/server-process';
import { KmipTlsClient } from '../../helpers/tls-client';
import { allOf, find, parseResponse, registerAesPayload, requestMessage, successPayload, symmetricKeyMaterial, textOf } from '../../helpers/kmip-client';

jest.setTimeout(180_000);
const V = { major: 1, minor: 4 };

async function call(c: KmipTlsClient, operation: number, payload: Parameters<typeof ttlv.structure>[1]): Promise<TtlvStructure> {
  return successPayload(parseResponse(await c.request(requestMessage(V, [{ operation, payload }]))));
}

const uidItem = (uid: string) => ttlv.textString(Tag.UniqueIdentifier, uid);

/** Fresh, and the names of the x-c* attributes, as Get Attributes reports them. */
async function attributesOf(c: KmipTlsClient, uid: string): Promise<{ fresh: unknown; marks: string[] }> {
  const p = await call(c, Operation.GetAttributes, [uidItem(uid)]);
  const byName = (name: string) => allOf(p, Tag.Attribute).map((a) => a as TtlvStructure).filter((a) => textOf(a, Tag.AttributeName)?.startsWith(name));
  const value = (a: TtlvStructure) => find(a, Tag.AttributeValue);
  const freshValues = byName('Fresh').map((a) => value(a)?.value);
  expect(freshValues).toHaveLength(1);
  const marks = byName('x-c').map((a) => textOf(a, Tag.AttributeName)!);
  return { fresh: freshValues[0], marks: marks.sort() };
}

async function withServer<T>(server: ServerProcess, n: number, run: (clients: KmipTlsClient[]) => Promise<T>): Promise<T> {
  const clients: KmipTlsClient[] = [];
  try {
    for (let i = 0; i < n; i++) clients.push(await connectClient(server));
    return await run(clients);
  } finally {
    for (const c of clients) c.close();
  }
}

/** The custom attribute connection `i` adds (odd ones do); all of them, sorted. */
const markOf = (i: number) => `x-c${String(i).padStart(2, '0')}`;
const CONNECTIONS = 8;
const allMarks = Array.from({ length: CONNECTIONS / 2 }, (_, k) => markOf(2 * k + 1));

test.each([['1'], ['2']])('workers %s: first Gets and Add Attribute of the same keys from 8 connections at once: every change is kept, also after a clean restart', async (workers) => {
  let server = await startServerProcess({ extraArgs: ['--workers', workers] });
  const dataDir = server.dataDir;
  try {
    const keys = await withServer(server, CONNECTIONS, async (clients) => {
      const made: { uid: string; material: Buffer }[] = [];
      for (let k = 0; k < 8; k++) {
        const material = randomBytes(32);
        made.push({ uid: textOf(await call(clients[0]!, Operation.Register, registerAesPayload(material)), Tag.UniqueIdentifier)!, material });
      }
      // Half the connections get every key, the other half mark every key, all at once, each
      // starting at another key.
      await Promise.all(
        clients.map(async (c, i) => {
          for (let n = 0; n < made.length; n++) {
            const { uid, material } = made[(n + i) % made.length]!;
            if (i % 2 === 0) expect(symmetricKeyMaterial(await call(c, Operation.Get, [uidItem(uid)]))).toEqual(material);
            else await call(c, Operation.AddAttribute, [uidItem(uid), attributeToV1({ name: markOf(i), value: ttlv.textString(Tag.AttributeValue, 'v') })]);
          }
        }),
      );
      // Add Attribute answers once its write is durable, so any connection sees every mark. A
      // connection that got a key sees it not Fresh at once; another worker sees that only once
      // the write is committed, a moment later, so it is read where the Get was served.
      for (const { uid } of made) expect((await attributesOf(clients[1]!, uid)).marks).toEqual(allMarks);
      for (const [i, c] of clients.entries()) {
        if (i % 2 === 0) for (const { uid } of made) expect((await attributesOf(c, uid)).fresh).toBe(false);
      }
      return made;
    });
    expect(await server.stop('SIGTERM')).toBe(0);
    server = await startServerProcess({ dataDir, extraArgs: ['--workers', workers] });
    await withServer(server, 1, async ([c]) => {
      for (const { uid } of keys) {
        const a = await attributesOf(c!, uid);
        expect([a.fresh, a.marks]).toEqual([false, allMarks]);
      }
    });
  } finally {
    await server.stop('SIGTERM');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('killed (SIGKILL) right after first Gets: on restart every key reads consistently, and a Get makes it not Fresh', async () => {
  let server = await startServerProcess();
  const dataDir = server.dataDir;
  try {
    const keys = await withServer(server, 4, async (clients) => {
      const made: { uid: string; material: Buffer }[] = [];
      for (let k = 0; k < 16; k++) {
        const material = randomBytes(32);
        made.push({ uid: textOf(await call(clients[0]!, Operation.Register, registerAesPayload(material)), Tag.UniqueIdentifier)!, material });
      }
      // Each connection gets its share of the keys (one request at a time on a connection).
      await Promise.all(
        clients.map(async (c, i) => {
          for (let k = i; k < made.length; k += clients.length) await call(c, Operation.Get, [uidItem(made[k]!.uid)]);
        }),
      );
      return made;
    });
    await server.stop('SIGKILL');
    // The file as the crash left it: SQLite's own check, and every key still there.
    const store = new SqliteObjectStore({ path: path.join(dataDir, 'kmip.sqlite') });
    try {
      expect(store.integrityCheck()).toBe('ok');
      for (const { uid } of keys) expect(await store.get(uid)).toBeDefined();
    } finally {
      store.close();
    }
    server = await startServerProcess({ dataDir });
    await withServer(server, 1, async ([c]) => {
      for (const { uid, material } of keys) {
        // Lost or kept, the Fresh write leaves one Boolean: false if it was kept, true if not.
        expect([true, false]).toContain((await attributesOf(c!, uid)).fresh);
        expect(symmetricKeyMaterial(await call(c!, Operation.Get, [uidItem(uid)]))).toEqual(material);
        expect((await attributesOf(c!, uid)).fresh).toBe(false);
      }
    });
  } finally {
    await server.stop('SIGTERM');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
