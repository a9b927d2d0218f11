/**
 * KMIP load generator: N persistent mutual-TLS connections against any KMIP server on this host,
 * one phase per operation (or one weighted mix), ops/s and latency percentiles per operation, and
 * the server's CPU time and peak RSS when its pid is given. Prints figures; asserts nothing.
 *
 *   node -r ./scripts/register-ts.js bench/load.ts --port 5696 --data-dir ./data [options]
 *
 * Target:      --host 127.0.0.1 --port N --ca FILE --cert FILE --key FILE [--servername localhost]
 *              --data-dir DIR   (instead of --ca/--cert/--key: DIR/pki/{ca,client,client-key}.pem)
 *              --pid PID        server process to read /proc/PID/{stat,status} of
 * Workload:    --phases create,get,firstget,locate,getattrs,encrypt,lifecycle   (default: all, in that order)
 *              --mix get:8,locate:1,create:1   (one mixed phase instead of --phases)
 *              --connections 32  --kmip-version 1.4  --seconds 10  --count N  --warmup 1
 *              --keys 1000       keys created first for get/locate/getattrs (and activated for encrypt)
 *              --first-get-keys 2000   new keys for the firstget phase, each read exactly once (its
 *                                      --seconds bounds it too); a tenth more (500 at most) are read
 *                                      first, unrecorded, unless --warmup 0
 *              --idle-connections N   open N more connections first and hold them through the run
 *              --json FILE       write the results as JSON too
 */
import fs from 'node:fs';
import path from 'node:path';
import { openConnections, type KmipConnection, type TargetOptions } from './lib/connection';
import { parseVersion } from './lib/kmip';
import { ProcessMonitor } from './lib/proc';
import { failureNotes, phaseTable, resourceTable } from './lib/report';
import { MIXABLE, PHASES, Workload, type KeyRef, type PhaseName, type PhaseResult, type Pools } from './lib/workload';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export interface LoadOptions {
  readonly target: TargetOptions;
  readonly pid?: number;
  readonly version: { major: number; minor: number };
  readonly connections: number;
  /** Each entry is one phase: a single operation, or a weighted mix. */
  readonly phases: ReadonlyArray<{ label: string; weights: ReadonlyArray<readonly [PhaseName, number]> }>;
  readonly seconds: number;
  readonly maxRequests: number;
  readonly warmupSeconds: number;
  readonly keys: number;
  /** Keys the firstget phase creates and then reads once each (default 2000). */
  readonly firstGetKeys?: number;
  readonly idleConnections: number;
  /** Seconds allowed for populating keys. */
  readonly populateTimeoutSeconds: number;
  /** Keys already in the store (e.g. written straight into SQLite): used instead of populating. */
  readonly presetKeys?: readonly KeyRef[];
  /** Active keys made for the Encrypt phase (default min(keys, 256)). */
  readonly encryptKeys?: number;
  /** TLS handshakes at a time while connecting (PyKMIP listens with a backlog of 5). */
  readonly connectParallel?: number;
  readonly log?: (line: string) => void;
}

export interface LoadReport {
  readonly results: PhaseResult[];
  readonly idle?: { connections: number; rssBeforeMb: number; rssAfterMb: number };
}

/** Runs the phases against one server. Used by this CLI and by compare.ts. */
export async function runLoad(o: LoadOptions): Promise<LoadReport> {
  const log = o.log ?? (() => undefined);
  if (!LOOPBACK.has(o.target.host)) throw new Error(`--host ${o.target.host}: this benchmark drives loopback servers only`);
  const conns = await openConnections(o.target, o.connections, o.connectParallel ?? 16);
  let idle: KmipConnection[] = [];
  let idleReport: LoadReport['idle'];
  try {
    const w = new Workload(conns, o.version, o.pid);
    const needs = new Set(o.phases.flatMap((p) => p.weights.map(([op]) => op)));
    const pools: Pools = { keys: [], activeKeys: [] };
    if (o.presetKeys) pools.keys.push(...o.presetKeys);
    else if (needs.has('get') || needs.has('locate') || needs.has('getattrs')) {
      log(`populating ${o.keys} keys`);
      pools.keys.push(...(await w.populate(o.keys, false, o.populateTimeoutSeconds)));
      if (needs.has('get')) await w.touch(pools.keys, o.populateTimeoutSeconds);
    }
    if (needs.has('encrypt')) {
      const n = o.encryptKeys ?? Math.min(o.keys, 256);
      log(`populating ${n} active keys for encrypt`);
      pools.activeKeys.push(...(await w.populate(n, true, o.populateTimeoutSeconds)));
    }
    if (o.idleConnections > 0 && o.pid !== undefined) {
      const before = new ProcessMonitor(o.pid).stop().endRssMb;
      log(`opening ${o.idleConnections} idle connections`);
      idle = await openConnections(o.target, o.idleConnections, o.connectParallel ?? 32);
      // Let the server settle (handshake buffers freed, GC run) before reading its RSS.
      await new Promise((r) => setTimeout(r, 3000));
      idleReport = { connections: idle.length, rssBeforeMb: before, rssAfterMb: new ProcessMonitor(o.pid).stop().endRssMb };
    }
    const results: PhaseResult[] = [];
    const bound = { seconds: o.seconds, maxRequests: o.maxRequests, warmupSeconds: o.warmupSeconds };
    for (const p of o.phases) {
      if (p.label === 'firstget') {
        // Keys of its own, made just before: every one is still Fresh when it is first read.
        const n = o.firstGetKeys ?? 2000;
        const warm = o.warmupSeconds > 0 ? Math.min(500, Math.ceil(n / 10)) : 0;
        log(`phase firstget: creating ${n + warm} keys`);
        const fresh = await w.populate(n + warm, false, o.populateTimeoutSeconds);
        log(`phase firstget: ${n} keys read once each, ${o.connections} connections, at most ${o.seconds} s`);
        results.push(await w.firstGets(p.label, fresh.slice(warm), fresh.slice(0, warm), bound));
        continue;
      }
      log(`phase ${p.label}: ${o.connections} connections, ${o.seconds} s`);
      results.push(await w.run(p.label, p.weights, pools, bound));
    }
    return { results, idle: idleReport };
  } finally {
    for (const c of [...conns, ...idle]) c.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Command line

function parseArgs(argv: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (!a.startsWith('--') || v === undefined) throw new Error(`bad argument ${a} (see the header of bench/load.ts)`);
    flags.set(a.slice(2), v);
    i++;
  }
  return flags;
}

function num(flags: Map<string, string>, key: string, dflt: number): number {
  const v = flags.get(key);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${key}: "${v}" is not a non-negative number`);
  return n;
}

export function parsePhases(phasesFlag: string | undefined, mixFlag: string | undefined): LoadOptions['phases'] {
  if (mixFlag !== undefined) {
    const weights = mixFlag.split(',').map((part) => {
      const [op, w] = part.split(':');
      if (!(MIXABLE as readonly string[]).includes(op ?? '')) throw new Error(`--mix: "${op}" is not one of ${MIXABLE.join(', ')}`);
      const weight = Number(w ?? 1);
      if (!(weight > 0)) throw new Error(`--mix: weight of ${op} must be positive`);
      return [op as PhaseName, weight] as const;
    });
    return [{ label: 'mix', weights }];
  }
  const names = (phasesFlag ?? PHASES.join(',')).split(',');
  return names.map((n) => {
    if (!(PHASES as readonly string[]).includes(n)) throw new Error(`--phases: "${n}" is not one of ${PHASES.join(', ')}`);
    return { label: n, weights: [[n as PhaseName, 1]] };
  });
}

async function main(): Promise<void> {
  const flags = parseArgs(process.argv.slice(2));
  const dataDir = flags.get('data-dir');
  const file = (key: string, fallback: string): Buffer => {
    const p = flags.get(key) ?? (dataDir ? path.join(dataDir, 'pki', fallback) : undefined);
    if (!p) throw new Error(`--${key} (or --data-dir) is required`);
    return fs.readFileSync(p);
  };
  const port = num(flags, 'port', 5696);
  const options: LoadOptions = {
    target: {
      host: flags.get('host') ?? '127.0.0.1',
      port,
      ca: file('ca', 'ca.pem'),
      cert: file('cert', 'client.pem'),
      key: file('key', 'client-key.pem'),
      servername: flags.get('servername') ?? 'localhost',
      requestTimeoutMs: num(flags, 'timeout-ms', 30_000),
    },
    pid: flags.has('pid') ? num(flags, 'pid', 0) : undefined,
    version: parseVersion(flags.get('kmip-version') ?? '1.4'),
    connections: num(flags, 'connections', 32),
    phases: parsePhases(flags.get('phases'), flags.get('mix')),
    seconds: num(flags, 'seconds', 10),
    maxRequests: num(flags, 'count', 10_000_000),
    warmupSeconds: num(flags, 'warmup', 1),
    keys: num(flags, 'keys', 1000),
    firstGetKeys: num(flags, 'first-get-keys', 2000),
    idleConnections: num(flags, 'idle-connections', 0),
    populateTimeoutSeconds: num(flags, 'populate-timeout', 600),
    log: (line) => console.error(`[load] ${line}`),
  };
  const report = await runLoad(options);
  const v = options.version;
  console.log(`KMIP ${v.major}.${v.minor}, ${options.connections} connections, ${options.target.host}:${port}`);
  console.log(phaseTable(report.results));
  console.log();
  console.log(resourceTable(report.results));
  for (const n of failureNotes(report.results)) console.log(n);
  if (report.idle) {
    const i = report.idle;
    console.log(
      `\nidle connections: ${i.connections} held open; server RSS ${i.rssBeforeMb.toFixed(0)} MB before, ${i.rssAfterMb.toFixed(0)} MB after`,
    );
  }
  const json = flags.get('json');
  if (json) {
    const plain = report.results.map((r) => ({ ...r, ops: Object.fromEntries(r.ops) }));
    fs.writeFileSync(json, JSON.stringify({ options: { ...options, target: { host: options.target.host, port } }, results: plain, idle: report.idle }, null, 2));
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
