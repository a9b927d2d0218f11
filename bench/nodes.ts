/**
 * Create, Get and Locate through 1, 2 and 3 server nodes on one PostgreSQL database, beside one
 * server on the embedded SQLite store, with the same load generator and the same connections:
 * the figures of docs/scaling.md. Prints figures; asserts nothing.
 *
 *   node -r ./scripts/register-ts.js bench/nodes.ts [--postgres ADMIN_URL|auto] [--nodes 1,2,3]
 *        [--sqlite-workers 1] [--connections 24] [--seconds 8] [--runs 3] [--keys 500]
 *        [--phases create,get,locate] [--pool 8]
 *
 * Every configuration gets a fresh data dir (and a fresh database), its nodes sharing that data
 * dir (one token, one KEK, an audit trail each) as docs/scaling.md sets them up; the connections
 * are spread over the nodes round robin, as clients holding a server list would spread. Each phase
 * runs a warm-up first, then its measured window, around which the CPU time of the nodes, of the
 * database cluster and of this load generator is read from /proc: CPU per operation is what the
 * estimates for a larger cluster are drawn from. `auto` starts a throwaway cluster
 * (test/helpers/postgres.ts: fsync on, synchronous_commit on) and stops it after.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { databaseUrl, startPostgresCluster, type PostgresCluster } from '../test/helpers/postgres';
import { openConnections, type KmipConnection } from './lib/connection';
import { machineTicks, treesCpuSeconds } from './lib/proc';
import { startOurServer, type ServerUnderTest } from './lib/servers';
import { fmtMs, fmtRate, median, table } from './lib/stats';
import { Workload, type PhaseName, type Pools } from './lib/workload';

function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

const CONNECTIONS = Number(flag('connections', '24'));
const SECONDS = Number(flag('seconds', '8'));
const RUNS = Number(flag('runs', '3'));
const KEYS = Number(flag('keys', '500'));
const POOL = Number(flag('pool', '8'));
const PHASES = flag('phases', 'create,get,locate').split(',') as PhaseName[];
const log = (line: string) => console.error(`[nodes] ${line}`);

interface Configuration {
  readonly label: string;
  readonly nodes: number;
  /** The store section of every node's configuration; undefined: the embedded SQLite store. */
  readonly postgres?: { readonly adminUrl: string; readonly postmasterPid: number };
  readonly workers?: string;
}

/** One phase of one run: rates, latencies and CPU milliseconds per operation by component. */
interface Figures {
  readonly opsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly failed: number;
  readonly nodeCpuMs: number;
  readonly dbCpuMs: number;
  readonly clientCpuMs: number;
  /** Share of the machine's CPU in use during the window. */
  readonly machineBusy: number;
}

async function adminQuery(adminUrl: string, sql: string): Promise<string | undefined> {
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const r = await c.query<Record<string, string>>(sql);
    const row = r.rows[0];
    return row ? Object.values(row)[0] : undefined;
  } finally {
    await c.end();
  }
}

/** The cluster's postmaster: the root of every backend process, whose CPU is the database's. */
async function postmasterPid(adminUrl: string): Promise<number> {
  const dataDir = await adminQuery(adminUrl, "SELECT setting FROM pg_settings WHERE name = 'data_directory'");
  if (!dataDir) throw new Error('cannot find the cluster\'s data directory');
  const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no postmaster pid in ${dataDir}/postmaster.pid`);
  return pid;
}

async function startNodes(c: Configuration, dir: string, database: string | undefined): Promise<ServerUnderTest[]> {
  const nodes: ServerUnderTest[] = [];
  // One after the other: the first start makes the data dir's PKI and token, which the others share.
  for (let i = 0; i < c.nodes; i++) {
    let configFile: string | undefined;
    if (c.postgres && database) {
      configFile = path.join(dir, `node-${i}.json`);
      const config = { store: { engine: 'postgres', url: databaseUrl(c.postgres.adminUrl, database), poolSize: POOL }, audit: { file: `audit-${i}.log` } };
      fs.writeFileSync(configFile, JSON.stringify(config), { mode: 0o600 });
    }
    nodes.push(await startOurServer({ dataDir: dir, configFile, workers: c.workers }));
  }
  return nodes;
}

async function connect(nodes: readonly ServerUnderTest[]): Promise<KmipConnection[]> {
  const pki = nodes[0]!.pkiDir;
  const read = (f: string) => fs.readFileSync(path.join(pki, f));
  const perNode = nodes.map((n, i) =>
    openConnections(
      { host: '127.0.0.1', port: n.port, ca: read('ca.pem'), cert: read('client.pem'), key: read('client-key.pem'), servername: 'localhost', requestTimeoutMs: 60_000 },
      Math.floor(CONNECTIONS / nodes.length) + (i < CONNECTIONS % nodes.length ? 1 : 0),
    ),
  );
  const lists = await Promise.all(perNode);
  // Interleaved, so the load's connections take turns across the nodes.
  const out: KmipConnection[] = [];
  for (let j = 0; out.length < CONNECTIONS; j++) for (const l of lists) if (l[j]) out.push(l[j]!);
  return out;
}

async function runConfiguration(c: Configuration): Promise<Map<PhaseName, Figures>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-bench-nodes-'));
  const database = c.postgres ? `kmip_nodes_${process.pid}_${Date.now().toString(36)}` : undefined;
  if (c.postgres && database) await adminQuery(c.postgres.adminUrl, `CREATE DATABASE ${database}`);
  const nodes = await startNodes(c, dir, database);
  const out = new Map<PhaseName, Figures>();
  let conns: KmipConnection[] = [];
  try {
    conns = await connect(nodes);
    const w = new Workload(conns, { major: 1, minor: 4 });
    const pools: Pools = { keys: [], activeKeys: [] };
    if (PHASES.some((p) => p !== 'create')) {
      pools.keys.push(...(await w.populate(KEYS, false, 120)));
      await w.touch(pools.keys, 120);
    }
    const roots = { nodes: nodes.map((n) => n.pid), db: c.postgres ? [c.postgres.postmasterPid] : [] };
    for (const phase of PHASES) {
      const bound = { seconds: SECONDS, maxRequests: 10_000_000, warmupSeconds: 0 };
      await w.run(`${phase}-warmup`, [[phase, 1]], pools, { ...bound, seconds: 2 });
      const node0 = treesCpuSeconds(roots.nodes);
      const db0 = treesCpuSeconds(roots.db);
      const m0 = machineTicks();
      const r = await w.run(phase, [[phase, 1]], pools, bound);
      const m1 = machineTicks();
      const s = r.ops.get(phase)!;
      const perOp = (cpuSeconds: number) => (s.ok > 0 ? (cpuSeconds * 1000) / s.ok : 0);
      out.set(phase, {
        opsPerSecond: s.opsPerSecond,
        p50: s.p50,
        p99: s.p99,
        failed: s.failed,
        nodeCpuMs: perOp(treesCpuSeconds(roots.nodes) - node0),
        dbCpuMs: perOp(treesCpuSeconds(roots.db) - db0),
        clientCpuMs: perOp(r.clientCpuSeconds),
        machineBusy: (m1.busy - m0.busy) / Math.max(1, m1.total - m0.total),
      });
      if (s.failureKinds.length) log(`${c.label} ${phase} failures: ${s.failureKinds.join('; ')}`);
    }
  } finally {
    for (const conn of conns) conn.close();
    await Promise.all(nodes.map((n) => n.stop(30_000)));
    if (c.postgres && database) await adminQuery(c.postgres.adminUrl, `DROP DATABASE ${database} WITH (FORCE)`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

async function main(): Promise<void> {
  const pgFlag = flag('postgres', 'auto');
  let cluster: PostgresCluster | undefined;
  if (pgFlag === 'auto') cluster = await startPostgresCluster();
  try {
    const adminUrl = cluster?.adminUrl ?? pgFlag;
    const pg = { adminUrl, postmasterPid: await postmasterPid(adminUrl) };
    const configurations: Configuration[] = [
      ...flag('sqlite-workers', '1')
        .split(',')
        .map((w) => ({ label: w === '1' ? 'SQLite, 1 node' : `SQLite, 1 node, ${w} workers`, nodes: 1, workers: w === '1' ? undefined : w })),
      ...flag('nodes', '1,2,3')
        .split(',')
        .map(Number)
        .map((n) => ({ label: `PostgreSQL, ${n} node${n > 1 ? 's' : ''}`, nodes: n, postgres: pg })),
    ];
    const results = new Map<string, Array<Map<PhaseName, Figures>>>();
    for (let run = 1; run <= RUNS; run++) {
      for (const c of configurations) {
        log(`run ${run}/${RUNS}: ${c.label}`);
        const figures = await runConfiguration(c);
        results.set(c.label, [...(results.get(c.label) ?? []), figures]);
      }
    }
    const pgVersion = await adminQuery(adminUrl, 'SHOW server_version');
    console.log(
      `nodes: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}, PostgreSQL ${pgVersion ?? '?'} on loopback, ` +
        `${CONNECTIONS} connections, ${SECONDS} s per phase, medians of ${RUNS} runs, pool ${POOL} per node`,
    );
    const rows: string[][] = [];
    const sqliteRate = new Map<PhaseName, number>();
    for (const c of configurations) {
      const runs = results.get(c.label) ?? [];
      for (const phase of PHASES) {
        const all = runs.map((r) => r.get(phase)).filter((f): f is Figures => f !== undefined);
        const med = (k: keyof Figures) => median(all.map((f) => f[k]));
        const rate = med('opsPerSecond');
        if (!c.postgres && !sqliteRate.has(phase)) sqliteRate.set(phase, rate);
        const base = sqliteRate.get(phase);
        rows.push([
          c.label,
          phase,
          fmtRate(rate),
          base ? (rate / base).toFixed(2) : '-',
          fmtMs(med('p50')),
          fmtMs(med('p99')),
          String(Math.round(med('failed'))),
          med('nodeCpuMs').toFixed(2),
          c.postgres ? med('dbCpuMs').toFixed(2) : '-',
          med('clientCpuMs').toFixed(2),
          `${Math.round(100 * med('machineBusy'))}%`,
        ]);
      }
    }
    console.log(
      table(['configuration', 'op', 'ops/s', 'x SQLite', 'p50 ms', 'p99 ms', 'failed', 'node CPU ms/op', 'db CPU ms/op', 'load-gen CPU ms/op', 'machine busy'], rows),
    );
  } finally {
    cluster?.stop();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  process.exit(1);
});
