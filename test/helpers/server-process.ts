/**
 * Starts the real server as a child process (the CLI, from source), on a free loopback port with a
 * temp data dir, and waits for its "listening" line. The first start creates the dev PKI and the
 * SoftHSM2 token, as `npm start` does.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KmipTlsClient } from './tls-client';

export const PROJECT_ROOT = path.join(__dirname, '..', '..');

export interface ServerProcess {
  readonly port: number;
  /** The KMIP over HTTPS port, when the server was started with one (--https-listen or https.listen). */
  readonly httpsPort?: number;
  readonly dataDir: string;
  readonly pkiDir: string;
  readonly child: ChildProcess;
  output(): string;
  /** Sends the signal and resolves with the exit code, or the signal's name if it killed the process. */
  stop(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals | null>;
}

/** `listen`: the --listen flag (default a free loopback port); null: none, the configuration says where. */
export async function startServerProcess(opts: { dataDir?: string; extraArgs?: string[]; listen?: string | null } = {}): Promise<ServerProcess> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-srv-'));
  const listen = opts.listen === null ? [] : ['--listen', opts.listen ?? '127.0.0.1:0'];
  const child = spawn(
    process.execPath,
    ['-r', path.join(PROJECT_ROOT, 'scripts', 'register-ts.js'), path.join(PROJECT_ROOT, 'scripts', 'run-cli.ts'), 'start', ...listen, '--data-dir', dataDir, ...(opts.extraArgs ?? [])],
    { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    // A bound on a hang: a loaded machine transpiling the sources on start can take a minute.
    const timer = setTimeout(() => reject(new Error(`server did not start in time:\n${out}`)), 120_000);
    const check = () => {
      const m = /"msg":"listening".*?"port":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
  const https = /"msg":"listening".*?"httpsPort":(\d+)/.exec(out);
  return {
    port,
    ...(https ? { httpsPort: Number(https[1]) } : {}),
    dataDir,
    pkiDir: path.join(dataDir, 'pki'),
    child,
    output: () => out,
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode ?? child.signalCode);
        child.once('exit', (code, killedBy) => resolve(code ?? killedBy));
        child.kill(signal);
      }),
  };
}

/** The server's worker processes (`--workers N`): the primary's children. */
export function workerPids(server: ServerProcess): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(server.child.pid)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when there is none
  }
}

/** Whether a process has ended (gone, or a zombie no one has reaped yet). */
export function processEnded(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

/** A new mTLS connection to the server with the dev PKI's ordinary client certificate (client.pem, CN client). */
export function connectClient(server: ServerProcess): Promise<KmipTlsClient> {
  return connectAs(server, 'client');
}

/** A new mTLS connection with the dev PKI's administrator certificate (admin.pem, CN admin). */
export function connectAdmin(server: ServerProcess): Promise<KmipTlsClient> {
  return connectAs(server, 'admin');
}

function connectAs(server: ServerProcess, base: 'client' | 'admin'): Promise<KmipTlsClient> {
  return KmipTlsClient.connect({
    port: server.port,
    ca: fs.readFileSync(path.join(server.pkiDir, 'ca.pem')),
    cert: fs.readFileSync(path.join(server.pkiDir, `${base}.pem`)),
    key: fs.readFileSync(path.join(server.pkiDir, `${base}-key.pem`)),
  });
}
