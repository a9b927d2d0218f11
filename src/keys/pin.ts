/**
 * The HSM user PIN, read from an environment variable or a file so that it never appears on a
 * command line.
 */
import { readFileSync, statSync } from 'node:fs';
import { KeyProtectorError } from './key-protector';

/**
 * Reads the user PIN from an environment variable or a file (exactly one), so it never appears on
 * a command line. A file must not be readable or writable by group or others (like ssh keys); one
 * trailing newline is ignored. Error messages name the source, never its content.
 */
export function readPin(source: { env?: string; file?: string }): string {
  const { env, file } = source;
  if ((env === undefined) === (file === undefined)) {
    throw new KeyProtectorError('PIN_SOURCE', 'give exactly one PIN source: an environment variable or a file');
  }
  let pin: string;
  if (env !== undefined) {
    const value = process.env[env];
    if (value === undefined || value === '') {
      throw new KeyProtectorError('PIN_SOURCE', `environment variable ${env} is not set or empty`);
    }
    pin = value;
  } else {
    const path = file as string;
    let mode: number;
    try {
      mode = statSync(path).mode;
    } catch {
      throw new KeyProtectorError('PIN_SOURCE', `PIN file ${path} cannot be read`);
    }
    if ((mode & 0o077) !== 0) {
      throw new KeyProtectorError('PIN_SOURCE', `PIN file ${path} is accessible to group or others; run chmod 600 ${path}`);
    }
    try {
      pin = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch {
      throw new KeyProtectorError('PIN_SOURCE', `PIN file ${path} cannot be read`);
    }
    if (pin === '') throw new KeyProtectorError('PIN_SOURCE', `PIN file ${path} is empty`);
  }
  return pin;
}
