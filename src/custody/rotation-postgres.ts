/**
 * KEK rotation, status and retirement on the PostgreSQL engine, beside running nodes. The rules are
 * the embedded store's (rotation.ts): no KEK on the token is ever changed once made, the new KEK is
 * made with its final label, earlier KEKs stay until `kek retire` destroys them. What differs is
 * where the facts live: nodes on several machines share one database and one HSM but not a data
 * dir, so the current KEK, the rotation's state and which KEK each running process wraps under are
 * rows in the database (store/postgres-keks.ts), and nodes follow the current KEK by looking there
 * (server-kek.ts) rather than by SIGHUP from a process on their own machine.
 *
 * Steps, each saved in table kek_rotation so that a rerun after a kill resumes:
 *  1. `create`: the new KEK's CKA_ID is chosen and saved, then the key made (a rerun finds it).
 *  2. `switch`: kek_current names the new KEK and the state moves on, in one transaction. Every
 *     live process adopts it within a few seconds (KEK_FOLLOW_MS); the rotation waits for all of
 *     them to say so (bounded) before re-wrapping, so its last pass catches what they wrapped before.
 *  3. `rewrap`: rows under another KEK are re-wrapped in the HSM in batches, each written in one
 *     transaction only at the revision it was read at (a row a node changed meanwhile is read
 *     again at the next pass; the revision moves on, so a node's update computed from the old row
 *     is refused as CONFLICT and runs again). The rows are the progress: each names its KEK.
 *  4. `done`, once no row names another KEK.
 */
import { randomBytes } from 'node:crypto';
import { generateKek } from '../keys/kek';
import { MECHANISM_AES_GCM, MECHANISM_AES_KWP } from '../keys/key-protector';
import { Pkcs11KeyProtector } from '../keys/pkcs11';
import type { Pkcs11KeyProtectorConfig } from '../keys/pkcs11-config';
import { KEK_NODE_LIVE_MS, type PostgresKekCatalog, type KekNode, type Rewrapped } from '../store/postgres-keks';
import { CustodyError } from './escrow';
import type { CustodyAudit } from './custody-audit';
import { rotatedKekLabel, type CustodyToken, type TokenKey } from './token';
import { DEFAULT_BATCH, SWITCH_TIMEOUT_MS, kekStatusRows, pausePoint, rewrapRow, type KekStatus, type RotationState } from './rotation';

export interface PostgresRotateOptions {
  readonly catalog: PostgresKekCatalog;
  readonly dataDir: string;
  readonly protector: Pkcs11KeyProtectorConfig;
  readonly batch?: number;
  readonly switchTimeoutMs?: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface PostgresRotateResult {
  readonly fromKekId: string;
  readonly toKekId: string;
  readonly resumed: boolean;
  readonly rewrapped: number;
  readonly remaining: number;
  /** The running processes (kek_nodes) that wrap under the new KEK once it was current. */
  readonly nodesSwitched: readonly string[];
  readonly done: boolean;
}

async function readState(catalog: PostgresKekCatalog): Promise<RotationState | null> {
  const text = await catalog.rotationState();
  return text === undefined ? null : (JSON.parse(text) as RotationState);
}

/**
 * The current KEK on the token: the one the database names; a database where no node named one
 * yet takes the data dir's (kek-current.json, else the label rule), named there from now on.
 */
export async function currentOnDatabase(token: CustodyToken, catalog: PostgresKekCatalog, dataDir: string): Promise<TokenKey | undefined> {
  const named = await catalog.current();
  if (named === undefined) {
    const local = token.current(dataDir);
    if (local === undefined || local.id === '') return local;
    const winner = await catalog.nameCurrentIfUnset(local.id);
    return token.find({ id: winner })[0];
  }
  const found = token.find({ id: named.kekId });
  if (found.length > 1) throw new CustodyError(`${found.length} keys carry CKA_ID ${named.kekId}`);
  return found[0];
}

export async function rotateKekPostgres(token: CustodyToken, audit: CustodyAudit, opts: PostgresRotateOptions): Promise<PostgresRotateResult> {
  const { catalog } = opts;
  let state = await readState(catalog);
  const resumed = state !== null && state.phase !== 'done';
  const save = (s: RotationState) => catalog.saveRotationState(JSON.stringify(s));
  if (state === null || state.phase === 'done') {
    const current = await currentOnDatabase(token, catalog, opts.dataDir);
    if (current === undefined) throw new CustodyError(`the token holds no current KEK (${(await catalog.current())?.kekId ?? 'none named in the database'})`);
    state = { fromKekId: current.id, toKekId: randomBytes(16).toString('hex'), phase: 'create', startedAt: new Date().toISOString(), rewrapped: 0 };
    await save(state);
    await audit.record('kek-rotate-start', { fromKekId: state.fromKekId, toKekId: state.toKekId, store: 'postgres' });
  } else {
    await audit.record('kek-rotate-resume', { fromKekId: state.fromKekId, toKekId: state.toKekId, phase: state.phase, store: 'postgres' });
  }

  if (state.phase === 'create') {
    if (token.find({ id: state.toKekId }).length === 0) {
      const old = token.find({ id: state.fromKekId })[0];
      if (old === undefined) throw new CustodyError(`KEK ${state.fromKekId} is not on the token`);
      generateKek(token.lib, token.session, {
        label: rotatedKekLabel(token.config.kekLabel, state.toKekId),
        id: Buffer.from(state.toKekId, 'hex'),
        mechanism: old.facts.encrypt && old.facts.decrypt ? MECHANISM_AES_GCM : MECHANISM_AES_KWP,
        escrowable: token.config.kekEscrowable === true,
      });
    }
    state = { ...state, phase: 'switch' };
    await save(state);
    await audit.record('kek-rotate-created', { toKekId: state.toKekId });
  }

  if (state.phase === 'switch') {
    if (token.find({ id: state.toKekId }).length === 0) throw new CustodyError(`the new KEK ${state.toKekId} is not on the token`);
    await pausePoint('kek-switch');
    // The one step that makes the new KEK current for every node, with the state that says so.
    state = { ...state, phase: 'rewrap', switchedAt: Date.now() };
    await catalog.switchCurrent(state.toKekId, JSON.stringify(state));
    await audit.record('kek-rotate-switched', { fromKekId: state.fromKekId, toKekId: state.toKekId });
  }

  const nodesSwitched = await nodesAdopt(catalog, state.toKekId, opts.switchTimeoutMs ?? SWITCH_TIMEOUT_MS);
  await audit.record('kek-rotate-nodes-switched', { toKekId: state.toKekId, nodes: nodesSwitched });

  const keys = await Pkcs11KeyProtector.open({ ...opts.protector, kekId: state.toKekId, createKek: false, openIndexKey: false });
  try {
    const rewrapped = await rewrapAll(catalog, keys, state, audit, opts);
    state = { ...state, rewrapped: state.rewrapped + rewrapped };
    const remaining = await catalog.countUnderOthers(state.toKekId);
    if (remaining === 0) {
      state = { ...state, phase: 'done', finishedAt: new Date().toISOString() };
      await audit.record('kek-rotate-done', { fromKekId: state.fromKekId, toKekId: state.toKekId, rewrapped: state.rewrapped });
    }
    await save(state);
    return { fromKekId: state.fromKekId, toKekId: state.toKekId, resumed, rewrapped, remaining, nodesSwitched, done: remaining === 0 };
  } finally {
    await keys.close();
  }
}

/** Waits until every live process says it wraps under `toKekId`; their names. */
async function nodesAdopt(catalog: PostgresKekCatalog, toKekId: string, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const live = await catalog.liveNodes(KEK_NODE_LIVE_MS);
    const behind = live.filter((n) => n.kekId !== toKekId);
    if (behind.length === 0) return live.map((n) => n.node);
    if (Date.now() > deadline) {
      throw new CustodyError(
        `server processes ${behind.map((n) => n.node).join(', ')} did not switch to KEK ${toKekId} within ${Math.round(timeoutMs / 1000)} s (their logs say why after "cannot follow the database's current KEK"): fix that or send them SIGHUP, then run kmip-server kek rotate again`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Passes over the rows in seq order until one finds nothing left (or makes no headway). */
async function rewrapAll(catalog: PostgresKekCatalog, keys: Pkcs11KeyProtector, state: RotationState, audit: CustodyAudit, opts: PostgresRotateOptions): Promise<number> {
  const batch = Math.max(1, opts.batch ?? DEFAULT_BATCH);
  const to = state.toKekId;
  let total = 0;
  let batches = 0;
  for (let pass = 0; pass < 10; pass++) {
    const todo = await catalog.countUnderOthers(to);
    if (todo === 0) break;
    let done = 0;
    let after = '0';
    let changedThisPass = 0;
    for (;;) {
      const rows = await catalog.underOthers(to, after, batch);
      if (rows.length === 0) break;
      // HSM work outside any transaction: the rows are written at their revision in one short one.
      const out: Rewrapped[] = [];
      for (const row of rows) {
        const { material, digest } = await rewrapRow(keys, row, to);
        if (material !== undefined || digest !== undefined) out.push({ seq: row.seq, rev: row.rev, ...(material ? { material } : {}), ...(digest ? { digest } : {}) });
      }
      const changed = await catalog.writeRewrapped(out);
      after = rows[rows.length - 1]!.seq;
      done += rows.length;
      changedThisPass += changed;
      total += changed;
      await audit.record('kek-rewrap-batch', { toKekId: to, rows: rows.length, rewrapped: changed, throughSeq: Number(after) });
      opts.onProgress?.(Math.min(done, todo), todo);
      if (++batches === 1) await pausePoint('kek-rewrap');
    }
    if (changedThisPass === 0) break;
  }
  return total;
}

export interface PostgresKekStatus {
  readonly keks: KekStatus[];
  readonly rotation: RotationState | null;
  /** The running processes and the KEK each wraps new objects under. */
  readonly nodes: KekNode[];
}

export async function kekStatusPostgres(token: CustodyToken, catalog: PostgresKekCatalog, dataDir: string): Promise<PostgresKekStatus> {
  const refs = await catalog.references();
  const current = (await catalog.current())?.kekId ?? token.current(dataDir)?.id;
  const rotation = await readState(catalog);
  return { keks: kekStatusRows(token, refs, current, rotation), rotation, nodes: await catalog.liveNodes(KEK_NODE_LIVE_MS) };
}

/** The token's KEK `kekId`, refused when missing, ambiguous, or the database's current KEK. */
export async function kekToRetirePostgres(token: CustodyToken, catalog: PostgresKekCatalog, dataDir: string, kekId: string): Promise<TokenKey> {
  const id = kekId.toLowerCase();
  const [kek, ...more] = token.find({ id });
  if (kek === undefined) throw new CustodyError(`the token holds no KEK ${id} (kmip-server kek status lists them)`);
  if (more.length > 0) throw new CustodyError(`several keys carry CKA_ID ${id}`);
  if (kek.id === (await currentOnDatabase(token, catalog, dataDir))?.id) throw new CustodyError(`KEK ${kek.id} is the current KEK: rotate first (kmip-server kek rotate)`);
  return kek;
}

/**
 * Destroys an earlier KEK once no row of the database names it and no live process wraps under it.
 * The database is the one place every node writes to, so its rows are the whole truth of what the
 * KEK still protects.
 */
export async function retireKekPostgres(token: CustodyToken, audit: CustodyAudit, opts: { catalog: PostgresKekCatalog; dataDir: string; kekId: string }): Promise<{ kekId: string }> {
  const { catalog } = opts;
  const kek = await kekToRetirePostgres(token, catalog, opts.dataDir, opts.kekId);
  const kekId = kek.id;
  // The rows first: what the KEK still protects is the refusal an operator needs to read.
  const refs = (await catalog.references()).get(kekId);
  if (refs !== undefined && refs.objects + refs.digests > 0) {
    throw new CustodyError(`KEK ${kekId} still protects ${refs.objects} objects and ${refs.digests} Digests: run kmip-server kek rotate to re-wrap them first`);
  }
  const state = await readState(catalog);
  if (state !== null && state.phase !== 'done' && (state.toKekId === kekId || state.fromKekId === kekId)) {
    throw new CustodyError(`KEK ${kekId} is part of an unfinished rotation: run kmip-server kek rotate to finish it first`);
  }
  const users = (await catalog.liveNodes(KEK_NODE_LIVE_MS)).filter((n) => n.kekId === kekId).map((n) => n.node);
  if (users.length > 0) {
    throw new CustodyError(`server processes ${users.join(', ')} still wrap new objects under KEK ${kekId}: they switch within seconds of the rotation (their logs say why if not); run kmip-server kek rotate again, then retire`);
  }
  token.lib.C_DestroyObject(token.session, kek.handle);
  await audit.record('kek-retire', { kekId, label: kek.label, store: 'postgres' });
  return { kekId };
}
