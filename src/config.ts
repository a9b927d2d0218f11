/**
 * Server configuration: a JSON file, overridden by command-line flags, with defaults that run the
 * embedded set-up (dev PKI, SoftHSM2 token, SQLite file under the data directory).
 * A bad value is one clear error naming its key. Secrets (the HSM PIN) come from an environment
 * variable or a file, never from the command line or this file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../ttlv/decode';
import { SUPPORTED_VERSIONS, isSupportedVersion } from './kmip/message';
import { versionString, type ProtocolVersion } from './spec/versions';
import type { CryptoPolicy } from './crypto/policy';
import { parseCryptoPolicy } from './crypto/policy-config';
import { COMPAT_PROFILE_NAMES, isCompatProfileName, type CompatProfileName } from './compat/profiles';
import { readPykmipServerConf } from './compat/pykmip-config';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_MESSAGE_TIMEOUT_MS } from './server/listener';
import { parsePasswordHash, type CertificateCredentials, type CredentialsConfig, type PasswordHash } from './server/credentials';
import { DEFAULT_MAX_RSA_MODULUS_BITS } from './crypto/key-encoding';
import { DEFAULT_SYSLOG_APP_NAME, DEFAULT_SYSLOG_FACILITY, type SyslogForwarderConfig } from './audit/syslog-forwarder';
import { readCrlFile } from './pki/tls-material';
import { NotificationEndpoint, NotificationsConfig } from './notify/events';
import { parseCryptoperiods, type CryptoperiodPolicy } from './objects/cryptoperiod';
import { parseRotationPolicies, RotationPolicyError, type RotationPolicy } from './scheduler/rotation-policy';
import { AccessPolicyError, loadAccessPolicy, withAdministrators, type AccessPolicy } from './access/policy';
import { postgresUrlProblem } from './store/postgres-url';
import { ConfigError, isObject, onlyKeys, posInt, section, str, type Json, type JsonObject } from './config-values';

export { ConfigError };
export interface ServerConfig {
  readonly host: string;
  readonly port: number;
  /**
   * KMIP over HTTPS (`https.listen` or `--https-listen`): POST /kmip beside the TTLV port, same
   * TLS files, identities, limits and audit; null: not served.
   */
  readonly https: { readonly host: string; readonly port: number } | null;
  /**
   * The operator's endpoint (`metrics.listen` or `--metrics-listen`): /metrics, /healthz, /readyz.
   * `tls`: HTTPS with a client certificate from the server's CA. null: not served.
   */
  readonly metrics: { readonly host: string; readonly port: number; readonly tls: boolean } | null;
  readonly dataDir: string;
  readonly tls: { readonly cert: string; readonly key: string; readonly ca: string } | null;
  /**
   * CRL files (PEM or DER) checked at each handshake (`tls.crl`), read again on SIGHUP. With the dev
   * PKI, the data dir's pki/crl.pem (`kmip-server pki revoke`) is checked too.
   */
  readonly tlsCrl: readonly string[];
  /** TLS 1.2/1.3 cipher suites (a Node/OpenSSL cipher list); undefined: Node's defaults. */
  readonly tlsCiphers: string | undefined;
  /** Refuse client certificates without Extended Key Usage clientAuth (pykmip-server's enable_tls_client_auth). */
  readonly requireClientAuthEku: boolean;
  readonly identityFrom: 'cn' | 'san';
  /** null: the embedded SoftHSM2 token under dataDir/softhsm. */
  readonly hsm: {
    readonly module: string;
    readonly tokenLabel: string;
    readonly pinEnv?: string;
    readonly pinFile?: string;
    readonly kekLabel: string;
    /** 'async' (default): crypto calls on libuv's thread pool; 'sync': inline, for in-process modules. */
    readonly callMode: 'sync' | 'async';
  } | null;
  /**
   * `hsm.kekEscrowable`: KEK, index key and audit key are created extractable under wrap, so that
   * `kmip-server kek escrow` can export them to custodians' shares (default false). Applies to the
   * embedded token too: an `hsm` section holding only this key keeps the embedded token.
   */
  readonly kekEscrowable: boolean;
  /** The SQLite store's file (`store.path`); also where the custody commands look for it. */
  readonly storePath: string;
  /** Which engine holds the objects (`store.engine`): the embedded SQLite file (default) or PostgreSQL. */
  readonly storeEngine: StoreEngine;
  readonly maxMessageBytes: number;
  readonly idleTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly messageTimeoutMs: number;
  readonly maxConnections: number;
  /** Connections one identity may hold (limits.maxConnectionsPerIdentity; default a quarter of maxConnections). */
  readonly maxConnectionsPerIdentity: number;
  /** The largest RSA modulus (bits) a client may register or import (limits.maxRsaModulusBits). */
  readonly maxRsaModulusBits: number;
  readonly adminIdentities: readonly string[];
  /**
   * `accessPolicy`: the access policy file (src/access/), its path and what it said at start
   * (SIGHUP reads it again), with `adminIdentities` added to its administrators. Null: no policy;
   * owners and `adminIdentities` decide, as before.
   */
  readonly accessPolicy: { readonly file: string; readonly policy: AccessPolicy; readonly administrators: readonly string[] } | null;
  readonly auditFile: string;
  /** A checkpoint MAC'd by the HSM after this many audit lines (audit.checkpointEvery, default 1000)... */
  readonly auditCheckpointEvery: number;
  /** ...or this many seconds after the first line not yet covered by one (audit.checkpointSeconds, default 60). */
  readonly auditCheckpointSeconds: number;
  /** `audit.syslog`: the SIEM collector the audit trail is forwarded to (null: none). */
  readonly auditSyslog: SyslogForwarderConfig | null;
  readonly notifications: NotificationsConfig;
  /**
   * Processes that serve connections (1: this process alone). More than one share the listening
   * port, the SQLite file and the HSM token; a connection stays with the process that accepted it.
   */
  readonly workers: number;
  /** `cryptoPolicy` (profile default, legacy or custom); `crypto.allowLegacy: true` is the legacy profile's older name. */
  readonly crypto: CryptoPolicy;
  /** The compatibility profile (src/compat/profiles.ts): "none", or "pykmip" for pykmip-server's clients. */
  readonly compat: CompatProfileName;
  /** `cryptoperiods`: Deactivation Date and Rotate Interval defaults for new objects, first matching rule wins (src/objects/cryptoperiod.ts). */
  readonly cryptoperiods: CryptoperiodPolicy;
  /** Sub-identities chosen by a Credential in the Request Header (empty: credentials are ignored). */
  readonly credentials: CredentialsConfig;
  /** What the operator should know about how the configuration was read (printed at start). */
  /** `rotation.policies`: automatic rotation by Object Group or Object Type (scheduler/rotation.ts). */
  readonly rotationPolicies: readonly RotationPolicy[];
  readonly notices: readonly string[];
}

export type StoreEngine =
  | { readonly engine: 'sqlite' }
  | {
      readonly engine: 'postgres';
      /** postgresql://USER@HOST:PORT/DB; the password best in PGPASSWORD or ~/.pgpass, not here. */
      readonly url: string;
      readonly poolSize: number;
    };

/**
 * For the commands that read or replace the store file themselves (backup, restore, schedule):
 * one clear line on the postgres engine, instead of "no store at". (The kek commands work on both.)
 */
export function requireEmbeddedStore(config: ServerConfig, command: string): void {
  if (config.storeEngine.engine === 'sqlite') return;
  throw new Error(`${command} works on the embedded SQLite store only, and store.engine is "postgres" (docs/scaling.md says what to use instead)`);
}

/** Connections per server process to PostgreSQL when `store.poolSize` is not given. */
export const DEFAULT_POSTGRES_POOL_SIZE = 10;


/** The store's file in the data directory, unless `store.path` names another. */
export const STORE_FILE = 'kmip.sqlite';

/** The embedded SoftHSM2 token's directory in the data directory (no `hsm` configured). */
export const EMBEDDED_TOKEN_DIR = 'softhsm';

/** The label of the key-encryption key on the token: the embedded one's, and a configured one's unless `hsm.kekLabel` names another. */
export const KEK_LABEL = 'kmip-kek';

const TOP_KEYS = ['listen', 'https', 'metrics', 'dataDir', 'tls', 'identityFrom', 'hsm', 'store', 'limits', 'adminIdentities', 'audit', 'notifications', 'workers', 'crypto', 'cryptoPolicy', 'compat', 'credentials', 'cryptoperiods', 'rotation', 'accessPolicy'];

/** More worker processes than this gain nothing and multiply HSM sessions and memory. */
const MAX_WORKERS = 64;

/** `workers`: a count, or "auto" for one per CPU the process may use. */
function parseWorkers(value: unknown, key: string): number {
  if (value === undefined) return 1;
  if (value === 'auto') return Math.min(os.availableParallelism(), MAX_WORKERS);
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_WORKERS) {
    throw new ConfigError(key, `must be "auto" or an integer from 1 to ${MAX_WORKERS}`);
  }
  return n;
}

/** The newest 1.x version: what an endpoint is spoken to in unless it says otherwise. */
const DEFAULT_ENDPOINT_VERSION: ProtocolVersion = { major: 1, minor: 4 };

/** `rotation`: the server's automatic rotation policies (scheduler/rotation-policy.ts). */
function parseRotation(raw: JsonObject): readonly RotationPolicy[] {
  const sec = raw['rotation'];
  if (sec === undefined) return [];
  if (!isObject(sec)) throw new ConfigError('rotation', 'expected an object');
  onlyKeys(sec, ['policies'], 'rotation.');
  try {
    return parseRotationPolicies(sec['policies']);
  } catch (e) {
    if (e instanceof RotationPolicyError) throw new ConfigError(e.key, e.message);
    throw e;
  }
}

/**
 * `store`: the engine and its settings. The other engine's settings may stay beside them (a switch
 * is one word), but only with `engine` said outright: a `url` alone would otherwise run on SQLite
 * unnoticed. Errors name the key, and never show a password the URL holds (redactedUrl).
 */
function parseStoreEngine(sec: JsonObject | undefined): StoreEngine {
  const given = sec && str(sec, 'engine', 'store.');
  if (given !== undefined && given !== 'sqlite' && given !== 'postgres') throw new ConfigError('store.engine', `must be "sqlite" (default) or "postgres", not "${given}"`);
  const url = sec && str(sec, 'url', 'store.');
  const poolSize = (sec && posInt(sec, 'poolSize', 'store.')) ?? DEFAULT_POSTGRES_POOL_SIZE;
  if (poolSize > 1000) throw new ConfigError('store.poolSize', 'must be at most 1000 (PostgreSQL\'s max_connections bounds all nodes together)');
  if (given === undefined && (url !== undefined || sec?.['poolSize'] !== undefined)) {
    throw new ConfigError(url !== undefined ? 'store.url' : 'store.poolSize', 'is the postgres engine\'s: set store.engine to "postgres" (or to "sqlite" to keep it for later)');
  }
  const urlProblem = url === undefined ? undefined : postgresUrlProblem(url);
  if (urlProblem !== undefined) throw new ConfigError('store.url', urlProblem);
  if (given !== 'postgres') return { engine: 'sqlite' };
  if (url === undefined) throw new ConfigError('store.url', 'is required with store.engine "postgres": postgresql://USER@HOST:PORT/DATABASE');
  return { engine: 'postgres', url, poolSize };
}

function parseListen(value: string, key = 'listen'): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new ConfigError(key, `"${value}" is not HOST:PORT`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

function parseEndpoint(v: Json, key: string): NotificationEndpoint {
  if (!isObject(v)) throw new ConfigError(key, 'must be an object');
  onlyKeys(v, ['identity', 'address', 'protocolVersion'], `${key}.`);
  const identity = str(v, 'identity', `${key}.`);
  if (!identity) throw new ConfigError(`${key}.identity`, 'is required');
  const address = str(v, 'address', `${key}.`);
  if (!address) throw new ConfigError(`${key}.address`, 'is required');
  const { host, port } = parseListen(address, `${key}.address`);
  if (port === 0) throw new ConfigError(`${key}.address`, 'port 0 cannot be connected to');
  const text = str(v, 'protocolVersion', `${key}.`);
  let protocolVersion = DEFAULT_ENDPOINT_VERSION;
  if (text !== undefined) {
    const m = /^(\d+)\.(\d+)$/.exec(text);
    const parsed = m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
    if (!parsed || !isSupportedVersion(parsed)) {
      throw new ConfigError(`${key}.protocolVersion`, `must be one of ${SUPPORTED_VERSIONS.map(versionString).join(', ')}`);
    }
    protocolVersion = parsed;
  }
  return { identity, host, port, protocolVersion };
}

function parseNotifications(raw: JsonObject): NotificationsConfig {
  const sec = section(raw, 'notifications', ['endpoints', 'queueLimit', 'connectTimeoutMs', 'answerTimeoutMs', 'retryMaxMs']) ?? {};
  const list = sec['endpoints'] ?? [];
  if (!Array.isArray(list)) throw new ConfigError('notifications.endpoints', 'must be an array');
  const endpoints = list.map((e, i) => parseEndpoint(e, `notifications.endpoints[${i}]`));
  endpoints.forEach((e, i) => {
    // One queue and one connection per identity: two endpoints would split its messages.
    if (endpoints.findIndex((o) => o.identity === e.identity) < i) {
      throw new ConfigError(`notifications.endpoints[${i}].identity`, `"${e.identity}" already has an endpoint`);
    }
  });
  return {
    endpoints,
    queueLimit: posInt(sec, 'queueLimit', 'notifications.') ?? 1000,
    connectTimeoutMs: posInt(sec, 'connectTimeoutMs', 'notifications.') ?? 10_000,
    answerTimeoutMs: posInt(sec, 'answerTimeoutMs', 'notifications.') ?? 30_000,
    retryMaxMs: posInt(sec, 'retryMaxMs', 'notifications.') ?? 60_000,
  };
}

/** Username or device names: `/` separates them from the certificate identity in the owner name. */
function credentialNames(v: Json | undefined, key: string): Map<string, PasswordHash> {
  const out = new Map<string, PasswordHash>();
  if (v === undefined) return out;
  if (!isObject(v)) throw new ConfigError(key, 'must be an object of name: password hash');
  for (const [name, hashText] of Object.entries(v)) {
    if (name === '' || name.includes('/')) throw new ConfigError(`${key}.${name}`, 'a name must be non-empty and without "/"');
    if (typeof hashText !== 'string') throw new ConfigError(`${key}.${name}`, 'must be a password hash string (kmip-server hash-password)');
    const hash = parsePasswordHash(hashText);
    if (typeof hash === 'string') throw new ConfigError(`${key}.${name}`, hash);
    out.set(name, hash);
  }
  return out;
}

function parseCredentials(raw: JsonObject): CredentialsConfig {
  const sec = raw['credentials'];
  const out = new Map<string, CertificateCredentials>();
  if (sec === undefined) return out;
  if (!isObject(sec)) throw new ConfigError('credentials', 'must be an object keyed by certificate identity');
  for (const [identity, entry] of Object.entries(sec)) {
    const key = `credentials.${identity}`;
    if (!isObject(entry)) throw new ConfigError(key, 'must be an object (users, devices, requireCredential)');
    onlyKeys(entry, ['users', 'devices', 'requireCredential'], `${key}.`);
    const require = entry['requireCredential'] ?? false;
    if (typeof require !== 'boolean') throw new ConfigError(`${key}.requireCredential`, 'must be true or false');
    out.set(identity, { users: credentialNames(entry['users'], `${key}.users`), devices: credentialNames(entry['devices'], `${key}.devices`), requireCredential: require });
  }
  return out;
}

/** A PEM file for `audit.syslog`: readable now, so a typo is refused at start rather than at the first connection. */
function pemFile(sec: JsonObject, key: string): string | undefined {
  const v = str(sec, key, 'audit.syslog.');
  if (v === undefined) return undefined;
  const file = path.resolve(v);
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch (e) {
    throw new ConfigError(`audit.syslog.${key}`, `cannot read ${file}: ${(e as Error).message}`);
  }
  return file;
}

function parseAuditSyslog(audit: JsonObject): SyslogForwarderConfig | null {
  const v = audit['syslog'];
  if (v === undefined) return null;
  if (!isObject(v)) throw new ConfigError('audit.syslog', 'must be an object (host, port, ca, ...)');
  onlyKeys(v, ['host', 'port', 'ca', 'cert', 'key', 'appName', 'facility', 'retryMaxMs'], 'audit.syslog.');
  const host = str(v, 'host', 'audit.syslog.');
  if (!host) throw new ConfigError('audit.syslog.host', 'is required: the collector\'s host name or address');
  const port = v['port'];
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError('audit.syslog.port', 'is required: an integer from 1 to 65535 (6514 is syslog over TLS)');
  }
  const ca = pemFile(v, 'ca');
  if (!ca) throw new ConfigError('audit.syslog.ca', 'is required: the PEM file of the CA that issued the collector\'s certificate');
  const cert = pemFile(v, 'cert');
  const key = pemFile(v, 'key');
  if ((cert === undefined) !== (key === undefined)) throw new ConfigError(cert ? 'audit.syslog.key' : 'audit.syslog.cert', 'cert and key go together (client authentication to the collector)');
  try {
    tls.createSecureContext({ ca: fs.readFileSync(ca), cert: cert && fs.readFileSync(cert), key: key && fs.readFileSync(key) });
  } catch (e) {
    throw new ConfigError(cert ? 'audit.syslog.cert' : 'audit.syslog.ca', `not usable PEM: ${(e as Error).message}`);
  }
  const appName = str(v, 'appName', 'audit.syslog.') ?? DEFAULT_SYSLOG_APP_NAME;
  // RFC 5424 APP-NAME: 1 to 48 printable US-ASCII characters, no space.
  if (!/^[\x21-\x7e]{1,48}$/.test(appName)) throw new ConfigError('audit.syslog.appName', 'must be 1 to 48 printable ASCII characters without spaces (RFC 5424 APP-NAME)');
  const facility = v['facility'] ?? DEFAULT_SYSLOG_FACILITY;
  if (typeof facility !== 'number' || !Number.isInteger(facility) || facility < 0 || facility > 23) {
    throw new ConfigError('audit.syslog.facility', 'must be an integer from 0 to 23 (13: log audit, 10: authpriv)');
  }
  return { host, port, ca, cert, key, appName, facility, retryMaxMs: posInt(v, 'retryMaxMs', 'audit.syslog.') ?? 30_000 };
}

/** `tls.crl`: one file or a list; each must hold CRLs OpenSSL reads (checked again on every reload). */
function crlFiles(v: Json | undefined): string[] {
  if (v === undefined) return [];
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length === 0 || list.some((f) => typeof f !== 'string' || f === '')) {
    throw new ConfigError('tls.crl', 'must be a file name or a non-empty array of file names');
  }
  const files = (list as string[]).map((f) => path.resolve(f));
  for (const file of files) {
    try {
      readCrlFile(file);
    } catch (e) {
      throw new ConfigError('tls.crl', (e as Error).message);
    }
  }
  return files;
}

/** Loopback: where the metrics endpoint may listen without `metrics.tls` or `metrics.allowRemote`. */
function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * `metrics`: { listen, tls, allowRemote }. The endpoint has no authentication of its own, so it
 * listens on loopback unless it takes client certificates (`tls`) or the operator says that a
 * plain endpoint beyond this host is meant (`allowRemote`).
 */
function parseMetrics(raw: JsonObject, flag: string | undefined, taken: readonly ({ host: string; port: number } | null)[]): ServerConfig['metrics'] {
  const sec = section(raw, 'metrics', ['listen', 'tls', 'allowRemote']);
  const key = flag !== undefined ? '--metrics-listen' : 'metrics.listen';
  const text = flag ?? (sec && str(sec, 'listen', 'metrics.'));
  if (sec && text === undefined) throw new ConfigError('metrics.listen', 'is required when metrics is configured: HOST:PORT');
  if (text === undefined) return null;
  const { host, port } = parseListen(text, key);
  const flagOf = (k: string): boolean => {
    const v = sec?.[k] ?? false;
    if (typeof v !== 'boolean') throw new ConfigError(`metrics.${k}`, 'must be true or false');
    return v;
  };
  const tls = flagOf('tls');
  const allowRemote = flagOf('allowRemote');
  if (!isLoopback(host) && !tls && !allowRemote) {
    throw new ConfigError(key, `${host} is not a loopback address: set metrics.tls (client certificates from the server's CA) or metrics.allowRemote to serve metrics beyond this host`);
  }
  if (port !== 0 && taken.some((t) => t !== null && t.port === port && t.host === host)) throw new ConfigError(key, `${text} is a KMIP listen address too: give metrics a port of its own`);
  return { host, port, tls };
}

export interface ConfigOverrides {
  readonly configFile?: string;
  /** pykmip-server's server.conf: listen, TLS files and suites, and the "pykmip" profile. */
  readonly pykmipConfigFile?: string;
  readonly listen?: string;
  /** `--https-listen HOST:PORT`: overrides `https.listen`. */
  readonly httpsListen?: string;
  /** `--metrics-listen HOST:PORT`: overrides `metrics.listen`. */
  readonly metricsListen?: string;
  readonly dataDir?: string;
  readonly workers?: string;
}

export function loadConfig(o: ConfigOverrides): ServerConfig {
  let raw: JsonObject = {};
  if (o.configFile) {
    let text: string;
    try {
      text = fs.readFileSync(o.configFile, 'utf8');
    } catch (e) {
      throw new ConfigError('--config', `cannot read ${o.configFile}: ${(e as Error).message}`);
    }
    let parsed: Json;
    try {
      parsed = JSON.parse(text) as Json;
    } catch (e) {
      throw new ConfigError('--config', `${o.configFile} is not valid JSON: ${(e as Error).message}`);
    }
    if (!isObject(parsed)) throw new ConfigError('--config', 'the file must hold a JSON object');
    raw = parsed;
  }
  onlyKeys(raw, TOP_KEYS, '');
  const pykmip = o.pykmipConfigFile ? readPykmipServerConf(o.pykmipConfigFile) : undefined;
  if (pykmip) {
    // server.conf says where to listen and which certificates to use: two sources would be a guess.
    for (const k of ['listen', 'tls']) {
      if (raw[k] !== undefined) throw new ConfigError(k, `is also set by --pykmip-config ${o.pykmipConfigFile}: set it in one place`);
    }
  }
  const listen = o.listen
    ? parseListen(o.listen, '--listen')
    : pykmip
      ? { host: pykmip.host, port: pykmip.port }
      : parseListen(str(raw, 'listen', '') ?? '127.0.0.1:5696', 'listen');
  const dataDir = path.resolve(o.dataDir ?? str(raw, 'dataDir', '') ?? './data');
  const httpsSec = section(raw, 'https', ['listen']);
  const httpsText = o.httpsListen ?? (httpsSec && str(httpsSec, 'listen', 'https.'));
  if (httpsSec && httpsText === undefined) throw new ConfigError('https.listen', 'is required when https is configured: HOST:PORT');
  const httpsListen = httpsText === undefined ? null : parseListen(httpsText, o.httpsListen !== undefined ? '--https-listen' : 'https.listen');
  if (httpsListen && httpsListen.port !== 0 && httpsListen.port === listen.port && httpsListen.host === listen.host) {
    throw new ConfigError(o.httpsListen !== undefined ? '--https-listen' : 'https.listen', `${httpsText} is the TTLV listen address too: give HTTPS a port of its own`);
  }
  const metrics = parseMetrics(raw, o.metricsListen, [listen, httpsListen]);
  const tlsSec = section(raw, 'tls', ['cert', 'key', 'ca', 'crl', 'ciphers', 'requireClientAuthEku']);
  const hsmSec = section(raw, 'hsm', ['module', 'tokenLabel', 'pinEnv', 'pinFile', 'kekLabel', 'callMode', 'kekEscrowable']);
  const storeSec = section(raw, 'store', ['path', 'engine', 'url', 'poolSize']);
  const limits = section(raw, 'limits', ['maxMessageBytes', 'idleTimeoutMs', 'handshakeTimeoutMs', 'messageTimeoutMs', 'maxConnections', 'maxConnectionsPerIdentity', 'maxRsaModulusBits']) ?? {};
  const auditSec = section(raw, 'audit', ['file', 'checkpointEvery', 'checkpointSeconds', 'syslog']);
  const cryptoSec = section(raw, 'crypto', ['allowLegacy']) ?? {};
  const allowLegacy = cryptoSec['allowLegacy'];
  if (allowLegacy !== undefined && typeof allowLegacy !== 'boolean') throw new ConfigError('crypto.allowLegacy', 'must be true or false');
  const cryptoPolicy = parseCryptoPolicy(raw['cryptoPolicy'], allowLegacy, (key, message) => {
    throw new ConfigError(key, message);
  });
  const notifications = parseNotifications(raw);
  const identityFrom = str(raw, 'identityFrom', '') ?? 'cn';
  if (identityFrom !== 'cn' && identityFrom !== 'san') throw new ConfigError('identityFrom', 'must be "cn" or "san"');
  // pykmip-server has no administrators: under --pykmip-config there are none unless configured.
  const admins = raw['adminIdentities'] ?? (pykmip || raw['accessPolicy'] !== undefined ? [] : ['admin']);
  if (!Array.isArray(admins) || admins.some((a) => typeof a !== 'string')) {
    throw new ConfigError('adminIdentities', 'must be an array of strings');
  }
  // Under a policy file the identities listed here hold its administrator role (no key material,
  // no key use), and no one reaches every object by this list any more.
  const accessPolicy = parseAccessPolicyKey(raw['accessPolicy'], admins as string[]);

  let tlsFiles: ServerConfig['tls'] = pykmip ? pykmip.tls : null;
  let tlsCiphers = pykmip?.ciphers;
  let requireClientAuthEku = pykmip?.requireClientAuthEku ?? false;
  if (tlsSec) {
    tlsCiphers = str(tlsSec, 'ciphers', 'tls.');
    if (tlsCiphers !== undefined) {
      try {
        tls.createSecureContext({ ciphers: tlsCiphers });
      } catch (e) {
        throw new ConfigError('tls.ciphers', `not a usable cipher list: ${(e as Error).message}`);
      }
    }
    const eku = tlsSec['requireClientAuthEku'] ?? false;
    if (typeof eku !== 'boolean') throw new ConfigError('tls.requireClientAuthEku', 'must be true or false');
    requireClientAuthEku = eku;
  }
  if (tlsSec && ['cert', 'key', 'ca'].some((k) => tlsSec[k] !== undefined)) {
    const need = (k: string) => {
      const v = str(tlsSec, k, 'tls.');
      if (!v) throw new ConfigError(`tls.${k}`, 'is required when tls is configured');
      return path.resolve(v);
    };
    tlsFiles = { cert: need('cert'), key: need('key'), ca: need('ca') };
  }
  const tlsCrl = tlsSec ? crlFiles(tlsSec['crl']) : [];
  let hsm: ServerConfig['hsm'] = null;
  const kekEscrowable = hsmSec?.['kekEscrowable'] ?? false;
  if (typeof kekEscrowable !== 'boolean') throw new ConfigError('hsm.kekEscrowable', 'must be true or false');
  // `hsm: { kekEscrowable }` alone: the embedded token, its keys escrowable.
  if (hsmSec && Object.keys(hsmSec).some((k) => k !== 'kekEscrowable')) {
    const module = str(hsmSec, 'module', 'hsm.');
    const tokenLabel = str(hsmSec, 'tokenLabel', 'hsm.');
    if (!module) throw new ConfigError('hsm.module', 'is required when hsm is configured');
    if (!tokenLabel) throw new ConfigError('hsm.tokenLabel', 'is required when hsm is configured');
    const pinEnv = str(hsmSec, 'pinEnv', 'hsm.');
    const pinFile = str(hsmSec, 'pinFile', 'hsm.');
    if (!pinEnv && !pinFile) throw new ConfigError('hsm.pinEnv', 'give pinEnv (an environment variable) or pinFile');
    const callMode = str(hsmSec, 'callMode', 'hsm.') ?? 'async';
    if (callMode !== 'sync' && callMode !== 'async') throw new ConfigError('hsm.callMode', 'must be "sync" or "async"');
    hsm = { module, tokenLabel, pinEnv, pinFile, kekLabel: str(hsmSec, 'kekLabel', 'hsm.') ?? KEK_LABEL, callMode };
  }
  const maxConnections = posInt(limits, 'maxConnections', 'limits.') ?? DEFAULT_MAX_CONNECTIONS;
  const compatText = str(raw, 'compat', '') ?? (pykmip ? 'pykmip' : 'none');
  if (!isCompatProfileName(compatText)) throw new ConfigError('compat', `must be one of ${COMPAT_PROFILE_NAMES.map((n) => `"${n}"`).join(', ')}`);
  return {
    host: listen.host,
    port: listen.port,
    https: httpsListen,
    metrics,
    dataDir,
    tls: tlsFiles,
    tlsCrl,
    tlsCiphers,
    requireClientAuthEku,
    identityFrom,
    hsm,
    kekEscrowable,
    storePath: path.resolve(dataDir, (storeSec && str(storeSec, 'path', 'store.')) ?? STORE_FILE),
    storeEngine: parseStoreEngine(storeSec),
    maxMessageBytes: posInt(limits, 'maxMessageBytes', 'limits.') ?? DEFAULT_MAX_MESSAGE_BYTES,
    idleTimeoutMs: posInt(limits, 'idleTimeoutMs', 'limits.') ?? 300_000,
    handshakeTimeoutMs: posInt(limits, 'handshakeTimeoutMs', 'limits.') ?? 10_000,
    messageTimeoutMs: posInt(limits, 'messageTimeoutMs', 'limits.') ?? DEFAULT_MESSAGE_TIMEOUT_MS,
    maxConnections,
    maxConnectionsPerIdentity: posInt(limits, 'maxConnectionsPerIdentity', 'limits.') ?? Math.max(1, Math.floor(maxConnections / 4)),
    maxRsaModulusBits: posInt(limits, 'maxRsaModulusBits', 'limits.') ?? DEFAULT_MAX_RSA_MODULUS_BITS,
    adminIdentities: accessPolicy ? [] : (admins as string[]),
    accessPolicy,
    auditFile: path.resolve(dataDir, (auditSec && str(auditSec, 'file', 'audit.')) ?? 'audit.log'),
    auditCheckpointEvery: (auditSec && posInt(auditSec, 'checkpointEvery', 'audit.')) ?? 1000,
    auditCheckpointSeconds: (auditSec && posInt(auditSec, 'checkpointSeconds', 'audit.')) ?? 60,
    auditSyslog: auditSec ? parseAuditSyslog(auditSec) : null,
    notifications,
    workers: o.workers !== undefined ? parseWorkers(o.workers, '--workers') : parseWorkers(raw['workers'], 'workers'),
    crypto: cryptoPolicy,
    compat: compatText,
    credentials: parseCredentials(raw),
    cryptoperiods: parseCryptoperiods(raw['cryptoperiods'], (key, message) => {
      throw new ConfigError(key, message);
    }),
    rotationPolicies: parseRotation(raw),
    notices: pykmip?.notices ?? [],
  };
}

/** `accessPolicy`: a file path, read and validated now (errors name the key path inside it). */
function parseAccessPolicyKey(v: unknown, administrators: readonly string[]): ServerConfig['accessPolicy'] {
  if (v === undefined) return null;
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError('accessPolicy', 'must be the path of the access policy file (JSON)');
  const file = path.resolve(v);
  try {
    return { file, administrators, policy: withAdministrators(loadAccessPolicy(file), administrators) };
  } catch (e) {
    if (e instanceof AccessPolicyError) throw new ConfigError(e.key, e.detail);
    throw e;
  }
}
