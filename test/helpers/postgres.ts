/**
 * A throwaway PostgreSQL cluster for tests: initdb and pg_ctl in a temp dir, on a free loopback
 * port, trust authentication on loopback only (no password anywhere), stopped and deleted after.
 * As root, the binaries run as the `postgres` user (PostgreSQL refuses to run as root).
 *
 * The jest global setup starts one for a run that includes PostgreSQL tests and hands its admin URL
 * to the workers (KMIP_TEST_PG_URL); a test file run without it starts its own (postgresForTests).
 * Each test takes a fresh database of the cluster (freshDatabase), so files never share rows.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { probeError } from './environment';

export const PG_URL_ENV = 'KMIP_TEST_PG_URL';

export interface PostgresCluster {
  /** postgresql://postgres@127.0.0.1:PORT/postgres */
  readonly adminUrl: string;
  readonly port: number;
  readonly dataDir: string;
  stop(): void;
  /** Stops the server and starts it again on the same port and data (tests of a database lost and back). */
  restart(): void;
  /** Stops the server, keeping its data (start() brings it back). */
  stopServer(): void;
  startServer(): void;
  /** Stops the server as a crash would (pg_ctl stop -m immediate: no checkpoint, WAL replay at the next start). */
  crash(): void;
  /**
   * A standby of this cluster (pg_basebackup -R, streaming), on a port of its own, started;
   * `name` is its cluster_name, the application name synchronous_standby_names lists.
   */
  startStandby(name?: string): Promise<PostgresCluster & { promote(): void }>;
}

/** The directory holding initdb and pg_ctl: PATH, else the newest /usr/lib/postgresql/N/bin. */
export function postgresBinDir(): string | undefined {
  const roots = '/usr/lib/postgresql';
  const versions = fs.existsSync(roots) ? fs.readdirSync(roots).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const dir = path.join(roots, v, 'bin');
    if (fs.existsSync(path.join(dir, 'initdb'))) return dir;
  }
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    if (dir && fs.existsSync(path.join(dir, 'initdb')) && fs.existsSync(path.join(dir, 'pg_ctl'))) return dir;
  }
  return undefined;
}

/** Undefined when a cluster can be made here, else why not (for requireEnvironment). */
export function postgresMissing(): string | undefined {
  if (process.env[PG_URL_ENV]) return undefined;
  const bin = postgresBinDir();
  if (bin === undefined) return 'no initdb/pg_ctl (scripts/install-system-deps.sh installs Debian postgresql)';
  return probeError(() => execFileSync(path.join(bin, 'initdb'), ['--version'], { stdio: 'pipe' }));
}

function asRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** Runs a PostgreSQL binary, as the postgres user when we are root. */
function run(bin: string, args: readonly string[]): void {
  const [cmd, argv] = asRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, [...args]];
  execFileSync(cmd, argv, { stdio: 'pipe', timeout: 60_000 });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startPostgresCluster(): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  if (bin === undefined) throw new Error('PostgreSQL is not installed: no initdb/pg_ctl (scripts/install-system-deps.sh)');
  const root = newRoot();
  const dataDir = path.join(root, 'data');
  run(path.join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  // Loopback only; fsync stays on (the store's durability is under test), synchronous_commit on.
  fs.appendFileSync(path.join(dataDir, 'postgresql.conf'), "\nlisten_addresses = '127.0.0.1'\nmax_connections = 200\nsynchronous_commit = on\n");
  return clusterOn(bin, root, dataDir);
}

function newRoot(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kmip-test-pg-'));
  fs.chmodSync(root, 0o755);
  fs.mkdirSync(path.join(root, 'sock'));
  if (asRoot()) execFileSync('chown', ['-R', 'postgres:', root]);
  return root;
}

async function clusterOn(bin: string, root: string, dataDir: string): Promise<PostgresCluster> {
  const socketDir = path.join(root, 'sock');
  const port = await freePort();
  const log = path.join(root, 'server.log');
  const pgCtl = path.join(bin, 'pg_ctl');
  const startServer = () => run(pgCtl, ['-D', dataDir, '-l', log, '-w', '-t', '60', '-o', `-p ${port} -k ${socketDir}`, 'start']);
  const stopServer = () => run(pgCtl, ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
  startServer();
  return {
    adminUrl: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    startServer,
    stopServer,
    crash: () => run(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop']),
    restart() {
      stopServer();
      startServer();
    },
    stop() {
      try {
        stopServer();
      } catch {
        /* already stopped */
      }
      fs.rmSync(root, { recursive: true, force: true });
    },
    async startStandby(name?: string) {
      const standbyRoot = newRoot();
      const standbyData = path.join(standbyRoot, 'data');
      // initdb's pg_hba trusts replication connections from loopback; -R writes standby.signal and primary_conninfo.
      run(path.join(bin, 'pg_basebackup'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-D', standbyData, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
      if (name !== undefined) fs.appendFileSync(path.join(standbyData, 'postgresql.auto.conf'), `\ncluster_name = '${name}'\n`);
      const standby = await clusterOn(bin, standbyRoot, standbyData);
      return { ...standby, promote: () => run(pgCtl, ['-D', standbyData, '-w', 'promote']) };
    },
  };
}

let ownCluster: Promise<PostgresCluster> | undefined;

/**
 * The admin URL of the run's cluster (global setup's), or of one this test file starts, stopped
 * by the returned stop() (a no-op for the shared one).
 */
export async function postgresForTests(): Promise<{ adminUrl: string; stop(): void; cluster?: PostgresCluster }> {
  const shared = process.env[PG_URL_ENV];
  if (shared) return { adminUrl: shared, stop: () => undefined };
  ownCluster ??= startPostgresCluster();
  const cluster = await ownCluster;
  return {
    adminUrl: cluster.adminUrl,
    cluster,
    stop: () => {
      ownCluster = undefined;
      cluster.stop();
    },
  };
}

let databases = 0;

/** A new empty database on the cluster; its URL. */
export async function freshDatabase(adminUrl: string): Promise<string> {
  const name = `kmip_t${process.pid}_${Date.now().toString(36)}_${databases++}`;
  const c = new Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  return databaseUrl(adminUrl, name);
}

/** The URL of database `name` on the cluster of `adminUrl`. */
export function databaseUrl(adminUrl: string, name: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

