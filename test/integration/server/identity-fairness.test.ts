/**
 * Fairness between identities (real listener, mTLS, SQLite, SoftHSM2): one certificate may hold at
 * most `maxConnectionsPerIdentity` connections, so it cannot take every slot; a connection past its
 * cap is closed after the handshake and audited with the identity, while another identity still
 * connects and is served.
 */
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { Operation, ResultStatus } from '../../../src/spec/generated/enums';
import { issueClientCertificate } from '../../../src/pki/dev-pki';
import { useTestListener } from '../../helpers/test-listener';
import { parseResponse, requestMessage } from '../../helpers/kmip-client';
import { TtlvFramer } from '../../../ttlv/framer';

const t = useTestListener({ maxConnectionsPerIdentity: 2 });

/** Opens a connection with `cert`/`key`; resolves with the first answer to Discover Versions, or null if it is closed unanswered. */
function ask(cert: Buffer, key: Buffer, keepOpen: tls.TLSSocket[]): Promise<number | null> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: t.listener.address.port, servername: 'localhost', ca: fs.readFileSync(t.pki.caPath), cert, key });
    const framer = new TtlvFramer({ maxMessageBytes: 1 << 20 });
    s.once('secureConnect', () => s.write(requestMessage({ major: 1, minor: 4 }, [{ operation: Operation.DiscoverVersions, payload: [] }])));
    s.on('data', (d: Buffer) => {
      const [frame] = framer.push(d);
      if (frame) {
        keepOpen.push(s);
        resolve(parseResponse(frame).items[0]!.status);
      }
    });
    s.once('error', () => resolve(null));
    s.once('close', () => resolve(null));
  });
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

test('a third connection of one identity is refused and audited; a second identity is still served', async () => {
  const open: tls.TLSSocket[] = [];
  const clientCert = fs.readFileSync(t.pki.clientCertPath);
  const clientKey = fs.readFileSync(t.pki.clientKeyPath);
  const bobFiles = issueClientCertificate(path.dirname(t.pki.caPath), 'bob', path.join(t.dir, 'bob'));
  try {
    expect(await ask(clientCert, clientKey, open)).toBe(ResultStatus.Success);
    expect(await ask(clientCert, clientKey, open)).toBe(ResultStatus.Success);
    expect(await ask(clientCert, clientKey, open)).toBeNull();
    await until(() => t.audit.records.some((r) => r.event === 'connection-rejected' && r.client === 'client' && /per-identity connection limit/.test(r.reason ?? '')), 'the audit record');
    expect(await ask(Buffer.from(bobFiles.certPem), Buffer.from(bobFiles.keyPem), open)).toBe(ResultStatus.Success);
    // A slot freed by a close is usable again.
    const closed = open.shift()!;
    await new Promise<void>((r) => {
      closed.once('close', () => r());
      closed.destroy();
    });
    // The server learns of the close a moment later: ask again until it has (each early try is refused).
    let served: number | null = null;
    const deadline = Date.now() + 30_000;
    while (served !== ResultStatus.Success && Date.now() < deadline) served = await ask(clientCert, clientKey, open);
    expect(served).toBe(ResultStatus.Success);
  } finally {
    for (const s of open) s.destroy();
  }
});
