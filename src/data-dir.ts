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

/** The lock file a running server keeps in its data dir (its workers share the primary's). */
export const LOCK_FILE = 'server.lock';

/**
 * The lock a node takes. On the embedded store it is the data dir's: two servers on one SQLite file
 * would each trust their own row cache. On PostgreSQL the store needs no lock (no row cache; every
 * write checks its revision), so nodes may share one data dir for the PKI and the token; what one
 * process must still own alone is its audit trail (a hash chain with one writer): the lock is the
 * trail's, and nodes sharing a data dir give each its own `audit.file`.
 */
export function nodeLockFile(config: { readonly dataDir: string; readonly auditFile: string; readonly storeEngine: { readonly engine: string } }): string {
  return config.storeEngine.engine === 'sqlite' ? path.join(config.dataDir, LOCK_FILE) : `${config.auditFile}.lock`;
}

/** The PID of the live server holding the data dir's store lock, if any. */
export function dataDirHolder(dir: string): number | undefined {
  const holder = readHolder(path.join(dir, LOCK_FILE));
  return holder !== undefined && holder !== process.pid && isRunningNode(holder) ? holder : undefined;
}

class DataDirInUse extends Error {
  override readonly name = 'DataDirInUse';
}

/**
 * Takes the data dir for this process: two servers on one store would each trust their own row
 * cache and serve what the other changed or destroyed. The lock file holds the holder's PID; a lock
 * whose process is gone (a SIGKILL leaves one behind) is taken over. Returns the release.
 */
export function lockDataDir(dir: string, file = path.join(dir, LOCK_FILE)): () => void {
  const what = file === path.join(dir, LOCK_FILE) ? `the data dir ${dir}` : `the audit trail ${file.replace(/\.lock$/, '')}`;
  const hint = file === path.join(dir, LOCK_FILE) ? 'stop it first' : 'nodes sharing a data dir need their own audit.file';
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => {
        // Only our own lock: a successor may have taken over a lock we were wrongly thought to hold.
        if (readHolder(file) === process.pid) fs.rmSync(file, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = readHolder(file);
    if (holder !== undefined && holder !== process.pid && isRunningNode(holder)) {
      throw new DataDirInUse(`${what} is in use by another server (PID ${holder}, lock file ${file}); ${hint}`);
    }
    fs.rmSync(file, { force: true }); // stale: its process is gone
  }
  throw new DataDirInUse(`could not take the lock file ${file}: another server is starting on ${what}`);
}

function readHolder(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `pid` is a live Node process (a PID reused by another program does not hold the lock). */
function isRunningNode(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.includes('node');
  } catch {
    return true; // no /proc: trust the signal probe
  }
}

/**
 * A file that belongs to one audit trail (its durable head, the SIEM forwarder's cursor): in the
 * data dir for the default trail, as before; beside the trail for one named by `audit.file`, so
 * that nodes sharing a data dir (PostgreSQL) never read each other's.
 */
export function auditSideFile(config: { readonly dataDir: string; readonly auditFile: string }, name: string): string {
  return config.auditFile === path.join(config.dataDir, 'audit.log') ? path.join(config.dataDir, name) : `${config.auditFile}.${name}`;
}
