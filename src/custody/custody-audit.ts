/**
 * The key-custody commands' audit trail and their lock.
 *
 * The server's audit file belongs to the running server: a second writer would fork its hash chain.
 * So the custody commands keep a side trail of their own in the data dir, CUSTODY_AUDIT_FILE: the
 * same chained format (audit/trail.ts), its checkpoints MAC'd by the same HSM audit key, verified
 * by the same command (`kmip-server audit verify DATA/custody-audit.log`). One custody command at
 * a time holds CUSTODY_LOCK_FILE, so the side trail has one writer too.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditTrail } from '../audit/trail';
import { CustodyError } from './escrow';

export const CUSTODY_AUDIT_FILE = 'custody-audit.log';
export const CUSTODY_LOCK_FILE = 'kek-custody.lock';

export interface CustodyAudit {
  /** One audited step: `action` names it; the fields are identifiers and counts, never key material. */
  record(action: string, fields: Readonly<Record<string, string | number | boolean | readonly string[] | readonly number[]>>): Promise<void>;
  close(): Promise<void>;
}

/** Opens the side trail, continuing its chain; every record is durable before `record` resolves. */
export async function openCustodyAudit(dataDir: string, mac: ((data: Uint8Array) => Promise<Buffer>) | undefined): Promise<CustodyAudit> {
  const trail = new AuditTrail({ file: path.join(dataDir, CUSTODY_AUDIT_FILE), headFile: null, mac });
  const actor = `${os.userInfo().username}@${os.hostname()}`;
  return {
    async record(action, fields) {
      trail.append(JSON.stringify({ event: 'key-custody', action, ...fields, actor, pid: process.pid, level: 'info', message: 'audit', timestamp: new Date().toISOString() }));
      await trail.durable();
    },
    close: () => trail.close(),
  };
}

/**
 * Takes the custody lock of a data dir: two custody commands at once (two rotations, a retire during
 * a rotation) would race on the token's labels. A lock left by a killed command is taken over.
 */
export function lockCustody(dataDir: string): () => void {
  const file = path.join(dataDir, CUSTODY_LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return () => {
        if (holderOf(file) === process.pid) fs.rmSync(file, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = holderOf(file);
    if (holder !== undefined && holder !== process.pid && alive(holder)) {
      throw new CustodyError(`another key-custody command (PID ${holder}) is running on ${dataDir}; wait for it (lock file ${file})`);
    }
    fs.rmSync(file, { force: true });
  }
  throw new CustodyError(`could not take the custody lock ${file}`);
}

/** The PID in a lock file, if any. */
export function holderOf(file: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether `pid` is a live Node process (a PID reused by another program is not the server: never signal it). */
export function aliveNode(pid: number): boolean {
  if (!alive(pid)) return false;
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]!.includes('node');
  } catch {
    return true; // no /proc: trust the signal probe
  }
}
