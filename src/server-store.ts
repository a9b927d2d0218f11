/**
 * The stores of the configured engine (`store.engine`), as the server, its workers and the commands
 * beside it (grant, approve, kek retire) open them: the object store, and the approval store of dual
 * control, and the object counter of the metrics. The one place that chooses between the embedded SQLite file and PostgreSQL.
 */
import fs from 'node:fs';
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { ServerConfig } from './config';
import { SqliteObjectStore } from './store/sqlite';
import { PostgresObjectStore } from './store/postgres-store';
import { SqliteApprovalStore } from './store/sqlite-approvals';
import { PostgresApprovalStore } from './store/postgres-approvals';
import type { ApprovalStore } from './store/approval-store';
import type { ObjectCount, StoreObserver } from './store/sqlite-watch';
import { ObjectCounter } from './store/object-counts';
import { PostgresObjectCounter } from './store/postgres-counts';
import { DueDates, type DueDateSource } from './store/due-dates';
import { PostgresDueDates } from './store/postgres-due-dates';
import { PostgresLease } from './store/postgres-lease';
import type { Lease } from './scheduler/leased';

/** The store a server runs on: either engine, with what start, readiness and the KEK check need. */
export type ServerStore = SqliteObjectStore | PostgresObjectStore;

/**
 * Opens (and migrates) the store `store.engine` names. SQLite's is always shared: besides workers,
 * the key-custody commands (kek rotate) rewrite rows of a running server's store, and a cached row
 * must not outlive the KEK it names (kek retire). PostgreSQL unreachable: one line naming the URL
 * without its password (PostgresObjectStore.open).
 */
export async function openServerStore(config: ServerConfig, observer?: StoreObserver): Promise<ServerStore> {
  const e = config.storeEngine;
  if (e.engine === 'postgres') return PostgresObjectStore.open({ url: e.url, poolSize: e.poolSize });
  return new SqliteObjectStore({ path: config.storePath, sharedWithOtherProcesses: true, observer });
}

/**
 * The store of a server configured as `config` says, for a command run beside it (grant, schedule):
 * an embedded store that does not exist yet is a wrong --data-dir, named, rather than a new empty file.
 */
export async function openExistingServerStore(config: ServerConfig): Promise<ServerStore> {
  if (config.storeEngine.engine === 'sqlite' && !fs.existsSync(config.storePath)) throw new Error(`no store at ${config.storePath}: is --data-dir (or --config) the server's?`);
  return openServerStore(config);
}

/** Closes either engine, waiting for PostgreSQL's last deferred writes and its pool. */
export async function closeStore(store: ServerStore): Promise<void> {
  if (store instanceof PostgresObjectStore) await store.closeAsync();
  else store.close();
}

/**
 * Dual control's approvals in the configured store, over connections of their own (the `approve`
 * command uses them beside a running server; nodes on one database all see the same requests). The
 * store must have been migrated by a server start (schema 7): else a StoreError saying so.
 */
export async function openApprovalStore(config: ServerConfig): Promise<ApprovalStore> {
  const e = config.storeEngine;
  if (e.engine === 'postgres') return PostgresApprovalStore.open({ url: e.url });
  return new SqliteApprovalStore(config.storePath);
}

/** Objects by type and state for /metrics, counted off the event loop, at most a few seconds old. */
export interface ObjectCounts {
  counts(): Promise<ObjectCount[]>;
  close(): Promise<unknown>;
}

/**
 * The object counter of the configured engine, over a connection of its own: a thread reading the
 * SQLite file (object-counts.ts), or a GROUP BY PostgreSQL runs (postgres-counts.ts).
 */
export function openObjectCounter(config: ServerConfig): ObjectCounts {
  const e = config.storeEngine;
  if (e.engine === 'postgres') return new PostgresObjectCounter(e.url);
  return new ObjectCounter(config.storePath);
}

/** The lifecycle scheduler's timetable in the configured store, on a connection of its own. */
export function openDueDates(config: ServerConfig): DueDateSource {
  const e = config.storeEngine;
  if (e.engine === 'postgres') return new PostgresDueDates(e.url);
  return new DueDates(config.storePath);
}

/** How long a node holds the scheduler's lease without renewing it, and how often it renews. */
export const SCHEDULER_LEASE = { ttlMs: 15_000, renewMs: 5_000 } as const;

/**
 * The scheduler's lease when several nodes may share the store (PostgreSQL): the node holding it
 * runs the scheduler. Undefined on SQLite, whose one host's primary picks the scheduler's process.
 */
export function openSchedulerLease(config: ServerConfig): Lease | undefined {
  const e = config.storeEngine;
  if (e.engine !== 'postgres') return undefined;
  return new PostgresLease(e.url, 'scheduler', `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`, SCHEDULER_LEASE.ttlMs);
}
