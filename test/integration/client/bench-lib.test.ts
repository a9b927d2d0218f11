/**
 * The load generator's connections and requests (bench/lib), now over the client library, against
 * the real listener: what it sends is answered, and what it reads is what the server said.
 */
import fs from 'node:fs';
import { openConnections } from '../../../bench/lib/connection';
import { RequestBuilder, summarise } from '../../../bench/lib/kmip';
import { ResultReason } from '../../../src/spec/generated/enums';
import { useTestListener } from '../../helpers/test-listener';

const t = useTestListener();

it.each([
  [{ major: 1, minor: 4 }],
  [{ major: 2, minor: 1 }],
])('runs the workload operations in KMIP %j', async (version) => {
  const conns = await openConnections(
    {
      host: '127.0.0.1',
      port: t.listener.address.port,
      servername: 'localhost',
      ca: fs.readFileSync(t.pki.caPath),
      cert: fs.readFileSync(t.pki.clientCertPath),
      key: fs.readFileSync(t.pki.clientKeyPath),
      requestTimeoutMs: 30_000,
    },
    3,
  );
  try {
    const b = new RequestBuilder(version);
    const name = `bench-${version.major}${version.minor}`;
    const created = summarise(await conns[0]!.request(b.create(name)));
    expect(created.ok).toBe(true);
    const uid = created.uids[0]!;
    expect(summarise(await conns[1]!.request(b.locateByName(name))).uids).toEqual([uid]);
    expect(summarise(await conns[2]!.request(b.get(uid))).ok).toBe(true);
    expect(summarise(await conns[0]!.request(b.getAttributes(uid))).ok).toBe(true);
    expect(summarise(await conns[1]!.request(b.activate(uid))).ok).toBe(true);
    expect(summarise(await conns[2]!.request(b.encrypt(uid, Buffer.alloc(64, 7), Buffer.alloc(12, 1)))).ok).toBe(true);
    expect(summarise(await conns[0]!.request(b.revoke(uid))).ok).toBe(true);
    expect(summarise(await conns[1]!.request(b.destroy(uid))).ok).toBe(true);
    const gone = summarise(await conns[2]!.request(b.get(uid)));
    expect(gone.ok).toBe(false);
    expect(gone.reason).toBe(version.major >= 2 ? ResultReason.ObjectDestroyed : ResultReason.ItemNotFound);
    expect(summarise(Buffer.from('not a KMIP message')).ok).toBe(false);
  } finally {
    for (const c of conns) c.close();
  }
});
