/**
 * Our server composed as src/main.ts composes it (dev PKI, embedded SoftHSM2 token, SQLite file,
 * chained audit file, mTLS listener), with the HSM knobs the configuration does not expose, so
 * that variants can be measured end to end over TLS. Bench only; prints the same "listening"
 * line as the CLI.
 *
 *   node -r ./scripts/register-ts.js bench/server-variant.ts --data-dir DIR [--call-mode sync|async] [--sessions N]
 */
import fs from 'node:fs';
import path from 'node:path';
import { ensureDevPki } from '../src/pki/dev-pki';
import { Pkcs11KeyProtector } from '../src/keys/pkcs11';
import { ensureSoftHsmToken, softHsmProtectorConfig } from '../src/keys/softhsm';
import { SqliteObjectStore } from '../src/store/sqlite';
import { createAuditLog } from '../src/audit/audit-log';
import { buildRegistry } from '../src/server/registry';
import { SENT_OPERATIONS } from '../src/notify/messages';
import { systemClock } from '../src/objects/context';
import type { ServerCore } from '../src/server/handle-message';
import { startListener } from '../src/server/listener';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../ttlv/decode';
import { KEK_LABEL, SERVER_INFO } from '../src/embedded';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const dataDir = path.resolve(flag('data-dir') ?? './data');
  const callMode = (flag('call-mode') ?? 'async') as 'sync' | 'async';
  if (callMode !== 'sync' && callMode !== 'async') throw new Error('--call-mode sync|async');
  const sessions = Number(flag('sessions') ?? 4);
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const pki = ensureDevPki(path.join(dataDir, 'pki'));
  const token = ensureSoftHsmToken(path.join(dataDir, 'softhsm'));
  const keys = await Pkcs11KeyProtector.open(softHsmProtectorConfig(token, KEK_LABEL, { callMode, sessions }));
  const store = new SqliteObjectStore({ path: path.join(dataDir, 'kmip.sqlite') });
  const audit = createAuditLog({ file: path.join(dataDir, 'audit.log'), headFile: path.join(dataDir, 'audit-head.json'), mac: (d) => keys.auditMac(d) });
  const core: ServerCore = {
    registry: buildRegistry(SENT_OPERATIONS),
    store,
    keys,
    audit,
    clock: systemClock,
    server: SERVER_INFO,
    limits: { maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES },
  };
  const listener = await startListener(core, {
    host: '127.0.0.1',
    port: Number(flag('port') ?? 0),
    key: fs.readFileSync(pki.serverKeyPath),
    cert: fs.readFileSync(pki.serverCertPath),
    ca: fs.readFileSync(pki.caPath),
    adminIdentities: ['admin'],
    identityFrom: 'cn',
    idleTimeoutMs: 300_000,
    handshakeTimeoutMs: 10_000,
    messageTimeoutMs: 30_000,
    maxConnections: 4096,
  });
  console.log(JSON.stringify({ msg: 'listening', port: listener.address.port, callMode, sessions }));
  const stop = () => {
    void (async () => {
      await listener.close();
      store.close();
      await keys.close();
      await audit.close();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
