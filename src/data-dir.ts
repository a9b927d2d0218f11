/**
 * The data directory is the server user's alone: the store and its WAL, the audit log, the token,
 * its PIN and configuration, the dev PKI's keys. The server sets its umask so that everything it
 * creates is 0600 (directories 0700), and tightens what an older version or another tool left wider,
 * once at start, before anything is opened.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Group and other get no access to what the server creates from now on. */
export function restrictNewFiles(): void {
  process.umask(0o077);
}

/** Creates `dir` (0700) if needed; removes group and other access from it and everything under it. */
export function secureDataDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  tighten(dir);
}

function tighten(p: string): void {
  const st = fs.lstatSync(p);
  if (st.isSymbolicLink()) return; // the link's target may not be ours to change
  if ((st.mode & 0o077) !== 0) fs.chmodSync(p, st.mode & 0o700);
  if (st.isDirectory()) for (const name of fs.readdirSync(p)) tighten(path.join(p, name));
}
