/**
 * `kmip-server start [--config FILE] [--pykmip-config FILE] [--listen HOST:PORT] [--https-listen HOST:PORT] [--data-dir DIR] [--workers N|auto]`
 * `kmip-server pki client --cn NAME --out DIR [--data-dir DIR] [--create-ca]`
 * `kmip-server pki revoke --cert FILE [--data-dir DIR]`
 * `kmip-server hash-password` (the password on standard input, never on the command line)
 * `kmip-server audit verify --data-dir DIR [--config FILE] [FILE...]`
 * `kmip-server doctor --cert FILE [--key FILE] [--ca FILE] [--config FILE | --data-dir DIR] [--connect HOST:PORT]`
 */
import cluster from 'node:cluster';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from './config';
import { openHsmForVerify, startServer, tlsSources } from './main';
import { HEAD_FILE, parseHead } from './audit/chain';
import { verifyAuditTrail } from './audit/verify';
import { runWorkers, type WorkerReady } from './workers';
import { certificateAuthorityIn, ensureDevPki, issueClientCertificate } from './pki/dev-pki';
import { revokeCertificate } from './pki/dev-crl';
import { lockDataDir, restrictNewFiles, secureDataDir } from './data-dir';
import { hashPassword } from './server/credentials';
import { DoctorFileError, diagnoseCertificate, readCertificates } from './server/doctor';
import { connectAndQuery } from './server/doctor-connect';
import { chainChecks } from './pki/client-certificate';

const USAGE = `usage:
  kmip-server start [--config FILE] [--pykmip-config SERVER.CONF] [--listen HOST:PORT] [--https-listen HOST:PORT] [--data-dir DIR] [--workers N|auto]
  kmip-server pki client --cn NAME --out DIR [--data-dir DIR] [--create-ca]
  kmip-server pki revoke --cert FILE [--data-dir DIR]
  kmip-server hash-password < password-file
  kmip-server audit verify [--data-dir DIR] [--config FILE] [FILE...]
  kmip-server doctor --cert FILE [--key FILE] [--ca FILE] [--config FILE | --data-dir DIR] [--connect HOST:PORT]`;

/** `allowed` flags take a value; `switches` stand alone and read as "true". */
function parseFlags(args: readonly string[], allowed: readonly string[], switches: readonly string[] = []): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith('--') && switches.includes(a.slice(2))) {
      flags.set(a.slice(2), 'true');
      continue;
    }
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
  const flags = parseFlags(args, ['config', 'pykmip-config', 'listen', 'https-listen', 'data-dir', 'workers']);
  const config = loadConfig({
    configFile: flags.get('config'),
    pykmipConfigFile: flags.get('pykmip-config'),
    listen: flags.get('listen'),
    httpsListen: flags.get('https-listen'),
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
  const httpsAddress = server.httpsListener?.address;
  const httpsFields = httpsAddress ? { httpsAddress: httpsAddress.address, httpsPort: httpsAddress.port } : {};
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
    const ready: WorkerReady = { type: 'kmip-worker-ready', address, port, ...httpsFields };
    process.send?.(ready);
  } else {
    for (const note of server.tlsWarnings) console.log(JSON.stringify({ msg: 'config', note }));
    console.log(JSON.stringify({ msg: 'listening', address, port, ...httpsFields, dataDir: config.dataDir }));
  }
}

/**
 * Issues a client certificate from the dev CA of a data dir. A data dir without a CA is most often
 * the wrong folder (run from elsewhere, `./data` is not the server's): a second CA there would issue
 * certificates the server refuses, so one is made only when asked (`--create-ca`), with the rest of
 * the dev PKI. The server's own files are left alone otherwise.
 */
async function pkiClient(args: readonly string[]): Promise<void> {
  const flags = parseFlags(args, ['cn', 'out', 'data-dir'], ['create-ca']);
  const cn = flags.get('cn');
  const out = flags.get('out');
  if (!cn) throw new ConfigError('--cn', 'is required');
  if (!out) throw new ConfigError('--out', 'is required');
  const pkiDir = path.resolve(flags.get('data-dir') ?? './data', 'pki');
  const ca = certificateAuthorityIn(pkiDir);
  if (ca === 'unusable') {
    throw new ConfigError('--data-dir', `${path.join(pkiDir, 'ca.pem')} and ca-key.pem are not a usable CA (missing half, unreadable, mismatched or expired); the server renews it at start`);
  }
  if (ca === 'none') {
    if (flags.get('create-ca') !== 'true') {
      throw new ConfigError('--data-dir', `${pkiDir} has no CA (ca.pem); name the server's data dir, or add --create-ca to make a new CA there`);
    }
    ensureDevPki(pkiDir);
  }
  issueClientCertificate(pkiDir, cn, path.resolve(out));
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

/**
 * Checks the audit trail: the given files in order (oldest first), by default the configured audit
 * file. Runs beside a running server (no data dir lock; a PKCS#11 session of its own). Exit 0 with
 * one summary line, or 1 naming the first bad record.
 */
async function auditVerify(args: readonly string[]): Promise<void> {
  const flagArgs: string[] = [];
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) files.push(path.resolve(a));
    else if (args[i + 1] === undefined) flagArgs.push(a);
    else flagArgs.push(a, args[++i]!);
  }
  const flags = parseFlags(flagArgs, ['config', 'data-dir']);
  const config = loadConfig({ configFile: flags.get('config'), dataDir: flags.get('data-dir') });
  const trail = files.length > 0 ? files : [config.auditFile];
  for (const f of trail) if (!fs.existsSync(f)) throw new ConfigError(f, 'no such audit file');
  // Read before the files: a running server only moves it forward.
  const headFile = path.join(config.dataDir, HEAD_FILE);
  const live = trail[trail.length - 1] === config.auditFile;
  const readHead = () => (live && fs.existsSync(headFile) ? parseHead(fs.readFileSync(headFile, 'utf8')) : null);
  const keys = await openHsmForVerify(config);
  try {
    const verifyMac = keys.verifyAuditMac?.bind(keys);
    if (!verifyMac) throw new Error('the HSM offers no audit MAC');
    let result = await verifyAuditTrail({ files: trail, head: readHead(), verifyMac });
    // A server appending right now can leave the live file mid-line for an instant: look again.
    if (!result.ok && result.endsMidLine && live) result = await verifyAuditTrail({ files: trail, head: readHead(), verifyMac });
    for (const w of result.warnings) console.error(`audit verify: note: ${w}`);
    if (result.ok) console.log(result.summary);
    else {
      console.log(`audit trail NOT intact: ${result.problem}`);
      process.exitCode = 1;
    }
  } finally {
    await keys.close();
  }
}

/**
 * What the server would do with a client certificate (its CA, CRLs, identity rule and admin
 * identities from the configuration or the data dir's dev PKI; --ca overrides the CA), or with
 * --connect a handshake and a Query against a running server. Exit 0: accepted; 1: refused, each
 * failing check with its fix; 2: a usage or file error, one line naming it.
 */
async function doctor(args: readonly string[]): Promise<void> {
  try {
    const flags = parseFlags(args, ['cert', 'key', 'ca', 'config', 'data-dir', 'connect']);
    const certFile = flags.get('cert');
    if (!certFile) throw new ConfigError('--cert', `is required\n${USAGE}`);
    if (flags.has('config') && flags.has('data-dir')) throw new ConfigError('--data-dir', 'give --config or --data-dir, not both');
    const config = loadConfig({ configFile: flags.get('config'), dataDir: flags.get('data-dir') });
    const sources = tlsSources(config);
    const caFile = flags.get('ca') ?? sources.ca;
    const connect = flags.get('connect');
    if (connect === undefined) {
      const report = diagnoseCertificate({
        certFile,
        ...(flags.has('key') ? { keyFile: flags.get('key')! } : {}),
        server: {
          caFile,
          crlFiles: sources.crl,
          identityFrom: config.identityFrom,
          adminIdentities: config.adminIdentities,
          requireClientAuthEku: config.requireClientAuthEku,
        },
      });
      for (const l of report.lines) console.log(l);
      process.exitCode = report.accepted ? 0 : 1;
      return;
    }
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(connect);
    if (!m || Number(m[3]) > 65535) throw new ConfigError('--connect', `must be HOST:PORT, not ${connect}`);
    const keyFile = flags.get('key');
    if (!keyFile) throw new ConfigError('--key', 'is required with --connect (the handshake proves the key)');
    const read = (file: string, what: string) => {
      try {
        return fs.readFileSync(file);
      } catch (e) {
        throw new DoctorFileError(file, `cannot read the ${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    };
    const chain = readCertificates(certFile, 'client certificate');
    // Our certificate's own faults (no trust anchors needed) explain a refusal that comes without an alert.
    const own = chainChecks({ chain, cas: [], crls: [] })
      .filter((c) => !c.ok && c.check !== 'chain')
      .map((c) => `${c.check} ${c.detail}`);
    const report = await connectAndQuery({
      host: m[1] ?? m[2]!,
      port: Number(m[3]),
      cert: read(certFile, 'client certificate'),
      key: read(keyFile, 'private key'),
      ca: read(caFile, 'CA certificates'),
      ownCertificateProblems: own,
    });
    for (const l of report.lines) console.log(l);
    process.exitCode = report.ok ? 0 : 1;
  } catch (e) {
    if (!(e instanceof ConfigError || e instanceof DoctorFileError)) throw e;
    console.error(`kmip-server doctor: ${e.message}`);
    process.exitCode = 2;
  }
}

export async function main(argv: readonly string[]): Promise<void> {
  try {
    if (argv[0] === 'start') await start(argv.slice(1));
    else if (argv[0] === 'hash-password') await hashPasswordCommand(argv.slice(1));
    else if (argv[0] === 'pki' && argv[1] === 'client') await pkiClient(argv.slice(2));
    else if (argv[0] === 'audit' && argv[1] === 'verify') await auditVerify(argv.slice(2));
    else if (argv[0] === 'pki' && argv[1] === 'revoke') await pkiRevoke(argv.slice(2));
    else if (argv[0] === 'doctor') await doctor(argv.slice(1));
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
