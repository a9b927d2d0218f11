/**
 * Servers under test, each a child process on loopback with its own temp directory: ours from
 * source (scripts/run-cli.ts, as `npm start` runs it) and Debian's pykmip-server with
 * certificates issued from our dev PKI, so one client certificate works against both.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ensureDevPki, issueServerCertificate } from '../../src/pki/dev-pki';

export const PROJECT_ROOT = path.join(__dirname, '..', '..');

export interface ServerUnderTest {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  /** Directory holding ca.pem, client.pem, client-key.pem. */
  readonly pkiDir: string;
  readonly dir: string;
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

function stopper(child: ChildProcess) {
  return (graceMs = 10_000) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      child.kill('SIGTERM');
    });
}

function collect(child: ChildProcess): () => string {
  let out = '';
  const add = (d: Buffer) => {
    // Bounded: only the tail matters for diagnosing a failed start.
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  return () => out;
}

export interface OurServerOptions {
  readonly dataDir?: string;
  /** Extra node flags, e.g. --cpu-prof. */
  readonly nodeArgs?: readonly string[];
  readonly configFile?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Run bench/server-variant.ts with these flags instead of the CLI (HSM call mode, sessions). */
  readonly variant?: readonly string[];
  /** Another checkout of the project to run the server from (A/B against a baseline copy). */
  readonly root?: string;
  /** `--workers` of the server (serving processes); the CLI's default when absent. */
  readonly workers?: string;
}

export async function startOurServer(o: OurServerOptions = {}): Promise<ServerUnderTest> {
  const dir = o.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-bench-ours-'));
  const root = o.root ?? PROJECT_ROOT;
  const entry = o.variant
    ? [path.join(root, 'bench', 'server-variant.ts'), '--data-dir', dir, ...o.variant]
    : [
        path.join(root, 'scripts', 'run-cli.ts'),
        'start',
        '--listen',
        '127.0.0.1:0',
        '--data-dir',
        dir,
        ...(o.configFile ? ['--config', o.configFile] : []),
        ...(o.workers ? ['--workers', o.workers] : []),
      ];
  const args = [...(o.nodeArgs ?? []), '-r', path.join(root, 'scripts', 'register-ts.js'), ...entry];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: o.env ?? process.env });
  const output = collect(child);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`our server did not start in 60 s:\n${output()}`)), 60_000);
    const check = () => {
      const m = /"msg":"listening".*?"port":(\d+)/.exec(output());
      if (m) {
        clearTimeout(timer);
        child.stdout?.off('data', check);
        child.off('exit', exited);
        resolve(Number(m[1]));
      }
    };
    const exited = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`our server exited with ${code}:\n${output()}`));
    };
    child.stdout?.on('data', check);
    child.once('exit', exited);
  });
  return { name: 'ours', port, pid: child.pid!, pkiDir: path.join(dir, 'pki'), dir, output, stop: stopper(child) };
}

/** A port free on loopback now (pykmip-server cannot be told to pick one itself). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export const PYKMIP_SERVER = '/usr/bin/pykmip-server';

/**
 * Starts pykmip-server with its config in a temp dir: TLS 1.2 suite, client certificates
 * required (enable_tls_client_auth), its SQLite database and log in the same dir, an empty
 * policy directory. Certificates: a server certificate from the CA in `pkiDir`.
 */
export async function startPykmipServer(pkiDir: string): Promise<ServerUnderTest> {
  if (!fs.existsSync(PYKMIP_SERVER)) throw new Error(`${PYKMIP_SERVER} is missing (apt-get install python3-pykmip)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-bench-pykmip-'));
  ensureDevPki(pkiDir);
  const issued = issueServerCertificate(pkiDir, dir, { fileBase: 'pykmip-server' });
  const policies = path.join(dir, 'policies');
  fs.mkdirSync(policies);
  const port = await freePort();
  const conf = path.join(dir, 'server.conf');
  fs.writeFileSync(
    conf,
    [
      '[server]',
      'hostname=127.0.0.1',
      `port=${port}`,
      `certificate_path=${issued.certPath}`,
      `key_path=${issued.keyPath}`,
      `ca_path=${path.join(pkiDir, 'ca.pem')}`,
      'auth_suite=TLS1.2',
      `policy_path=${policies}`,
      'enable_tls_client_auth=True',
      // INFO logs several lines per request to a file; WARNING keeps logging from skewing figures.
      'logging_level=WARNING',
      `database_path=${path.join(dir, 'pykmip.db')}`,
      '',
    ].join('\n'),
  );
  const child = spawn(PYKMIP_SERVER, ['--config_path', conf, '--log_path', path.join(dir, 'server.log')], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collect(child);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pykmip-server exited with ${child.exitCode}:\n${output()}`);
    if (await acceptsConnections(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`pykmip-server did not listen on ${port} within 60 s:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const logOutput = () => {
    let log = '';
    try {
      log = fs.readFileSync(path.join(dir, 'server.log'), 'utf8').slice(-20_000);
    } catch {
      // no log yet
    }
    return output() + log;
  };
  return { name: 'PyKMIP', port, pid: child.pid!, pkiDir, dir, output: logOutput, stop: stopper(child) };
}
