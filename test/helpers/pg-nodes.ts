/**
 * Server nodes on one PostgreSQL database, as the scale-out tests start them: a config file per
 * node, a client of the library for one node or for a server list, and the CLI run to completion.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KmipClient, attribute, nameAttribute } from '../../src/client';
import { CryptographicAlgorithm, CryptographicUsageMask } from '../../src/spec/generated/enums';
import { freshDatabase, postgresForTests } from './postgres';
import { PROJECT_ROOT, startServerProcess, type ServerProcess } from './server-process';

/** A server node, with the loopback address it listens on when not 127.0.0.1. */
export type Node = ServerProcess & { readonly host?: string };

/**
 * A test file's nodes: a temp root, a PostgreSQL cluster started on first use, and the nodes and
 * clients the file starts, all stopped after the file.
 */
export function usePgNodes(prefix: string) {
  let root = '';
  let pg: Awaited<ReturnType<typeof postgresForTests>> | undefined;
  const servers: ServerProcess[] = [];
  const clients: KmipClient[] = [];
  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    for (const s of servers) await s.stop();
    pg?.stop();
    fs.rmSync(root, { recursive: true, force: true });
  });
  return {
    root: () => root,
    /** Node configs on one fresh database: node 0 keeps the default audit trail, node i>0 its own `audit-i.log`. */
    async nodeConfigs(n: number, name: string): Promise<string[]> {
      pg ??= await postgresForTests();
      const url = await freshDatabase(pg.adminUrl);
      return Array.from({ length: n }, (_, i) =>
        writeConfig(path.join(root, `${name}-${i}.json`), { engine: 'postgres', url, poolSize: 8 }, i === 0 ? {} : { audit: { file: `audit-${i}.log` } }),
      );
    },
    /** `listen`: HOST:PORT (default a free port on 127.0.0.1). */
    async startNode(dataDir: string, config: string, listen?: string): Promise<Node> {
      const s = await startServerProcess({ dataDir, extraArgs: ['--config', config], ...(listen ? { listen } : {}) });
      servers.push(s);
      return listen ? { ...s, host: listen.slice(0, listen.lastIndexOf(':')) } : s;
    },
    track(c: KmipClient): KmipClient {
      clients.push(c);
      return c;
    },
  };
}

/** Writes `{store, ...extra}` as a 0600 config file. */
export function writeConfig(file: string, store: unknown, extra: Record<string, unknown> = {}): string {
  fs.writeFileSync(file, JSON.stringify({ store, ...extra }), { mode: 0o600 });
  return file;
}

/**
 * A client of the library over TLS, its connections spread by its server list (failover order).
 * It checks the server certificate's name `localhost`, or with `byAddress` each node's address.
 */
export function nodeClient(servers: readonly Node[], opts: { certBase?: string; certDir?: string; maxConnections?: number; byAddress?: boolean } = {}): KmipClient {
  const pki = servers[0]!.pkiDir;
  const dir = opts.certDir ?? pki;
  const base = opts.certBase ?? 'client';
  return new KmipClient({
    servers: servers.map((s) => `${s.host ?? '127.0.0.1'}:${s.port}`),
    ...(opts.byAddress ? {} : { servername: 'localhost' }),
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
