/**
 * Which KEK each serving process wraps new objects under, kept durably in the data dir: one small
 * 0600 file per process (`kek-in-use.<pid>.json`, so workers never write the same file), written at
 * open and on every KEK switch (SIGHUP after `kek rotate`), removed at a clean stop. `kek rotate`
 * reads them to know when a running server has switched, `kek retire` to know that none still wraps
 * under the KEK it would destroy. A file whose process is gone (SIGKILL) is ignored, and removed at
 * the next start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { replaceFileDurably } from './durable-file';

const PREFIX = 'kek-in-use.';
const SUFFIX = '.json';

export interface KekInUse {
  readonly pid: number;
  /** When the process started (ms since the epoch): told apart from a later process given the same PID. */
  readonly startedAt: number;
  readonly kekId: string;
  /** When it began wrapping under kekId (ms since the epoch). */
  readonly since: number;
}

const processStartedAt = Math.round(Date.now() - process.uptime() * 1000);

function fileOf(dataDir: string, pid: number): string {
  return path.join(dataDir, `${PREFIX}${pid}${SUFFIX}`);
}

/** Written whole to a temporary file, synced, renamed over: a reader sees the old record or the new. */
export function recordKekInUse(dataDir: string, kekId: string): KekInUse {
  const record: KekInUse = { pid: process.pid, startedAt: processStartedAt, kekId, since: Date.now() };
  replaceFileDurably(fileOf(dataDir, process.pid), `${JSON.stringify(record)}\n`, { syncDirectory: false });
  return record;
}

/** At a clean stop: this process wraps nothing any more. */
export function forgetKekInUse(dataDir: string): void {
  fs.rmSync(fileOf(dataDir, process.pid), { force: true });
}

/** At start: removes the records of processes that are gone. */
export function removeStaleKekRecords(dataDir: string): void {
  for (const r of readAll(dataDir)) if (!live(r)) fs.rmSync(fileOf(dataDir, r.pid), { force: true });
}

/** The records of the processes that still run: each may wrap new objects under its kekId. */
export function liveKeksInUse(dataDir: string): KekInUse[] {
  return readAll(dataDir).filter(live);
}

function readAll(dataDir: string): KekInUse[] {
  let names: string[];
  try {
    names = fs.readdirSync(dataDir);
  } catch {
    return [];
  }
  const out: KekInUse[] = [];
  for (const name of names) {
    if (!name.startsWith(PREFIX) || !name.endsWith(SUFFIX)) continue;
    try {
      const r = JSON.parse(fs.readFileSync(path.join(dataDir, name), 'utf8')) as KekInUse;
      if (Number.isInteger(r.pid) && typeof r.kekId === 'string' && typeof r.startedAt === 'number') out.push(r);
    } catch {
      // Removed or replaced while being read: the next look sees it whole or gone.
    }
  }
  return out;
}

/**
 * Whether the record's process still runs: the PID answers, and (where /proc tells) it is a
 * process that started when the record says, give or take the clock's grain.
 */
function live(r: KekInUse): boolean {
  try {
    process.kill(r.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const started = startTimeOf(r.pid);
  return started === undefined || Math.abs(started - r.startedAt) < 5_000;
}

/** A process's start time from /proc (Linux), in ms since the epoch; undefined where unknown. */
function startTimeOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime, clock ticks since boot), counted after the command's closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    const uptime = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    if (!Number.isFinite(ticks) || !Number.isFinite(uptime)) return undefined;
    // USER_HZ is 100 on every Linux Node runs on.
    return Date.now() - uptime * 1000 + (ticks / 100) * 1000;
  } catch {
    return undefined;
  }
}
