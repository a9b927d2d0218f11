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
const LOCK_FILE = 'server.lock';

class DataDirInUse extends Error {
  override readonly name = 'DataDirInUse';
}

/**
 * Takes the data dir for this process: two servers on one store would each trust their own row
 * cache and serve what the other changed or destroyed. The lock file holds the holder's PID; a lock
 * whose process is gone (a SIGKILL leaves one behind) is taken over. Returns the release.
 */
export function lockDataDir(dir: string): () => void {
  const file = path.join(dir, LOCK_FILE);
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
      throw new DataDirInUse(`the data dir ${dir} is in use by another server (PID ${holder}, lock file ${file}); stop it first`);
    }
    fs.rmSync(file, { force: true }); // stale: its process is gone
  }
  throw new DataDirInUse(`could not take the lock file ${file}: another server is starting on the same data dir`);
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
