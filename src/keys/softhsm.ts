/**
 * Dev and test helper: a SoftHSM2 token of our own in a directory, with random PINs kept in
 * mode-0600 files beside it. Production points the server at any PKCS#11 module instead.
 *
 * SoftHSM2 reads SOFTHSM2_CONF when the library is initialised (C_Initialize), and one process has
 * one initialised copy of the library. So the configuration travels as `moduleEnv` in the protector
 * config, which applies it just before loading the module; `ensureSoftHsmToken` also sets it for
 * this process unless told not to.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { readPin } from './pin';
import { type Pkcs11KeyProtectorConfig } from './pkcs11-config';

/** Where distributions put the module. Debian: /usr/lib/softhsm/libsofthsm2.so (a symlink to the multiarch path). */
const SOFTHSM_MODULE_CANDIDATES: readonly string[] = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib64/pkcs11/libsofthsm2.so',
  '/usr/lib/pkcs11/libsofthsm2.so',
  '/usr/local/lib/softhsm/libsofthsm2.so',
  '/opt/homebrew/lib/softhsm/libsofthsm2.so',
];

const INSTALL_HINT = 'apt-get install -y softhsm2';

export interface SoftHsmToken {
  readonly dir: string;
  readonly confPath: string;
  readonly tokenDir: string;
  readonly modulePath: string;
  readonly tokenLabel: string;
  /** File holding the user PIN (mode 0600). */
  readonly pinFile: string;
  /** File holding the security officer PIN (mode 0600). */
  readonly soPinFile: string;
  /** What the module must see in its environment when it is initialised. */
  readonly moduleEnv: Readonly<Record<string, string>>;
}

export interface SoftHsmOptions {
  /** Token label (default "kmip-dev"). */
  readonly label?: string;
  /** Module path (default: SOFTHSM2_MODULE, else the first of SOFTHSM_MODULE_CANDIDATES that exists). */
  readonly modulePath?: string;
  /** Also set process.env.SOFTHSM2_CONF (default true). */
  readonly setProcessEnv?: boolean;
  /**
   * Whether a missing token may be created (default true). False when the store already holds
   * objects: a new token would hold a new KEK that none of them is wrapped under.
   */
  readonly mayCreate?: boolean;
}

/** The SoftHSM2 PKCS#11 library, or an error naming the package to install. */
export function findSoftHsmModule(): string {
  const fromEnv = process.env['SOFTHSM2_MODULE'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const found = SOFTHSM_MODULE_CANDIDATES.find((p) => existsSync(p));
  if (found === undefined) throw new Error(`SoftHSM2 library not found; install it with: ${INSTALL_HINT}`);
  return found;
}

/** softhsm2-util from PATH, or an error naming the package to install. */
function findSoftHsmUtil(): string {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, 'softhsm2-util');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`softhsm2-util not found in PATH; install it with: ${INSTALL_HINT}`);
}

/**
 * Creates, if absent, a SoftHSM2 configuration, token directory, PIN files and an initialised
 * token labelled `label` under `dir`; returns where everything is. Idempotent.
 */
export function ensureSoftHsmToken(dir: string, options: SoftHsmOptions = {}): SoftHsmToken {
  const root = resolve(dir);
  const label = options.label ?? 'kmip-dev';
  const util = findSoftHsmUtil();
  const modulePath = options.modulePath ?? findSoftHsmModule();
  const tokenDir = join(root, 'tokens');
  const confPath = join(root, 'softhsm2.conf');
  const pinFile = join(root, 'user-pin');
  const soPinFile = join(root, 'so-pin');
  mkdirSync(tokenDir, { recursive: true, mode: 0o700 });

  const conf = [
    '# SoftHSM2 configuration for the KMIP server (dev/test); generated, do not edit.',
    `directories.tokendir = ${tokenDir}`,
    'objectstore.backend = file',
    'log.level = ERROR',
    'slots.removable = false',
    '',
  ].join('\n');
  if (!existsSync(confPath) || readFileSync(confPath, 'utf8') !== conf) writeFileSync(confPath, conf, { mode: 0o644 });

  const moduleEnv = { SOFTHSM2_CONF: confPath };
  const childEnv = { ...process.env, ...moduleEnv };
  if (!tokenExists(util, childEnv, label, tokenDir)) {
    if (options.mayCreate === false) {
      throw new Error(`the SoftHSM2 token "${label}" in ${root} is missing, but the store holds objects wrapped under its KEK: restore the token (or its directory) from the backup it was made with; a new token is only created for an empty store`);
    }
    const pin = ensureSecretFile(pinFile);
    const soPin = ensureSecretFile(soPinFile);
    try {
      // softhsm2-util takes PINs only as arguments or from a terminal; these are throwaway dev
      // PINs, visible to local users for the lifetime of this one command.
      execFileSync(util, ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin], {
        env: childEnv,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString('utf8').trim() ?? '';
      throw new Error(`softhsm2-util --init-token failed for label ${JSON.stringify(label)}: ${redact(stderr, [pin, soPin])}`);
    }
  } else if (!existsSync(pinFile)) {
    throw new Error(`token ${JSON.stringify(label)} exists in ${tokenDir} but its PIN file ${pinFile} is missing`);
  }
  if (options.setProcessEnv !== false) process.env['SOFTHSM2_CONF'] = confPath;
  return { dir: root, confPath, tokenDir, modulePath, tokenLabel: label, pinFile, soPinFile, moduleEnv };
}

/** A protector configuration for a token made by ensureSoftHsmToken (PIN read from its file). */
export function softHsmProtectorConfig(
  token: SoftHsmToken,
  kekLabel: string,
  extra: Partial<Omit<Pkcs11KeyProtectorConfig, 'modulePath' | 'tokenLabel' | 'pin' | 'moduleEnv'>> = {},
): Pkcs11KeyProtectorConfig {
  return {
    ...extra,
    modulePath: token.modulePath,
    tokenLabel: token.tokenLabel,
    pin: readPin({ file: token.pinFile }),
    kekLabel,
    moduleEnv: token.moduleEnv,
  };
}

/**
 * Whether softhsm2-util lists the token. A token directory that holds a token but is not listed is
 * asked again a few times first: another process of the server (a worker starting beside it) may be
 * writing the token's files at that moment, and a token read half-written is not listed.
 */
function tokenExists(util: string, env: NodeJS.ProcessEnv, label: string, tokenDir: string): boolean {
  const listed = () =>
    execFileSync(util, ['--show-slots'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .split('\n')
      .some((line) => /^\s*Label:\s/.test(line) && line.replace(/^\s*Label:\s*/, '').trimEnd() === label);
  if (listed()) return true;
  const holdsToken = existsSync(tokenDir) && readdirSync(tokenDir).length > 0;
  for (let attempt = 0; holdsToken && attempt < 10; attempt++) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    if (listed()) return true;
  }
  return false;
}

/** Reads a secret file, or creates it (mode 0600) with a random value. */
function ensureSecretFile(path: string): string {
  if (existsSync(path)) return readPin({ file: path });
  const secret = randomBytes(16).toString('hex');
  writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
  return secret;
}

function redact(text: string, secrets: readonly string[]): string {
  return secrets.reduce((t, s) => t.split(s).join('***'), text);
}
