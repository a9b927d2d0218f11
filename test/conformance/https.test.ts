/**
 * The conformance runner aimed at a real KMIP-over-HTTPS endpoint (`--https-server`): the MSGENC
 * cases go over mutual TLS as POST /kmip in their own encoding (binary TTLV, KMIP JSON, KMIP XML)
 * to the server's HTTPS listener, with certificates made at test time and a real SoftHSM2 token.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureDevPki, type DevPki } from '../../src/pki/dev-pki';
import { createEmbeddedCore, type EmbeddedCore } from '../../src/embedded';
import { LEGACY_CRYPTO_POLICY } from '../../src/crypto/policy-profiles';
import { startHttpsListener } from '../../src/server/https-listener';
import type { RunningListener } from '../../src/server/listener';
import { MemoryAuditSink } from '../../src/audit/audit-log';
import { main } from '../../conformance/main';
import { withConformanceDir } from '../helpers/conformance';
import { openTestProtector } from '../helpers/hsm';
import { listenerOptions } from '../helpers/test-listener';

withConformanceDir((root) => {
  let dir: string;
  let pki: DevPki;
  let embedded: EmbeddedCore;
  let listener: RunningListener;
  const audit = new MemoryAuditSink();

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-conf-https-'));
    pki = ensureDevPki(path.join(dir, 'pki'));
    // The OASIS corpus exercises what the profiles of its time required (3DES, ECB, SHA-1 signatures,
    // short HMAC keys): it is replayed under the legacy cryptographic policy profile.
    embedded = await createEmbeddedCore(path.join(dir, 'data'), { keys: await openTestProtector(), audit, crypto: LEGACY_CRYPTO_POLICY });
    listener = await startHttpsListener(embedded.core, listenerOptions(pki));
  });

  afterAll(async () => {
    await listener.close();
    await embedded.close();
    await embedded.core.keys.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('--https-server: the MSGENC cases pass over HTTPS in TTLV, JSON and XML', async () => {
    const lines: string[] = [];
    const code = await main(
      [
        '--https-server', `127.0.0.1:${listener.address.port}`,
        '--ca', pki.caPath, '--cert', pki.clientCertPath, '--key', pki.clientKeyPath, '--servername', 'localhost',
        '--cases', root, '--filter', 'MSGENC', '--check-regressions',
      ],
      { line: (t) => lines.push(t) },
    );
    expect(lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(lines.filter((l) => l.startsWith('PASS')).sort()).toEqual(
      ['1.3', '1.4', '2.1'].flatMap((v) => ['HTTPS', 'JSON', 'XML'].map((e) => `PASS v${v} MSGENC-${e}-M-1-${v.replace('.', '')}`)),
    );
    expect(code).toBe(0);
    // Every request went through the listener and was audited under the certificate's identity.
    const queries = audit.records.filter((r) => r.event === 'operation' && r.operation === 'Query');
    // Nine cases (1.3, 1.4 and 2.1, each in three encodings) of two Queries each.
    expect(queries.length).toBe(18);
    expect(queries.every((r) => r.client === 'client')).toBe(true);
  }, 60_000);

  test('--server without --https-server skips the MSGENC cases, saying what to add', async () => {
    const lines: string[] = [];
    await main(['--server', '127.0.0.1:1', '--ca', pki.caPath, '--cert', pki.clientCertPath, '--key', pki.clientKeyPath, '--cases', root, '--filter', 'MSGENC-XML-M-1-14'], {
      line: (t) => lines.push(t),
    });
    expect(lines[0]).toBe('SKIP v1.4 MSGENC-XML-M-1-14: the MSGENC cases are KMIP over HTTPS: add --https-server HOST:PORT');
  });
});
