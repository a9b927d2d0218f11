/**
 * The `kmip-server` command line (commander): `start`, `pki client`, `pki revoke`, `hash-password`,
 * `audit verify`, `doctor`, `ttlv dump`. `kmip-server --help` and `kmip-server COMMAND --help` list
 * every flag. Exit codes: 0 done; 1 failed (bad configuration, a refused certificate, a broken audit
 * trail, bad input); 2 a usage error (unknown command or flag, a missing value), in one line.
 */
import cluster from 'node:cluster';
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig, type ServerConfig } from './config';
import { startServer, tlsSources } from './main';
import { openHsmForVerify } from './server-hsm';
import { HEAD_FILE, parseHead } from './audit/chain';
import { verifyAuditTrail } from './audit/verify';
import { runWorkers, type WorkerReady } from './workers';
import { certificateAuthorityIn, ensureDevPki, issueClientCertificate } from './pki/dev-pki';
import { revokeCertificate } from './pki/dev-crl';
import { auditSideFile, lockDataDir, nodeLockFile, restrictNewFiles, secureDataDir } from './data-dir';
import { hashPassword } from './server/credentials';
import { DoctorFileError, diagnoseCertificate, readCertificates } from './server/doctor';
import { connectAndQuery } from './server/doctor-connect';
import { chainChecks } from './pki/client-certificate';
import { ttlvDumpCommand } from './ttlv-dump';
import { registerKekCommands } from './custody/kek-commands';
import { registerGrantCommands } from './grant-command';
import { registerMigrateCommand } from './migrate-command';
import { registerApproveCommands } from './approve-command';
import { registerBackupCommands } from './custody/backup-commands';
import { registerScheduleCommands } from './schedule-command';

/** A word the shell passes through unchanged, or the word in single quotes. */
function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The start-up line that says which client files to use and one `kmip` command that works with
 * them. A wildcard listen address is reached on loopback; the dev server certificate names
 * 127.0.0.1 and ::1. With configured TLS files the client certificate is the operator's to issue.
 */
function clientExample(config: ServerConfig, address: string, port: number): Record<string, string> {
  const host = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address;
  const server = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const ca = tlsSources(config).ca;
  if (config.tls) {
    return {
      msg: 'client example',
      ca,
      note: 'use a client certificate issued by the CA in tls.ca',
      example: `kmip query --server ${server} --ca ${shellWord(ca)} --cert CLIENT.pem --key CLIENT-KEY.pem`,
    };
  }
  const pkiDir = path.join(config.dataDir, 'pki');
  const cert = path.join(pkiDir, 'client.pem');
  const key = path.join(pkiDir, 'client-key.pem');
  return {
    msg: 'client certificate',
    cert,
    key,
    ca,
    example: `kmip query --server ${server} --ca ${shellWord(ca)} --cert ${shellWord(cert)} --key ${shellWord(key)}`,
  };
}

interface StartOptions {
  readonly config?: string;
  readonly pykmipConfig?: string;
  readonly listen?: string;
  readonly httpsListen?: string;
  readonly metricsListen?: string;
  readonly dataDir?: string;
  readonly workers?: string;
}

async function start(flags: StartOptions): Promise<void> {
  restrictNewFiles();
  // SIGHUP's default is to end the process; logrotate and certificate renewal send it at any time.
  // Until the server is up, one that arrives is remembered and done once it is.
  let reloadOwed = false;
  let reload = () => {
    reloadOwed = true;
  };
  process.on('SIGHUP', () => reload());
  // Read again on SIGHUP for the settings a reload applies (cryptoperiods).
  const readConfig = () =>
    loadConfig({
      configFile: flags.config,
      pykmipConfigFile: flags.pykmipConfig,
      listen: flags.listen,
      httpsListen: flags.httpsListen,
      metricsListen: flags.metricsListen,
      dataDir: flags.dataDir,
      workers: flags.workers,
    });
  const config = readConfig();
  // The primary holds the lock for itself and its workers: the data dir's on SQLite, the audit trail's on PostgreSQL.
  if (cluster.isPrimary) secureDataDir(config.dataDir);
  const unlock = cluster.isPrimary ? lockDataDir(config.dataDir, nodeLockFile(config)) : () => {};
  if (cluster.isPrimary) {
    for (const note of config.notices) console.log(JSON.stringify({ msg: 'config', note }));
    if (config.compat !== 'none') console.log(JSON.stringify({ msg: 'config', note: `compatibility profile "${config.compat}"` }));
    if (config.credentials.size > 0) {
      console.log(JSON.stringify({ msg: 'config', note: `request header credentials select sub-identities for ${[...config.credentials.keys()].join(', ')}` }));
    }
  }
  if (config.workers > 1 && cluster.isPrimary) {
    const code = await runWorkers(config, (record) => {
      console.log(JSON.stringify(record));
      if (record['msg'] === 'listening' && typeof record['port'] === 'number') console.log(JSON.stringify(clientExample(config, String(record['address']), record['port'])));
    });
    unlock();
    process.exit(code);
  }
  const server = await startServer(config, { rereadConfig: readConfig });
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
        else console.log(JSON.stringify({ msg: 'reloaded', pid: process.pid, audit: config.auditFile, certificate: r.tls, kek: r.kek?.kekId, cryptoperiods: r.cryptoperiods, warnings: r.warnings.length > 0 ? r.warnings : undefined }));
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
    console.log(JSON.stringify(clientExample(config, address, port)));
  }
}

/**
 * Issues a client certificate from the dev CA of a data dir. A data dir without a CA is most often
 * the wrong folder (run from elsewhere, `./data` is not the server's): a second CA there would issue
 * certificates the server refuses, so one is made only when asked (`--create-ca`), with the rest of
 * the dev PKI. The server's own files are left alone otherwise.
 */
async function pkiClient(flags: { cn: string; out: string; dataDir?: string; createCa?: boolean }): Promise<void> {
  const { cn, out } = flags;
  const pkiDir = path.resolve(flags.dataDir ?? './data', 'pki');
  const ca = certificateAuthorityIn(pkiDir);
  if (ca === 'unusable') {
    throw new ConfigError('--data-dir', `${path.join(pkiDir, 'ca.pem')} and ca-key.pem are not a usable CA (missing half, unreadable, mismatched or expired); the server renews it at start`);
  }
  if (ca === 'none') {
    if (flags.createCa !== true) {
      throw new ConfigError('--data-dir', `${pkiDir} has no CA (ca.pem); name the server's data dir, or add --create-ca to make a new CA there`);
    }
    ensureDevPki(pkiDir);
  }
  issueClientCertificate(pkiDir, cn, path.resolve(out));
  console.log(JSON.stringify({ msg: 'client certificate issued', cn, out: path.resolve(out) }));
}

/** Lists a dev PKI certificate in `<dataDir>/pki/crl.pem`; a running server applies it on SIGHUP. */
async function pkiRevoke(flags: { cert: string; dataDir?: string }): Promise<void> {
  const { cert } = flags;
  const pkiDir = path.resolve(flags.dataDir ?? './data', 'pki');
  const r = await revokeCertificate(pkiDir, path.resolve(cert));
  console.log(JSON.stringify({ msg: r.already ? 'certificate already revoked' : 'certificate revoked', serial: r.serial, crl: r.crlPath, revoked: r.revoked, note: 'send the server SIGHUP to apply it' }));
}

/** Reads a password from standard input (one line; the newline is not part of it) and prints its hash. */
async function hashPasswordCommand(): Promise<void> {
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
async function auditVerify(fileArgs: readonly string[], flags: { config?: string; dataDir?: string }): Promise<void> {
  const files = fileArgs.map((f) => path.resolve(f));
  const config = loadConfig({ configFile: flags.config, dataDir: flags.dataDir });
  const trail = files.length > 0 ? files : [config.auditFile];
  for (const f of trail) if (!fs.existsSync(f)) throw new ConfigError(f, 'no such audit file');
  // Read before the files: a running server only moves it forward.
  const headFile = auditSideFile(config, HEAD_FILE);
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
interface DoctorOptions {
  readonly cert: string;
  readonly key?: string;
  readonly ca?: string;
  readonly config?: string;
  readonly dataDir?: string;
  readonly connect?: string;
}

async function doctor(flags: DoctorOptions): Promise<void> {
  try {
    const certFile = flags.cert;
    if (flags.config !== undefined && flags.dataDir !== undefined) throw new ConfigError('--data-dir', 'give --config or --data-dir, not both');
    const config = loadConfig({ configFile: flags.config, dataDir: flags.dataDir });
    const sources = tlsSources(config);
    const caFile = flags.ca ?? sources.ca;
    const connect = flags.connect;
    if (connect === undefined) {
      const report = diagnoseCertificate({
        certFile,
        ...(flags.key !== undefined ? { keyFile: flags.key } : {}),
        server: {
          caFile,
          crlFiles: sources.crl,
          identityFrom: config.identityFrom,
          adminIdentities: config.adminIdentities,
          requireClientAuthEku: config.requireClientAuthEku,
          ...(config.accessPolicy ? { accessPolicy: config.accessPolicy.policy } : {}),
        },
      });
      for (const l of report.lines) console.log(l);
      process.exitCode = report.accepted ? 0 : 1;
      return;
    }
    const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(connect);
    if (!m || Number(m[3]) > 65535) throw new ConfigError('--connect', `must be HOST:PORT, not ${connect}`);
    const keyFile = flags.key;
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

/** An option's value: the next word, unless that is another flag (a forgotten value). */
function value(v: string): string {
  if (v.startsWith('--')) throw new InvalidArgumentError(`needs a value, not the flag ${v}`);
  return v;
}

const EXIT_CODES = `
Exit codes: 0 done; 1 failed (bad configuration, refused certificate, bad input); 2 usage error.`;

/**
 * Usage errors in one line naming the command (`kmip-server start: unknown option '--x'`), and no
 * exit from inside commander: main decides the code (2) once the error is back. For a command made
 * with `new Command` and added with addCommand, so it inherits nothing shared.
 */
function usageErrorsInOneLine(cmd: Command): Command {
  const fullName = () => {
    const names: string[] = [];
    for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
    return names.join(' ');
  };
  // Each command gets an output configuration object of its own: commander's inherited one is shared.
  return cmd.exitOverride().allowExcessArguments(false).helpOption('-h, --help', 'show help').configureOutput({
    outputError: (text, write) => write(`${fullName()}: ${text.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')}\n`),
  });
}

/** Reads the version from the package.json above this file (src/ when run from source, dist/src/ built). */
function packageVersion(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
    if (path.dirname(dir) === dir) return 'unknown';
  }
}

function program(): Command {
  const root = usageErrorsInOneLine(new Command('kmip-server'))
    .description('KMIP server: mutual-TLS TTLV (and HTTPS) listener, SQLite store, PKCS#11-wrapped keys')
    .version(packageVersion(), '-V, --version', 'print the version')
    .addHelpText('after', EXIT_CODES);
  const sub = (parent: Command, name: string, description: string) => {
    const cmd = usageErrorsInOneLine(new Command(name)).description(description);
    parent.addCommand(cmd);
    return cmd;
  };

  sub(root, 'start', 'run the server (flags override the configuration file)')
    .option('--config <FILE>', 'JSON configuration file (docs/configuration.md lists every key)', value)
    .option('--pykmip-config <SERVER.CONF>', "pykmip-server's server.conf: listen address, TLS files and suites, the pykmip profile", value)
    .option('--listen <HOST:PORT>', 'TTLV over TLS address (default 127.0.0.1:5696; port 0: any free port)', value)
    .option('--https-listen <HOST:PORT>', 'KMIP over HTTPS address (POST /kmip); default: not served', value)
    .option('--metrics-listen <HOST:PORT>', 'Prometheus /metrics, /healthz and /readyz address; default: not served', value)
    .option('--data-dir <DIR>', 'data directory: store, audit trail, dev PKI, embedded token (default ./data)', value)
    .option('--workers <N|auto>', 'processes that serve connections (default 1; auto: one per CPU)', value)
    .action((opts: StartOptions) => start(opts));

  const pki = sub(root, 'pki', 'the data dir\'s development PKI');
  sub(pki, 'client', 'issue a client certificate (NAME.pem and NAME-key.pem, with clientAuth) from the data dir\'s CA')
    .requiredOption('--cn <NAME>', 'the certificate\'s subject CN: the identity the server maps it to', value)
    .requiredOption('--out <DIR>', 'the directory to write NAME.pem and NAME-key.pem to (the CA is the data dir\'s pki/ca.pem)', value)
    .option('--data-dir <DIR>', 'the server\'s data dir (default ./data)', value)
    .option('--create-ca', 'make a dev PKI there if the data dir has no CA')
    .action((opts: { cn: string; out: string; dataDir?: string; createCa?: boolean }) => pkiClient(opts));
  sub(pki, 'revoke', 'list a dev PKI certificate in the data dir\'s CRL (the server applies it on SIGHUP)')
    .requiredOption('--cert <FILE>', 'the certificate to revoke (PEM)', value)
    .option('--data-dir <DIR>', 'the server\'s data dir (default ./data)', value)
    .action((opts: { cert: string; dataDir?: string }) => pkiRevoke(opts));

  sub(root, 'hash-password', 'print the hash of a password read from standard input (for credentials.*)')
    .usage('< PASSWORD-FILE')
    .action(() => hashPasswordCommand());

  const audit = sub(root, 'audit', 'the audit trail');
  sub(audit, 'verify', 'check the audit trail\'s hash chain and HSM checkpoints (exit 1 naming the first bad record)')
    .argument('[FILE...]', 'audit files, oldest first (default: the configured audit file)')
    .option('--config <FILE>', 'JSON configuration file', value)
    .option('--data-dir <DIR>', 'the server\'s data dir (default ./data)', value)
    .action((files: string[], opts: { config?: string; dataDir?: string }) => auditVerify(files, opts));

  sub(root, 'doctor', 'say what the server would do with a client certificate, or --connect and explain a failure')
    .requiredOption('--cert <FILE>', 'the client certificate (PEM, with any intermediates)', value)
    .option('--key <FILE>', 'its private key (checked to match; required with --connect)', value)
    .option('--ca <FILE>', 'trust these CA certificates instead of the server\'s', value)
    .option('--config <FILE>', 'the server\'s configuration file', value)
    .option('--data-dir <DIR>', 'the server\'s data dir (default ./data)', value)
    .option('--connect <HOST:PORT>', 'run a handshake and a Query against a running server', value)
    .addHelpText('after', '\nExit codes: 0 accepted; 1 refused, each failing check with its fix; 2 usage or file error.')
    .action((opts: DoctorOptions) => doctor(opts));

  registerScheduleCommands(root);
  registerGrantCommands(root);
  registerMigrateCommand(root);

  const ttlv = sub(root, 'ttlv', 'TTLV tools');
  sub(ttlv, 'dump', 'print TTLV (hex, base64 or raw binary messages) as the named tree, secrets redacted')
    .argument('[FILE]', 'the input (default: standard input)')
    .addOption(new Option('--format <FORMAT>', 'the input\'s encoding (default: detected)').choices(['hex', 'base64', 'binary']))
    .option('--no-redact', 'show key material, passwords and other secrets as they are')
    .action(async (file: string | undefined, opts: { format?: 'hex' | 'base64' | 'binary'; redact: boolean }) => {
      const text = await ttlvDumpCommand(file, { ...(opts.format ? { format: opts.format } : {}), redact: opts.redact });
      process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    });
  registerKekCommands(root, sub, value);
  registerBackupCommands(root, sub);
  registerApproveCommands(root, sub, value);
  return root;
}

export async function main(argv: readonly string[]): Promise<void> {
  try {
    await program().parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end with 0; everything else commander refuses is a usage error, already printed.
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    // One clear line, no stack: configuration and start-up errors are the operator's to fix.
    console.error(e instanceof Error ? `kmip-server: ${e.message}` : `kmip-server: ${String(e)}`);
    process.exit(1);
  }
}
