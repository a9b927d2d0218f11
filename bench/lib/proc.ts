/**
 * CPU time and memory of the server process under test, from /proc (Linux). The process and its
 * descendants are counted together: PyKMIP runs a multiprocessing manager beside its server.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

interface StatLine {
  readonly ppid: number;
  /** utime + stime of all the process's threads, in seconds. */
  readonly cpuSeconds: number;
}

function readStat(pid: number): StatLine | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: fields start after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After the name: state(3) ppid(4) ... utime(14) stime(15), so index = field number - 3.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return { ppid: Number(fields[1]), cpuSeconds: (utime + stime) / clockTicks() };
}

function statusKb(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** `pid` and every process below it. */
function processTree(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) parents.set(Number(name), s.ppid);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const [child, parent] of parents) if (parent === tree[i] && !tree.includes(child)) tree.push(child);
  }
  return tree;
}

/** CPU seconds used so far by the processes of these trees (a server's nodes, a database cluster). */
export function treesCpuSeconds(roots: readonly number[]): number {
  return roots.flatMap((r) => processTree(r)).reduce((t, p) => t + (readStat(p)?.cpuSeconds ?? 0), 0);
}

/** Busy and total CPU time of the whole machine so far (/proc/stat), in clock ticks. */
export function machineTicks(): { busy: number; total: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle and iowait are the not-busy ones.
  const total = cpu.slice(0, 8).reduce((t, x) => t + x, 0);
  return { busy: total - cpu[3]! - cpu[4]!, total };
}

export interface ProcessUsage {
  /** CPU seconds used by the tree during the window. */
  readonly cpuSeconds: number;
  /** Largest sampled RSS of the tree during the window, in MB. */
  readonly peakRssMb: number;
  /** RSS of the tree at the end of the window, in MB. */
  readonly endRssMb: number;
  /** The main process's own high-water mark since it started (VmHWM), in MB. */
  readonly hwmMb: number;
}

/** Samples a process tree's RSS while a phase runs; `stop()` gives the window's figures. */
export class ProcessMonitor {
  private readonly tree: number[];
  private readonly startCpu: number;
  private peakKb = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    sampleMs = 100,
  ) {
    this.tree = processTree(pid);
    this.startCpu = this.cpu();
    this.sample();
    this.timer = setInterval(() => this.sample(), sampleMs);
    this.timer.unref();
  }

  private cpu(): number {
    return this.tree.reduce((t, p) => t + (readStat(p)?.cpuSeconds ?? 0), 0);
  }

  private rssKb(): number {
    return this.tree.reduce((t, p) => t + statusKb(p, 'VmRSS'), 0);
  }

  private sample(): void {
    this.peakKb = Math.max(this.peakKb, this.rssKb());
  }

  stop(): ProcessUsage {
    clearInterval(this.timer);
    this.sample();
    return {
      cpuSeconds: this.cpu() - this.startCpu,
      peakRssMb: this.peakKb / 1024,
      endRssMb: this.rssKb() / 1024,
      hwmMb: statusKb(this.pid, 'VmHWM') / 1024,
    };
  }
}
