/**
 * The libmongocrypt stand-in driver (test/interop/mongocrypt/kmip_driver.c), compiled with cc
 * against Debian's libkms_message and OpenSSL; shared by the mongocrypt interop test and the
 * integration-guide test.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export const MONGOCRYPT_DRIVER_SOURCE = path.join(__dirname, '..', 'interop', 'mongocrypt', 'kmip_driver.c');

/** Compiles the driver into `dir`; a missing compiler or library throws, naming what to install. */
export function compileMongocryptDriver(dir: string): string {
  const install = 'apt-get install -y libmongocrypt-dev libssl-dev pkg-config gcc libc6-dev (scripts/install-system-deps.sh does it)';
  let flags: string[];
  try {
    flags = execFileSync('pkg-config', ['--cflags', '--libs', 'libkms_message', 'libssl', 'libcrypto'], { encoding: 'utf8', stdio: 'pipe' })
      .trim()
      .split(/\s+/)
      .filter(Boolean);
  } catch (e) {
    throw new Error(`pkg-config cannot find libkms_message, libssl or libcrypto: ${(e as Error).message}\n${install}`);
  }
  const out = path.join(dir, 'kmip_driver');
  try {
    execFileSync('cc', ['-std=c11', '-D_DEFAULT_SOURCE', '-Wall', '-Wextra', '-O1', '-o', out, MONGOCRYPT_DRIVER_SOURCE, ...flags], { stdio: 'pipe', timeout: 120_000 });
  } catch (e) {
    const err = e as Error & { stderr?: Buffer };
    throw new Error(`compiling ${MONGOCRYPT_DRIVER_SOURCE} failed: ${err.message}\n${err.stderr?.toString() ?? ''}\n${install}`);
  }
  return out;
}
