/**
 * A listener over the embedded core for one test file: dev PKI made at test time, a real SQLite
 * file, a real SoftHSM2 token, and an in-memory audit sink the test can read.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureDevPki, type DevPki } from '../../src/pki/dev-pki';
import { createEmbeddedCore, type EmbeddedCore } from '../../src/embedded';
import { startListener, type ListenerOptions, type RunningListener } from '../../src/server/listener';
import { MemoryAuditSink } from '../../src/audit/audit-log';
import { openTestProtector } from './hsm';

export interface TestListener {
  dir: string;
  pki: DevPki;
  embedded: EmbeddedCore;
  listener: RunningListener;
  readonly audit: MemoryAuditSink;
}

export function listenerOptions(pki: DevPki, overrides: Partial<ListenerOptions> = {}): ListenerOptions {
  return {
    host: '127.0.0.1',
    port: 0,
    key: fs.readFileSync(pki.serverKeyPath),
    cert: fs.readFileSync(pki.serverCertPath),
    ca: fs.readFileSync(pki.caPath),
    adminIdentities: [],
    identityFrom: 'cn',
    idleTimeoutMs: 10_000,
    handshakeTimeoutMs: 5_000,
    ...overrides,
  };
}

export function useTestListener(overrides: Partial<ListenerOptions> = {}): TestListener {
  const t = { audit: new MemoryAuditSink() } as TestListener;
  beforeAll(async () => {
    t.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-listener-'));
    t.pki = ensureDevPki(path.join(t.dir, 'pki'));
    t.embedded = await createEmbeddedCore(path.join(t.dir, 'data'), { keys: await openTestProtector(), audit: t.audit });
    t.listener = await startListener(t.embedded.core, listenerOptions(t.pki, overrides));
  });
  afterAll(async () => {
    await t.listener.close();
    await t.embedded.close();
    await t.embedded.core.keys.close();
    fs.rmSync(t.dir, { recursive: true, force: true });
  });
  return t;
}
