/**
 * `kmip-server start --pykmip-config FILE`: reads pykmip-server's server.conf (an INI file read by
 * Python's configparser, section [server]) and says what it means for this server. Settings are
 * checked as pykmip-server checks them (the same required settings, the same accepted values), so a
 * file it accepted is accepted here, and a bad value stops the server with one line naming the
 * setting. A setting this server has no equivalent for becomes a notice printed at start.
 */
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { ConfigError } from '../config';

export interface PykmipServerSettings {
  readonly host: string;
  readonly port: number;
  readonly tls: { readonly cert: string; readonly key: string; readonly ca: string };
  /** A Node/OpenSSL cipher list, or undefined for the server's defaults. */
  readonly ciphers: string | undefined;
  /** enable_tls_client_auth: the client certificate must carry Extended Key Usage clientAuth. */
  readonly requireClientAuthEku: boolean;
  /** One line each: what a setting means here, or that it has no equivalent. */
  readonly notices: readonly string[];
}

/** Settings pykmip-server requires (config.py `_expected_settings`). */
const REQUIRED = ['hostname', 'port', 'certificate_path', 'key_path', 'ca_path', 'auth_suite'] as const;
/** Settings it accepts besides (`_optional_settings`). */
const OPTIONAL = ['policy_path', 'enable_tls_client_auth', 'tls_cipher_suites', 'logging_level', 'database_path'] as const;

const AUTH_SUITES = ['Basic', 'TLS1.2'];
const LOGGING_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];

/**
 * IANA (RFC) names of the TLS 1.2 cipher suites a server.conf may list, with their OpenSSL names:
 * pykmip-server accepts either form. TLS 1.3 suites (TLS_AES_...) have one name, passed as given.
 */
const IANA_TO_OPENSSL: Readonly<Record<string, string>> = {
  TLS_RSA_WITH_3DES_EDE_CBC_SHA: 'DES-CBC3-SHA',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
  TLS_RSA_WITH_AES_256_CBC_SHA256: 'AES256-SHA256',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_DH_DSS_WITH_AES_128_CBC_SHA: 'DH-DSS-AES128-SHA',
  TLS_DH_RSA_WITH_AES_128_CBC_SHA: 'DH-RSA-AES128-SHA',
  TLS_DH_DSS_WITH_AES_256_CBC_SHA: 'DH-DSS-AES256-SHA',
  TLS_DH_RSA_WITH_AES_256_CBC_SHA: 'DH-RSA-AES256-SHA',
  TLS_DH_DSS_WITH_AES_128_CBC_SHA256: 'DH-DSS-AES128-SHA256',
  TLS_DH_RSA_WITH_AES_128_CBC_SHA256: 'DH-RSA-AES128-SHA256',
  TLS_DH_DSS_WITH_AES_256_CBC_SHA256: 'DH-DSS-AES256-SHA256',
  TLS_DH_RSA_WITH_AES_256_CBC_SHA256: 'DH-RSA-AES256-SHA256',
  TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA: 'DHE-DSS-DES-CBC3-SHA',
  TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA: 'DHE-RSA-DES-CBC3-SHA',
  TLS_DHE_DSS_WITH_AES_128_CBC_SHA: 'DHE-DSS-AES128-SHA',
  TLS_DHE_RSA_WITH_AES_128_CBC_SHA: 'DHE-RSA-AES128-SHA',
  TLS_DHE_DSS_WITH_AES_256_CBC_SHA: 'DHE-DSS-AES256-SHA',
  TLS_DHE_RSA_WITH_AES_256_CBC_SHA: 'DHE-RSA-AES256-SHA',
  TLS_DHE_DSS_WITH_AES_128_CBC_SHA256: 'DHE-DSS-AES128-SHA256',
  TLS_DHE_RSA_WITH_AES_128_CBC_SHA256: 'DHE-RSA-AES128-SHA256',
  TLS_DHE_DSS_WITH_AES_256_CBC_SHA256: 'DHE-DSS-AES256-SHA256',
  TLS_DHE_RSA_WITH_AES_256_CBC_SHA256: 'DHE-RSA-AES256-SHA256',
  TLS_DHE_RSA_WITH_AES_128_GCM_SHA256: 'DHE-RSA-AES128-GCM-SHA256',
  TLS_DHE_RSA_WITH_AES_256_GCM_SHA384: 'DHE-RSA-AES256-GCM-SHA384',
  TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDH-ECDSA-AES128-SHA256',
  TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384: 'ECDH-ECDSA-AES256-SHA384',
  TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256: 'ECDH-RSA-AES128-SHA256',
  TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384: 'ECDH-RSA-AES256-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384: 'ECDHE-ECDSA-AES256-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384: 'ECDHE-RSA-AES256-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_PSK_WITH_AES_128_CBC_SHA: 'PSK-AES128-CBC-SHA',
  TLS_PSK_WITH_AES_256_CBC_SHA: 'PSK-AES256-CBC-SHA',
  TLS_DHE_PSK_WITH_AES_128_CBC_SHA: 'DHE-PSK-AES128-CBC-SHA',
  TLS_DHE_PSK_WITH_AES_256_CBC_SHA: 'DHE-PSK-AES256-CBC-SHA',
  TLS_RSA_PSK_WITH_AES_128_CBC_SHA: 'RSA-PSK-AES128-CBC-SHA',
  TLS_RSA_PSK_WITH_AES_256_CBC_SHA: 'RSA-PSK-AES256-CBC-SHA',
};

const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_CCM_SHA256', 'TLS_AES_128_CCM_8_SHA256'];

const KNOWN_OPENSSL_NAMES = new Set(Object.values(IANA_TO_OPENSSL));

// ---------------------------------------------------------------------------------------------
// INI, as Python's configparser.ConfigParser reads it with its defaults: sections in [brackets];
// `key = value` or `key: value`; option names case-insensitive; values stripped; lines starting
// with # or ; are comments (no inline comments); an indented line continues the value before it;
// [DEFAULT] options appear in every section; a duplicate section or option is an error (strict);
// %(name)s interpolates another option of the section, %% is a literal %.

type IniSection = Map<string, string>;

export function parseIni(text: string, file: string): Map<string, IniSection> {
  const sections = new Map<string, IniSection>();
  let current: IniSection | undefined;
  let currentName = '';
  let lastKey: string | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  lines.forEach((raw, i) => {
    const where = `${file} line ${i + 1}`;
    const stripped = raw.trim();
    if (stripped === '' || stripped.startsWith('#') || stripped.startsWith(';')) {
      // A blank line ends a continued value; a comment line does not end it but adds nothing.
      if (stripped === '') lastKey = undefined;
      return;
    }
    if (/^\s/.test(raw) && current && lastKey !== undefined) {
      current.set(lastKey, `${current.get(lastKey)}\n${stripped}`);
      return;
    }
    const header = /^\[(.+)\]$/.exec(stripped);
    if (header) {
      currentName = header[1]!.trim();
      if (sections.has(currentName)) throw new ConfigError(where, `section [${currentName}] appears twice`);
      current = new Map();
      sections.set(currentName, current);
      lastKey = undefined;
      return;
    }
    if (!current) throw new ConfigError(where, 'text before the first [section] header');
    const option = /^(.*?)\s*[=:]\s*(.*)$/.exec(stripped);
    if (!option || option[1] === '') throw new ConfigError(where, `"${stripped}" is not "name = value"`);
    const key = option[1]!.toLowerCase();
    if (current.has(key)) throw new ConfigError(where, `[${currentName}] ${key} appears twice`);
    current.set(key, option[2]!);
    lastKey = key;
  });
  const defaults = sections.get('DEFAULT');
  sections.delete('DEFAULT');
  for (const [name, sec] of sections) {
    if (defaults) for (const [k, v] of defaults) if (!sec.has(k)) sec.set(k, v);
    for (const [k, v] of sec) sec.set(k, interpolate(v, sec, `${file} [${name}] ${k}`, 0));
  }
  return sections;
}

function interpolate(value: string, sec: IniSection, key: string, depth: number): string {
  if (!value.includes('%')) return value;
  // configparser gives up after 10 levels (MAX_INTERPOLATION_DEPTH).
  if (depth > 10) throw new ConfigError(key, 'interpolation nests too deeply (a %(name)s loop?)');
  return value.replace(/%(%|\((.*?)\)s|.?)/g, (whole, _x: string, ref: string | undefined) => {
    if (whole === '%%') return '%';
    if (ref === undefined) throw new ConfigError(key, `"%" must be followed by "%" or "(name)s" (configparser interpolation)`);
    const target = sec.get(ref.toLowerCase());
    if (target === undefined) throw new ConfigError(key, `%(${ref})s names no option of the section`);
    return interpolate(target, sec, key, depth + 1);
  });
}

// ---------------------------------------------------------------------------------------------

/** configparser's getboolean. */
function parseBoolean(value: string, key: string): boolean {
  const v = value.toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(v)) return true;
  if (['0', 'no', 'false', 'off'].includes(v)) return false;
  throw new ConfigError(key, `"${value}" is not a boolean (true/false, yes/no, on/off, 1/0)`);
}

function existingFile(value: string, key: string): string {
  if (value === '') throw new ConfigError(key, 'must be the path of a file');
  // Relative paths are relative to the working directory, as they were for pykmip-server.
  const resolved = path.resolve(value);
  if (!fs.existsSync(resolved)) throw new ConfigError(key, `${resolved} does not exist`);
  return resolved;
}

/** tls_cipher_suites: names (IANA or OpenSSL) separated by whitespace (or commas) -> a Node cipher list. */
function mapCipherSuites(value: string, key: string, notices: string[]): string | undefined {
  const names = value.split(/[\s,]+/).filter((n) => n !== '');
  if (names.length === 0) return undefined;
  const available = new Set(tls.getCiphers().map((c) => c.toLowerCase()));
  const chosen: string[] = [];
  const unusable: string[] = [];
  for (const name of names) {
    if (TLS13_SUITES.includes(name.toUpperCase())) {
      chosen.push(name.toUpperCase());
      continue;
    }
    const openssl = IANA_TO_OPENSSL[name.toUpperCase()] ?? (KNOWN_OPENSSL_NAMES.has(name.toUpperCase()) || available.has(name.toLowerCase()) ? name.toUpperCase() : undefined);
    if (openssl === undefined) throw new ConfigError(key, `"${name}" is not a TLS cipher suite name (IANA, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, or OpenSSL, e.g. ECDHE-RSA-AES128-GCM-SHA256)`);
    // Pre-shared-key suites cannot run on a certificate-authenticated connection; static DH and
    // DSS suites are gone from OpenSSL 3. pykmip-server dropped suites it could not use, too.
    if (!available.has(openssl.toLowerCase()) || openssl.includes('PSK')) unusable.push(name);
    else if (!chosen.includes(openssl)) chosen.push(openssl);
  }
  if (chosen.length === 0) throw new ConfigError(key, `none of the listed suites can be used here (${unusable.join(', ')}); list TLS 1.2 or 1.3 suites OpenSSL ${process.versions.openssl} offers`);
  if (unusable.length > 0) notices.push(`${key}: ${unusable.join(', ')} cannot be used here (pre-shared-key suites, or removed from OpenSSL ${process.versions.openssl}) and are left out`);
  const tls12 = chosen.filter((c) => !c.startsWith('TLS_'));
  const tls13 = chosen.filter((c) => c.startsWith('TLS_'));
  notices.push(
    tls13.length === 0
      ? `${key}: TLS 1.2 with ${tls12.join(', ')} only (the list names no TLS 1.3 suite, so TLS 1.3 is off)`
      : `${key}: ${tls12.length > 0 ? `TLS 1.2 with ${tls12.join(', ')}; ` : 'no TLS 1.2 suite, so TLS 1.3 only; '}TLS 1.3 with ${tls13.join(', ')}`,
  );
  return chosen.join(':');
}

export function readPykmipServerConf(file: string): PykmipServerSettings {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError('--pykmip-config', `cannot read ${file}: ${(e as Error).message}`);
  }
  const sections = parseIni(text, file);
  const server = sections.get('server');
  if (!server) throw new ConfigError(file, 'has no [server] section');
  const key = (k: string) => `${file} [server] ${k}`;
  for (const k of server.keys()) {
    if (!(REQUIRED as readonly string[]).includes(k) && !(OPTIONAL as readonly string[]).includes(k)) {
      throw new ConfigError(key(k), `is not a pykmip-server setting (settings: ${[...REQUIRED, ...OPTIONAL].join(', ')})`);
    }
  }
  for (const k of REQUIRED) if (!server.has(k)) throw new ConfigError(key(k), 'is missing (pykmip-server requires it too)');
  const notices: string[] = [];
  // pykmip-server's only authentication plugin is SLUGS, which takes the identity from a web
  // service. Serving without it would give its users other identities: refuse rather than guess.
  for (const [name, sec] of sections) {
    if (!name.startsWith('auth:')) continue;
    const enabled = sec.get('enabled') === 'True';
    if (enabled) throw new ConfigError(`${file} [${name}] enabled`, 'authentication plugins (SLUGS) are not supported: identities come from the client certificate; remove the section or set enabled = False');
    notices.push(`${file} [${name}]: not enabled, ignored`);
  }

  const hostname = server.get('hostname')!;
  const portText = server.get('port')!;
  const port = /^[+]?\d+$/.test(portText) ? Number(portText) : NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(key('port'), `"${portText}" is not a port number (1-65535)`);
  const cert = existingFile(server.get('certificate_path')!, key('certificate_path'));
  const tlsKey = existingFile(server.get('key_path')!, key('key_path'));
  const ca = existingFile(server.get('ca_path')!, key('ca_path'));
  const authSuite = server.get('auth_suite')!;
  if (!AUTH_SUITES.includes(authSuite)) throw new ConfigError(key('auth_suite'), `"${authSuite}" must be one of ${AUTH_SUITES.join(', ')}`);
  notices.push(
    authSuite === 'Basic'
      ? `${key('auth_suite')}: Basic meant TLS 1.0 in pykmip-server; this server speaks TLS 1.2 and 1.3 only, so clients limited to TLS 1.0 cannot connect`
      : `${key('auth_suite')}: TLS1.2: TLS 1.2 (and 1.3 unless tls_cipher_suites lists only TLS 1.2 suites)`,
  );

  const clientAuthText = server.get('enable_tls_client_auth');
  const requireClientAuthEku = clientAuthText === undefined || clientAuthText === '' ? true : parseBoolean(clientAuthText, key('enable_tls_client_auth'));
  notices.push(
    requireClientAuthEku
      ? `${key('enable_tls_client_auth')}: True: a client certificate must carry Extended Key Usage clientAuth`
      : `${key('enable_tls_client_auth')}: False: Extended Key Usage clientAuth is not required; a client certificate signed by ca_path is still required (mutual TLS, as in pykmip-server)`,
  );

  const ciphersText = server.get('tls_cipher_suites') ?? '';
  const ciphers = ciphersText === '' ? undefined : mapCipherSuites(ciphersText, key('tls_cipher_suites'), notices);

  const level = server.get('logging_level');
  if (level !== undefined && level !== '') {
    if (!LOGGING_LEVELS.includes(level.toUpperCase())) throw new ConfigError(key('logging_level'), `"${level}" must be one of ${LOGGING_LEVELS.join(', ')}`);
    notices.push(`${key('logging_level')}: no equivalent: the audit log records every request at any level; start-up and errors go to stdout and stderr`);
  }
  const policyPath = server.get('policy_path');
  if (policyPath) {
    notices.push(`${key('policy_path')}: no equivalent: operation policy files are not read; each client identity (certificate CN) sees only its own objects (pykmip-server's "default" policy also let every client Locate and Get certificates and public keys)`);
  }
  const databasePath = server.get('database_path');
  if (databasePath) {
    notices.push(`${key('database_path')}: no equivalent: objects live in the data directory (--data-dir, file kmip.sqlite); pykmip-server's database is not read or imported`);
  }
  return { host: hostname === '' ? '0.0.0.0' : hostname, port, tls: { cert, key: tlsKey, ca }, ciphers, requireClientAuthEku, notices };
}
