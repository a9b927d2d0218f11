/**
 * Serving from several worker processes (`--workers 2`): one port, one SQLite file, one token.
 * Every connection sees every other connection's writes, whichever worker serves it; concurrent
 * writes from both workers all land; a dead worker is replaced; the primary's end ends them all.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { ItemType, ttlv, type TtlvStructure } from '../../../ttlv/types';
import { Tag } from '../../../src/spec/generated/tags';
import { Operation } from '../../../src/spec/generated/enums';
import { attributeToV1 } from '../../../src/kmip/attributes';
import { connectClient, processEnded, startServerProcess, workerPids, type ServerProcess } from '../../helpers/server-process';
import { KmipTlsClient } from '../../helpers/tls-client';
import { allOf, find, parseResponse, registerAesPayload, requestMessage, successPayload, symmetricKeyMaterial, textOf } from '../../helpers/kmip-client';

jest.setTimeout(120_000);

const V = { major: 1, minor: 4 };

async function call(c: KmipTlsClient, operation: number, payload: Parameters<typeof ttlv.structure>[1]): Promise<TtlvStructure> {
  return successPayload(parseResponse(await c.request(requestMessage(V, [{ operation, payload }]))));
}

async function register(c: KmipTlsClient, key: Uint8Array): Promise<string> {
  return textOf(await call(c, Operation.Register, registerAesPayload(key)), Tag.UniqueIdentifier)!;
}

async function keyMaterial(c: KmipTlsClient, uid: string): Promise<Buffer> {
  return symmetricKeyMaterial(await call(c, Operation.Get, [ttlv.textString(Tag.UniqueIdentifier, uid)]));
}

async function customNotes(c: KmipTlsClient, uid: string): Promise<string[]> {
  const p = await call(c, Operation.GetAttributes, [ttlv.textString(Tag.UniqueIdentifier, uid)]);
  return allOf(p, Tag.Attribute)
    .map((a) => a as TtlvStructure)
    .filter((a) => textOf(a, Tag.AttributeName)?.startsWith('x-note-'))
    .map((a) => {
      const v = find(a, Tag.AttributeValue);
      return v && v.type === ItemType.TextString ? v.value : '';
    })
    .sort();
}

/** Processes holding an established connection on the server's port (`ss -tnp`). */
function pidsServingConnections(port: number): Set<number> {
  const out = execFileSync('ss', ['-Htnp', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
  return new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('two workers', () => {
  let server: ServerProcess;
  const clients: KmipTlsClient[] = [];

  beforeAll(async () => {
    server = await startServerProcess({ extraArgs: ['--workers', '2'] });
    for (let i = 0; i < 6; i++) clients.push(await connectClient(server));
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    const code = await server.stop('SIGTERM');
    const pids = workerPids(server);
    fs.rmSync(server.dataDir, { recursive: true, force: true });
    expect(code).toBe(0);
    expect(pids).toEqual([]);
  });

  test('the primary forks two workers, and both serve connections on the one port', () => {
    expect(server.output()).toMatch(/"msg":"listening".*"workers":2/);
    const workers = workerPids(server);
    expect(workers).toHaveLength(2);
    const serving = pidsServingConnections(server.port);
    for (const w of workers) expect(serving.has(w)).toBe(true);
  });

  test("each connection reads every other connection's writes, and sees later changes", async () => {
    const keys = clients.map(() => randomBytes(32));
    const uids = await Promise.all(clients.map((c, i) => register(c, keys[i]!)));
    for (const c of clients) {
      for (let i = 0; i < uids.length; i++) expect((await keyMaterial(c, uids[i]!)).equals(keys[i]!)).toBe(true);
    }
    // Each connection in turn adds a note to one object; every connection must see it at once,
    // although the other worker has the object's row cached from the reads above.
    const uid = uids[0]!;
    const expected: string[] = [];
    for (let i = 0; i < clients.length; i++) {
      await call(clients[i]!, Operation.AddAttribute, [
        ttlv.textString(Tag.UniqueIdentifier, uid),
        attributeToV1({ name: `x-note-${i}`, value: ttlv.textString(Tag.AttributeValue, `note ${i}`) }),
      ]);
      expected.push(`note ${i}`);
      for (const c of clients) expect(await customNotes(c, uid)).toEqual([...expected].sort());
    }
  });

  test('concurrent writes through both workers all land and are found', async () => {
    const written = await Promise.all(
      clients.map(async (c) => {
        const out: string[] = [];
        for (let k = 0; k < 40; k++) out.push(await register(c, randomBytes(32)));
        return out;
      }),
    );
    const all = written.flat();
    expect(new Set(all).size).toBe(all.length);
    const found = await call(clients[0]!, Operation.Locate, []);
    const located = new Set(allOf(found, Tag.UniqueIdentifier).map((u) => (u as { value: string }).value));
    for (const uid of all) expect(located.has(uid)).toBe(true);
  });

  test('a worker killed with SIGKILL is replaced, and what was acknowledged is still there', async () => {
    const key = randomBytes(32);
    const uid = await register(clients[0]!, key);
    const [victim] = workerPids(server);
    process.kill(victim!, 'SIGKILL');
    const replaced = await waitFor('a replacement worker', () => {
      const now = workerPids(server);
      return now.length === 2 && !now.includes(victim!) ? now : undefined;
    });
    expect(replaced).toHaveLength(2);
    // Connections of the dead worker are gone; new ones are served (by either worker).
    for (let i = 0; i < 4; i++) {
      const c = await connectClient(server);
      clients.push(c);
      expect((await keyMaterial(c, uid)).equals(key)).toBe(true);
    }
    expect(server.output()).toMatch(/"msg":"worker exited".*"signal":"SIGKILL"/);
  });
});

test('when the primary is killed, its workers exit too', async () => {
  const server = await startServerProcess({ extraArgs: ['--workers', '2'] });
  const workers = workerPids(server);
  expect(workers).toHaveLength(2);
  await server.stop('SIGKILL');
  await waitFor('the workers to exit', () => (workers.every(processEnded) ? true : undefined), 15_000);
  fs.rmSync(server.dataDir, { recursive: true, force: true });
});
