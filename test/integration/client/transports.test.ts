/**
 * The client library's transports and pool against real listeners (mutual TLS and HTTPS on
 * 127.0.0.1:0, one embedded core with a real SQLite file and SoftHSM2 token), and against a TLS
 * server that reads a request and hangs up, to show what is sent again and what is not.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { KmipClient, KmipConnectionError, attribute, nameAttribute, type ServerAddress } from '../../../src/client';
import { ensureDevPki, type DevPki } from '../../../src/pki/dev-pki';
import { createEmbeddedCore, type EmbeddedCore } from '../../../src/embedded';
import { startListener, type RunningListener } from '../../../src/server/listener';
import { startHttpsListener } from '../../../src/server/https-listener';
import { MemoryAuditSink } from '../../../src/audit/audit-log';
import { CryptographicAlgorithm, ObjectType, Operation } from '../../../src/spec/generated/enums';
import { TtlvFramer } from '../../../ttlv/framer';
import { openTestProtector } from '../../helpers/hsm';
import { listenerOptions } from '../../helpers/test-listener';
import { waitFor } from '../../helpers/wait';

let dir: string;
let pki: DevPki;
let embedded: EmbeddedCore;
let tlsListener: RunningListener;
let httpsListener: RunningListener;
const audit = new MemoryAuditSink();

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-client-'));
  pki = ensureDevPki(path.join(dir, 'pki'));
  embedded = await createEmbeddedCore(path.join(dir, 'data'), { keys: await openTestProtector(), audit });
  tlsListener = await startListener(embedded.core, listenerOptions(pki));
  httpsListener = await startHttpsListener(embedded.core, listenerOptions(pki));
});

afterAll(async () => {
  await tlsListener.close();
  await httpsListener.close();
  await embedded.close();
  await embedded.core.keys.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const local = (port: number): ServerAddress => ({ host: '127.0.0.1', port });

function client(servers: ServerAddress[], opts: { transport?: 'tls' | 'https'; maxConnections?: number } = {}): KmipClient {
  return new KmipClient({
    servers,
    servername: 'localhost',
    ca: fs.readFileSync(pki.caPath),
    cert: fs.readFileSync(pki.clientCertPath),
    key: fs.readFileSync(pki.clientKeyPath),
    connectTimeoutMs: 5_000,
    ...opts,
  });
}

const aes = (name: string) => [attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES), attribute('Cryptographic Length', 128), nameAttribute(name)];

/** A port nothing listens on: bound, then closed again. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A TLS server with the real server certificate that counts each whole request and then hangs up without answering. */
async function hangUpServer(): Promise<{ port: number; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = tls.createServer(
    { key: fs.readFileSync(pki.serverKeyPath), cert: fs.readFileSync(pki.serverCertPath), ca: fs.readFileSync(pki.caPath), requestCert: true },
    (socket) => {
      const framer = new TtlvFramer({ maxMessageBytes: 1 << 20 });
      socket.on('data', (d: Buffer) => {
        requests += framer.push(d).length;
        socket.destroy();
      });
      socket.on('error', () => undefined);
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    requests: () => requests,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe('KMIP over HTTPS', () => {
  it('negotiates and runs the typed calls through POST /kmip on the HTTPS listener', async () => {
    const c = client([local(httpsListener.address.port)], { transport: 'https' });
    try {
      expect(await c.version()).toEqual({ major: 2, minor: 1 });
      const name = `https-${crypto.randomUUID()}`;
      const { uniqueIdentifier } = await c.create(ObjectType.SymmetricKey, aes(name));
      expect((await c.locate([nameAttribute(name)])).uniqueIdentifiers).toEqual([uniqueIdentifier]);
      expect((await c.get(uniqueIdentifier)).keyBlock?.cryptographicLength).toBe(128);
      expect(audit.records.some((r) => r.operation === 'Create' && (r.uniqueIdentifiers ?? []).includes(uniqueIdentifier))).toBe(true);
    } finally {
      c.close();
    }
  });
});

describe('the pool', () => {
  it('runs many requests at once on at most maxConnections connections, kept open for the next', async () => {
    const c = client([local(tlsListener.address.port)], { maxConnections: 2 });
    try {
      const { uniqueIdentifier } = await c.create(ObjectType.SymmetricKey, aes(`pool-${crypto.randomUUID()}`));
      let most = 0;
      const results = await Promise.all(
        Array.from({ length: 12 }, async () => {
          const r = await c.get(uniqueIdentifier);
          most = Math.max(most, c.openConnections);
          return r.uniqueIdentifier;
        }),
      );
      expect(results).toEqual(Array(12).fill(uniqueIdentifier));
      expect(most).toBeLessThanOrEqual(2);
      expect(c.openConnections).toBe(2);
    } finally {
      c.close();
    }
  });
});

describe('connections the server closes while idle', () => {
  it('are let go, and the next Create goes out on a new connection', async () => {
    const quick = await startListener(embedded.core, listenerOptions(pki, { idleTimeoutMs: 200 }));
    const c = client([local(quick.address.port)]);
    try {
      await c.query();
      expect(c.openConnections).toBe(1);
      await waitFor('the server closing the idle connection', () => c.openConnections === 0);
      const name = `after-idle-${crypto.randomUUID()}`;
      const { uniqueIdentifier } = await c.create(ObjectType.SymmetricKey, aes(name));
      expect((await c.locate([nameAttribute(name)])).uniqueIdentifiers).toEqual([uniqueIdentifier]);
    } finally {
      c.close();
      await quick.close();
    }
  });
});

describe('failover over the server list', () => {
  it('passes over a server that refuses connections and stays with the one that answers', async () => {
    const dead = local(await deadPort());
    const live = local(tlsListener.address.port);
    const c = client([dead, live]);
    try {
      expect((await c.query([])).payload).toBeDefined();
      expect(c.currentServer).toEqual(live);
    } finally {
      c.close();
    }
  });

  it('never sends a Create again when the connection failed after it was written', async () => {
    const hangUp = await hangUpServer();
    const c = client([local(hangUp.port), local(tlsListener.address.port)], { maxConnections: 1 });
    try {
      const name = `unknown-fate-${crypto.randomUUID()}`;
      // Pinned, so the Create is the first request the hang-up server reads.
      const pinned = new KmipClient({ ...clientOptions(), servers: [local(hangUp.port), local(tlsListener.address.port)], version: { major: 2, minor: 1 } });
      const err = await pinned.create(ObjectType.SymmetricKey, aes(name)).catch((e: unknown) => e);
      pinned.close();
      expect(err).toBeInstanceOf(KmipConnectionError);
      expect((err as KmipConnectionError).requestMayHaveBeenProcessed).toBe(true);
      expect((err as Error).message).toMatch(/not sent again/);
      expect(hangUp.requests()).toBe(1);
      // The second server never saw it.
      expect((await c.locate([nameAttribute(name)])).uniqueIdentifiers).toEqual([]);
    } finally {
      c.close();
      await hangUp.close();
    }
  });

  it('sends an idempotent request again on the next server when the connection failed after it was written', async () => {
    const hangUp = await hangUpServer();
    const live = local(tlsListener.address.port);
    const c = new KmipClient({ ...clientOptions(), servers: [local(hangUp.port), live], version: { major: 1, minor: 4 } });
    try {
      const [item] = await c.send([{ operation: Operation.Query, payload: [] }], { idempotent: true });
      expect(item!.operation).toBe(Operation.Query);
      expect(hangUp.requests()).toBe(1);
      expect(c.currentServer).toEqual(live);
    } finally {
      c.close();
      await hangUp.close();
    }
  });

  it('says which servers it tried when none answers', async () => {
    const a = local(await deadPort());
    const b = local(await deadPort());
    const c = client([a, b]);
    try {
      const err = (await c.query().catch((e: unknown) => e)) as KmipConnectionError;
      expect(err).toBeInstanceOf(KmipConnectionError);
      expect(err.requestMayHaveBeenProcessed).toBe(false);
      expect(err.attempts.join('\n')).toContain(`127.0.0.1:${a.port}`);
      expect(err.attempts.join('\n')).toContain(`127.0.0.1:${b.port}`);
      expect(err.message).toMatch(/ECONNREFUSED/);
    } finally {
      c.close();
    }
  });
});

function clientOptions() {
  return {
    servername: 'localhost',
    ca: fs.readFileSync(pki.caPath),
    cert: fs.readFileSync(pki.clientCertPath),
    key: fs.readFileSync(pki.clientKeyPath),
  };
}
