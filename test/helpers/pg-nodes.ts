/**
 * Server nodes on one PostgreSQL database, as the scale-out tests start them: a config file per
 * node, a client of the library for one node or for a server list, and the CLI run to completion.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { KmipClient, attribute, nameAttribute } from '../../src/client';
import { CryptographicAlgorithm, CryptographicUsageMask } from '../../src/spec/generated/enums';
import { PROJECT_ROOT, type ServerProcess } from './server-process';

/** Writes `{store, ...extra}` as a 0600 config file. */
export function writeConfig(file: string, store: unknown, extra: Record<string, unknown> = {}): string {
  fs.writeFileSync(file, JSON.stringify({ store, ...extra }), { mode: 0o600 });
  return file;
}

/** A client of the library over TLS, its connections spread by its server list (failover order). */
export function nodeClient(servers: readonly ServerProcess[], opts: { certBase?: string; certDir?: string; maxConnections?: number } = {}): KmipClient {
  const pki = servers[0]!.pkiDir;
  const dir = opts.certDir ?? pki;
  const base = opts.certBase ?? 'client';
  return new KmipClient({
    servers: servers.map((s) => `127.0.0.1:${s.port}`),
    servername: 'localhost',
    ca: fs.readFileSync(path.join(pki, 'ca.pem')),
    cert: fs.readFileSync(path.join(dir, `${base}.pem`)),
    key: fs.readFileSync(path.join(dir, `${base}-key.pem`)),
    version: { major: 2, minor: 1 },
    ...(opts.maxConnections !== undefined ? { maxConnections: opts.maxConnections } : {}),
  });
}

export function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-r', path.join(PROJECT_ROOT, 'scripts', 'register-ts.js'), path.join(PROJECT_ROOT, 'scripts', 'run-cli.ts'), ...args],
      { cwd: PROJECT_ROOT, timeout: 180_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

export const aesKey = (name: string) => [
  attribute('Cryptographic Algorithm', CryptographicAlgorithm.AES),
  attribute('Cryptographic Length', 256),
  attribute('Cryptographic Usage Mask', CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt),
  nameAttribute(name),
];
