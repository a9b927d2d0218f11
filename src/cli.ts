/**
 * `kmip-server start [--config FILE] [--pykmip-config FILE] [--listen HOST:PORT] [--data-dir DIR] [--workers N|auto]`
 * `kmip-server pki client --cn NAME --out DIR [--data-dir DIR]`
 * `kmip-server pki revoke --cert FILE [--data-dir DIR]`
 * `kmip-server hash-password` (the password on standard input, never on the command line)
 */
import cluster from 'node:cluster';
import path from 'node:path';
import { ConfigError, loadConfig } from './config';
import { startServer } from './main';
import { runWorkers, type WorkerReady } from './workers';
import { ensureDevPki, issueClientCertificate } from './pki/dev-pki';
import { revokeCertificate } from './pki/dev-crl';
import { lockDataDir, restrictNewFiles, secureDataDir } from './data-dir';
import { hashPassword } from './server/credentials';

const USAGE = `usage:
  kmip-server start [--config FILE] [--pykmip-config SERVER.CONF] [--listen HOST:PORT] [--data-dir DIR] [--workers N|auto]
  kmip-server pki client --cn NAME --out DIR [--data-dir DIR]
  kmip-server pki revoke --cert FILE [--data-dir DIR]
  kmip-server hash-password < password-file`;

function parseFlags(args: readonly string[], allowed: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--') || !allowed.includes(a.slice(2))) throw new ConfigError(a, `unknown argument\n${USAGE}`);
    const v = args[i + 1];
    if (v === undefined || v.startsWith('--')) throw new ConfigError(a, 'needs a value');
    flags.set(a.slice(2), v);
    i++;
  }
  return flags;
}

async function start(args: readonly string[]): Promise<void> {
  restrictNewFiles();
  // SIGHUP's default is to end the process; logrotate and certificate renewal send it at any time.
  // Until the server is up, one that arrives is remembered and done once it is.
  let reloadOwed = false;
  let reload = () => {
    reloadOwed = true;
  };
  process.on('SIGHUP', () => reload());
  const flags = parseFlags(args, ['config', 'pykmip-config', 'listen', 'data-dir', 'workers']);
  const config = loadConfig({
    configFile: flags.get('config'),
    pykmipConfigFile: flags.get('pykmip-config'),
    listen: flags.get('listen'),
    dataDir: flags.get('data-dir'),
    workers: flags.get('workers'),
  });
  // The primary holds the data dir's lock for itself and its workers.
  if (cluster.isPrimary) secureDataDir(config.dataDir);
  const unlock = cluster.isPrimary ? lockDataDir(config.dataDir) : () => {};
  if (cluster.isPrimary) {
    for (const note of config.notices) console.log(JSON.stringify({ msg: 'config', note }));
    if (config.compat !== 'none') console.log(JSON.stringify({ msg: 'config', note: `compatibility profile "${config.compat}"` }));
    if (config.credentials.size > 0) {
      console.log(JSON.stringify({ msg: 'config', note: `request header credentials select sub-identities for ${[...config.credentials.keys()].join(', ')}` }));
    }
  }
  if (config.workers > 1 && cluster.isPrimary) {
    const code = await runWorkers(config, (record) => console.log(JSON.stringify(record)));
    unlock();
    process.exit(code);
  }
  const server = await startServer(config);
  const { address, port } = server.listener.address;
  // Before the line that tells the world it is up: a signal sent as soon as it reads "listening" stops it cleanly.
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(JSON.stringify({ msg: 'stopping', signal }));
    server.stop().then(
      () => {
        unlock();
        process.exit(0);
      },
      (e: unknown) => {
        console.error(JSON.stringify({ msg: 'stop failed', error: String(e) }));
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // One reload at a time; a SIGHUP during one is done after it (the files may have changed again).
  let reloading: Promise<void> | null = null;
  reload = () => {
    if (stopping) return;
    if (reloading) {
      reloadOwed = true;
      return;
    }
    reloadOwed = false;
    reloading = server.reload().then(
      (r) => {
        if (r.failures.length > 0) console.error(JSON.stringify({ msg: 'reload failed', pid: process.pid, error: r.failures.join('; ') }));
        else console.log(JSON.stringify({ msg: 'reloaded', pid: process.pid, audit: config.auditFile, certificate: r.tls, warnings: r.warnings.length > 0 ? r.warnings : undefined }));
      },
      (e: unknown) => console.error(JSON.stringify({ msg: 'reload failed', pid: process.pid, error: String(e) })),
    ).finally(() => {
      reloading = null;
      if (reloadOwed) reload();
    });
  };
  if (reloadOwed) reload();
  if (cluster.isWorker) {
    // The primary said what there is to say about the TLS files when it read them.
    const ready: WorkerReady = { type: 'kmip-worker-ready', address, port };
    process.send?.(ready);
  } else {
    for (const note of server.tlsWarnings) console.log(JSON.stringify({ msg: 'config', note }));
    console.log(JSON.stringify({ msg: 'listening', address, port, dataDir: config.dataDir }));
  }
}

async function pkiClient(args: readonly string[]): Promise<void> {
  const flags = parseFlags(args, ['cn', 'out', 'data-dir']);
  const cn = flags.get('cn');
  const out = flags.get('out');
  if (!cn) throw new ConfigError('--cn', 'is required');
  if (!out) throw new ConfigError('--out', 'is required');
  const pkiDir = path.resolve(flags.get('data-dir') ?? './data', 'pki');
  await ensureDevPki(pkiDir);
  await issueClientCertificate(pkiDir, cn, path.resolve(out));
  console.log(JSON.stringify({ msg: 'client certificate issued', cn, out: path.resolve(out) }));
}

/** Lists a dev PKI certificate in `<dataDir>/pki/crl.pem`; a running server applies it on SIGHUP. */
async function pkiRevoke(args: readonly string[]): Promise<void> {
  const flags = parseFlags(args, ['cert', 'data-dir']);
  const cert = flags.get('cert');
  if (!cert) throw new ConfigError('--cert', 'is required');
  const pkiDir = path.resolve(flags.get('data-dir') ?? './data', 'pki');
  const r = await revokeCertificate(pkiDir, path.resolve(cert));
  console.log(JSON.stringify({ msg: r.already ? 'certificate already revoked' : 'certificate revoked', serial: r.serial, crl: r.crlPath, revoked: r.revoked, note: 'send the server SIGHUP to apply it' }));
}

/** Reads a password from standard input (one line; the newline is not part of it) and prints its hash. */
async function hashPasswordCommand(args: readonly string[]): Promise<void> {
  parseFlags(args, []);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password === '') throw new ConfigError('hash-password', 'give the password on standard input, e.g. kmip-server hash-password < file');
  console.log(await hashPassword(password));
}

export async function main(argv: readonly string[]): Promise<void> {
  try {
    if (argv[0] === 'start') await start(argv.slice(1));
    else if (argv[0] === 'hash-password') await hashPasswordCommand(argv.slice(1));
    else if (argv[0] === 'pki' && argv[1] === 'client') await pkiClient(argv.slice(2));
    else if (argv[0] === 'pki' && argv[1] === 'revoke') await pkiRevoke(argv.slice(2));
    else {
      console.error(USAGE);
      process.exitCode = 2;
    }
  } catch (e) {
    // One clear line, no stack: configuration and start-up errors are the operator's to fix.
    console.error(e instanceof Error ? `kmip-server: ${e.message}` : `kmip-server: ${String(e)}`);
    process.exit(1);
  }
}
