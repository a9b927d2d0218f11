/**
 * KEK rotation, status and retirement, beside a running server.
 *
 * No KEK on the token is ever changed once made: SoftHSM2 rewrites a key's file in place on
 * C_SetAttributeValue, so a SIGKILL while a KEK's label changed could lose that KEK and every
 * object under it. Which KEK is current is the data dir's kek-current.json (keys/kek-current.ts),
 * replaced by an atomic rename; earlier KEKs stay as they were until `kek retire` destroys them.
 *
 * Rotation, in steps persisted in ROTATION_FILE so that a SIGKILL at any point resumes:
 *  1. `create`: the new KEK's CKA_ID is chosen and saved first, then the key is made with its
 *     final label, rotatedKekLabel() (a rerun finds it by that CKA_ID instead of making another).
 *  2. `switch`: kek-current.json names the new KEK: a server started from now on makes new objects
 *     under it. A running one is sent SIGHUP, reads the file again and says so in its kek-in-use
 *     record (keys/kek-in-use.ts); the rotation waits for that (bounded) before re-wrapping, so
 *     the last pass catches what it wrapped before.
 *  3. `rewrap`: rows still under another KEK are decrypted and encrypted again in the HSM in
 *     bounded batches, each committed in one short transaction that changes a row only if it still
 *     holds the blob that was read (compare-and-swap: a row the server changed meanwhile is taken
 *     at the next pass). The rows themselves are the progress: each names its KEK. Both KEKs stay
 *     on the token throughout, so every row decrypts at every instant, whichever blob it holds.
 *  4. `done`, once no row names another KEK.
 * `kek retire` destroys an earlier KEK only when no row names it.
 *
 * A data dir from before kek-current.json (current KEK = the one labelled as KEK, rotations that
 * moved labels) is settled first by settleCurrentKek, which only writes that file.
 *
 * This is the embedded store's rotation; on the postgres engine the same steps keep their facts in
 * the database, which every node follows (rotation-postgres.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { generateKek } from '../keys/kek';
import { MECHANISM_AES_GCM, MECHANISM_AES_KWP } from '../keys/key-protector';
import { Pkcs11KeyProtector } from '../keys/pkcs11';
import type { Pkcs11KeyProtectorConfig } from '../keys/pkcs11-config';
import { CustodyError } from './escrow';
import type { CustodyAudit } from './custody-audit';
import { alive, aliveNode, holderOf } from './custody-audit';
import { rotatedKekLabel, type CustodyToken, type TokenKey } from './token';
import { sealBinding } from '../objects/digest-index';
import { liveKeksInUse } from '../keys/kek-in-use';
import { currentKekId, writeCurrentKek } from '../keys/kek-current';
import { replaceFileDurably } from '../keys/durable-file';
import type { WrappedColumns } from '../store/postgres-keks';

export const ROTATION_FILE = 'kek-rotation.json';
/** The server's data-dir lock (data-dir.ts): its holder and when it started. */
const SERVER_LOCK_FILE = 'server.lock';
export const DEFAULT_BATCH = 200;
/** How long a rotation waits for a running server to switch to the new KEK after SIGHUP. */
export const SWITCH_TIMEOUT_MS = 30_000;
/**
 * Test hook: with this set to a pause point's name ('kek-switch': the new KEK made, not yet
 * current; 'kek-switched': current, the rotation's state not yet saved; on PostgreSQL also
 * 'kek-rewrap': the first re-wrapped batch committed), the rotation says so on
 * stderr and waits there for ever, so a crash test can SIGKILL it inside that window.
 */
export const PAUSE_ENV = 'KMIP_SERVER_TEST_PAUSE';

export async function pausePoint(point: 'kek-switch' | 'kek-switched' | 'kek-rewrap'): Promise<void> {
  if (process.env[PAUSE_ENV] !== point) return;
  process.stderr.write(`paused at ${point}\n`);
  await new Promise<never>(() => setInterval(() => {}, 60_000));
}

export interface RotationState {
  readonly fromKekId: string;
  readonly toKekId: string;
  readonly phase: 'create' | 'switch' | 'rewrap' | 'done';
  readonly startedAt: string;
  /** When the KEK label moved to the new KEK (ms since the epoch): servers started before still use the old one. */
  readonly switchedAt?: number;
  readonly finishedAt?: string;
  readonly rewrapped: number;
  /** New KEKs lost in a cut label move and made again (audited on resume). */
  readonly remade?: readonly string[];
}

export function readRotation(dataDir: string): RotationState | null {
  const file = path.join(dataDir, ROTATION_FILE);
  if (!fs.existsSync(file)) return null;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as RotationState;
}

/** Written whole to a temporary file, synced, then renamed over: a crash leaves the old state or the new. */
function saveRotation(dataDir: string, state: RotationState): void {
  replaceFileDurably(path.join(dataDir, ROTATION_FILE), `${JSON.stringify(state, null, 2)}\n`, { syncDirectory: true });
}

/** The store beside the running server (WAL: a second connection reads and writes in short transactions). */
export function openStoreFile(storePath: string): Database.Database {
  if (!fs.existsSync(storePath)) throw new CustodyError(`no store at ${storePath}: is --data-dir the server's data dir?`);
  const db = new Database(storePath, { fileMustExist: true });
  db.pragma('busy_timeout = 5000');
  return db;
}

/** Objects (material) and Digests kept of destroyed objects, per KEK. */
export function kekReferences(db: Database.Database): Map<string, { objects: number; digests: number }> {
  const out = new Map<string, { objects: number; digests: number }>();
  const entry = (id: string) => out.get(id) ?? out.set(id, { objects: 0, digests: 0 }).get(id)!;
  for (const r of db.prepare('SELECT kek_id AS id, count(*) AS n FROM objects WHERE kek_id IS NOT NULL GROUP BY kek_id').all() as { id: string; n: number }[]) entry(r.id).objects = r.n;
  for (const r of db.prepare('SELECT digest_kek_id AS id, count(*) AS n FROM objects WHERE digest_kek_id IS NOT NULL GROUP BY digest_kek_id').all() as { id: string; n: number }[]) entry(r.id).digests = r.n;
  return out;
}

export interface RotateOptions {
  readonly dataDir: string;
  readonly storePath: string;
  readonly protector: Pkcs11KeyProtectorConfig;
  readonly batch?: number;
  /** How long to wait for a running server to switch KEK (default SWITCH_TIMEOUT_MS). */
  readonly switchTimeoutMs?: number;
  /** Told after each committed batch (progress bar). */
  readonly onProgress?: (done: number, total: number) => void;
}

export interface RotateResult {
  readonly fromKekId: string;
  readonly toKekId: string;
  readonly resumed: boolean;
  readonly rewrapped: number;
  /** Rows still under another KEK (none once done). */
  readonly remaining: number;
  /** The running server's processes that were told to switch, and did (none when no server runs). */
  readonly serverSwitched: readonly number[];
  readonly done: boolean;
}

export async function rotateKek(token: CustodyToken, audit: CustodyAudit, opts: RotateOptions): Promise<RotateResult> {
  const label = token.config.kekLabel;
  let state = readRotation(opts.dataDir);
  const resumed = state !== null && state.phase !== 'done';
  if (state === null || state.phase === 'done') {
    const current = token.current(opts.dataDir);
    if (current === undefined) throw new CustodyError(`the token holds no current KEK (${currentKekId(opts.dataDir) ?? `labelled ${JSON.stringify(label)}`})`);
    state = { fromKekId: current.id, toKekId: randomBytes(16).toString('hex'), phase: 'create', startedAt: new Date().toISOString(), rewrapped: 0 };
    saveRotation(opts.dataDir, state);
    await audit.record('kek-rotate-start', { fromKekId: state.fromKekId, toKekId: state.toKekId });
  } else {
    await audit.record('kek-rotate-resume', { fromKekId: state.fromKekId, toKekId: state.toKekId, phase: state.phase, remade: state.remade ?? [] });
  }

  if (state.phase === 'create') {
    if (token.find({ id: state.toKekId }).length === 0) {
      const old = token.find({ id: state.fromKekId })[0];
      if (old === undefined) throw new CustodyError(`KEK ${state.fromKekId} is not on the token`);
      const mechanism = old.facts.encrypt && old.facts.decrypt ? MECHANISM_AES_GCM : MECHANISM_AES_KWP;
      generateKek(token.lib, token.session, {
        label: rotatedKekLabel(label, state.toKekId),
        id: Buffer.from(state.toKekId, 'hex'),
        mechanism,
        escrowable: token.config.kekEscrowable === true,
      });
    }
    state = { ...state, phase: 'switch' };
    saveRotation(opts.dataDir, state);
    await audit.record('kek-rotate-created', { toKekId: state.toKekId });
  }

  if (state.phase === 'switch') {
    if (token.find({ id: state.toKekId }).length === 0) throw new CustodyError(`the new KEK ${state.toKekId} is not on the token`);
    await pausePoint('kek-switch');
    // The one step that makes the new KEK current: no key on the token changes.
    writeCurrentKek(opts.dataDir, state.toKekId);
    await pausePoint('kek-switched');
    state = { ...state, phase: 'rewrap', switchedAt: Date.now() };
    saveRotation(opts.dataDir, state);
    await audit.record('kek-rotate-switched', { fromKekId: state.fromKekId, toKekId: state.toKekId });
  }

  // A running server wraps under the new KEK from here on; what it wrapped under the old one before is re-wrapped below.
  const serverSwitched = await serverAdopts(opts.dataDir, state.toKekId, opts.switchTimeoutMs ?? SWITCH_TIMEOUT_MS);
  if (serverSwitched.length > 0) await audit.record('kek-rotate-server-switched', { toKekId: state.toKekId, pids: serverSwitched });

  const db = openStoreFile(opts.storePath);
  // The protector makes blobs under the new KEK, and finds the others by CKA_ID.
  const keys = await Pkcs11KeyProtector.open({ ...opts.protector, kekId: state.toKekId, createKek: false, openIndexKey: false });
  try {
    const rewrapped = await rewrapAll(db, keys, state, audit, opts);
    state = { ...state, rewrapped: state.rewrapped + rewrapped };
    const remaining = countOthers(db, state.toKekId);
    if (remaining === 0) {
      state = { ...state, phase: 'done', finishedAt: new Date().toISOString() };
      await audit.record('kek-rotate-done', { fromKekId: state.fromKekId, toKekId: state.toKekId, rewrapped: state.rewrapped });
    }
    saveRotation(opts.dataDir, state);
    return { fromKekId: state.fromKekId, toKekId: state.toKekId, resumed, rewrapped, remaining, done: remaining === 0, serverSwitched };
  } finally {
    await keys.close();
    db.close();
  }
}

/**
 * Before anything opens the token for a custody command: a data dir from before kek-current.json
 * gets it, naming the KEK the label rule makes current (the one labelled as KEK; after a label
 * move a kill cut in two, the rotation's old KEK, which every server still used). Writes only
 * that file, never the token; idempotent. Then a rotation a kill left at `switch` whose new KEK is
 * gone (an earlier version moved labels, and SoftHSM2 could lose the key doing so) makes it again.
 */
export function settleCurrentKek(token: CustodyToken, dataDir: string, storePath: string): void {
  const state = readRotation(dataDir);
  const unfinished = state !== null && (state.phase === 'create' || state.phase === 'switch');
  if (currentKekId(dataDir) === undefined) {
    const labelled = token.one(token.config.kekLabel);
    const legacy: TokenKey | undefined = labelled ?? (unfinished ? token.find({ id: state.fromKekId })[0] : undefined);
    if (legacy !== undefined && legacy.id !== '') writeCurrentKek(dataDir, legacy.id);
  }
  if (unfinished && state.phase === 'switch' && token.find({ id: state.toKekId }).length === 0) remakeLostNewKek(token, dataDir, storePath, state);
}

/**
 * A new KEK lost before it wrapped anything (an earlier version's cut label move) is made again
 * under a new id; rows under it would mean it must be recovered instead.
 */
function remakeLostNewKek(token: CustodyToken, dataDir: string, storePath: string, state: RotationState): RotationState {
  const lostId = state.toKekId;
  const db = openStoreFile(storePath);
  let underIt: number;
  try {
    underIt = db.prepare('SELECT count(*) FROM objects WHERE kek_id = ? OR digest_kek_id = ?').pluck().get(lostId, lostId) as number;
  } finally {
    db.close();
  }
  if (underIt > 0) throw new CustodyError(`the new KEK ${lostId} is not on the token and ${underIt} objects are wrapped under it: recover it (kmip-server kek recover, or the HSM's backup) before rotating again`);
  const old = token.find({ id: state.fromKekId })[0];
  if (old === undefined) throw new CustodyError(`KEK ${state.fromKekId} is not on the token`);
  // Back to `create` with a new id, saved first: the rotation makes it at its step 1 and records the lost one.
  const next: RotationState = { ...state, phase: 'create', toKekId: randomBytes(16).toString('hex'), remade: [...(state.remade ?? []), lostId] };
  saveRotation(dataDir, next);
  return next;
}

interface BlobRow extends WrappedColumns {
  readonly seq: number;
}

function countOthers(db: Database.Database, kekId: string): number {
  return (db.prepare('SELECT count(*) FROM objects WHERE (kek_id IS NOT NULL AND kek_id != ?) OR (digest_kek_id IS NOT NULL AND digest_kek_id != ?)').pluck().get(kekId, kekId) as number);
}

/** Passes over the rows in seq order until one finds nothing to do (or makes no headway). */
async function rewrapAll(db: Database.Database, keys: Pkcs11KeyProtector, state: RotationState, audit: CustodyAudit, opts: RotateOptions): Promise<number> {
  const batch = Math.max(1, opts.batch ?? DEFAULT_BATCH);
  const select = db.prepare(
    `SELECT seq, uid, kek_id, mechanism, iv, ciphertext, digest_kek_id, digest_mechanism, digest_iv, digest_ciphertext FROM objects
     WHERE seq > ? AND ((kek_id IS NOT NULL AND kek_id != ?) OR (digest_kek_id IS NOT NULL AND digest_kek_id != ?)) ORDER BY seq LIMIT ?`,
  );
  const setMaterial = db.prepare('UPDATE objects SET kek_id = ?, mechanism = ?, iv = ?, ciphertext = ? WHERE seq = ? AND kek_id = ? AND ciphertext = ?');
  const setDigest = db.prepare('UPDATE objects SET digest_kek_id = ?, digest_mechanism = ?, digest_iv = ?, digest_ciphertext = ? WHERE seq = ? AND digest_kek_id = ? AND digest_ciphertext = ?');
  const to = state.toKekId;
  let total = 0;
  // Passes until one finds nothing left: rows a server wrapped under the old KEK just before it switched are taken by a later one.
  for (let pass = 0; pass < 10; pass++) {
    const todo = countOthers(db, to);
    if (todo === 0) break;
    let done = 0;
    let after = 0;
    let changedThisPass = 0;
    for (;;) {
      const rows = select.all(after, to, to, batch) as BlobRow[];
      if (rows.length === 0) break;
      // HSM work outside any transaction: the write lock is held only for the updates below.
      const updates: (() => number)[] = [];
      for (const row of rows) {
        const { material, digest } = await rewrapRow(keys, row, to);
        if (material) updates.push(() => setMaterial.run(material.kekId, material.mechanism, Buffer.from(material.iv), Buffer.from(material.ciphertext), row.seq, row.kek_id, row.ciphertext).changes);
        if (digest) updates.push(() => setDigest.run(digest.kekId, digest.mechanism, Buffer.from(digest.iv), Buffer.from(digest.ciphertext), row.seq, row.digest_kek_id, row.digest_ciphertext).changes);
      }
      const changed = db.transaction(() => updates.reduce((n, u) => n + u(), 0))();
      after = rows[rows.length - 1]!.seq;
      done += rows.length;
      changedThisPass += changed;
      total += changed;
      await audit.record('kek-rewrap-batch', { toKekId: to, rows: rows.length, rewrapped: changed, throughSeq: after });
      opts.onProgress?.(Math.min(done, todo), todo);
    }
    if (changedThisPass === 0) break;
  }
  return total;
}

/**
 * Sends SIGHUP to the server that holds the data dir's lock (the primary passes it to its workers)
 * unless every serving process already wraps under `toKekId`, then waits until each says so in its
 * kek-in-use record. Returns the PIDs that did; none when no server runs.
 */
async function serverAdopts(dataDir: string, toKekId: string, timeoutMs: number): Promise<number[]> {
  const holder = holderOf(path.join(dataDir, SERVER_LOCK_FILE));
  const pid = holder !== undefined && aliveNode(holder) ? holder : undefined;
  const switched = () => {
    const live = liveKeksInUse(dataDir);
    return live.every((r) => r.kekId === toKekId) && (pid === undefined || live.length > 0) ? live.map((r) => r.pid) : null;
  };
  const already = switched();
  if (already !== null) return already;
  if (pid === undefined) {
    const behind = liveKeksInUse(dataDir).map((r) => r.pid);
    throw new CustodyError(`processes ${behind.join(', ')} still wrap new objects under the old KEK but none holds the data dir's lock: send them SIGHUP (kill -HUP ${behind.join(' ')}), then run kmip-server kek rotate again`);
  }
  try {
    process.kill(pid, 'SIGHUP');
  } catch (e) {
    throw new CustodyError(`cannot signal the running server (PID ${pid}: ${(e as NodeJS.ErrnoException).code}): send it SIGHUP as its user (kill -HUP ${pid}) or restart it, then run kmip-server kek rotate again`);
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const done = switched();
    if (done !== null) return done;
    if (Date.now() > deadline) {
      throw new CustodyError(`the running server (PID ${pid}) did not switch to KEK ${toKekId} within ${Math.round(timeoutMs / 1000)} s (its log says why after "reload failed"): fix that and send it SIGHUP, or restart it, then run kmip-server kek rotate again`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The row's key material and sealed Digest, each re-wrapped under `keys` when a KEK other than `to` wraps it. */
export async function rewrapRow(keys: Pkcs11KeyProtector, row: WrappedColumns, to: string) {
  let material: Awaited<ReturnType<typeof reprotect>> | undefined;
  let digest: Awaited<ReturnType<typeof reprotect>> | undefined;
  if (row.kek_id !== null && row.kek_id !== to && row.mechanism && row.iv && row.ciphertext) {
    material = await reprotect(keys, row.uid, { kekId: row.kek_id, mechanism: row.mechanism, iv: row.iv, ciphertext: row.ciphertext });
  }
  if (row.digest_kek_id !== null && row.digest_kek_id !== to && row.digest_mechanism && row.digest_iv && row.digest_ciphertext) {
    // A destroyed object's sealed Digest is bound to its own binding, not the bare identifier.
    digest = await reprotect(keys, sealBinding(row.uid), { kekId: row.digest_kek_id, mechanism: row.digest_mechanism, iv: row.digest_iv, ciphertext: row.digest_ciphertext });
  }
  return { material, digest };
}

export async function reprotect(keys: Pkcs11KeyProtector, uid: string, old: { kekId: string; mechanism: string; iv: Buffer; ciphertext: Buffer }) {
  const plain = await keys.unprotect(uid, old);
  try {
    return await keys.protect(uid, plain);
  } finally {
    plain.fill(0);
  }
}

export interface KekStatus {
  readonly kekId: string;
  readonly label: string;
  /** current: the data dir names it; next: an unfinished rotation's new KEK, not yet current. */
  readonly role: 'current' | 'next' | 'earlier' | 'missing';
  readonly escrowable: boolean;
  readonly objects: number;
  readonly digests: number;
}

export function kekStatus(token: CustodyToken, opts: { dataDir: string; storePath: string }): { keks: KekStatus[]; rotation: RotationState | null } {
  const db = openStoreFile(opts.storePath);
  let refs: Map<string, { objects: number; digests: number }>;
  try {
    refs = kekReferences(db);
  } finally {
    db.close();
  }
  const rotation = readRotation(opts.dataDir);
  return { keks: kekStatusRows(token, refs, token.current(opts.dataDir)?.id, rotation), rotation };
}

/**
 * One row per KEK of the token (current, the next of an unfinished rotation, or earlier) with the
 * objects and Digests the store wraps under it, and one per KEK the store names that the token lacks.
 */
export function kekStatusRows(
  token: CustodyToken,
  refs: ReadonlyMap<string, { objects: number; digests: number }>,
  current: string | undefined,
  rotation: RotationState | null,
): KekStatus[] {
  const next = rotation !== null && rotation.phase !== 'done' ? rotation.toKekId : undefined;
  const keks: KekStatus[] = token.keks().map((k) => ({
    kekId: k.id,
    label: k.label,
    role: k.id === current ? 'current' : k.id === next ? 'next' : 'earlier',
    escrowable: k.facts.extractable,
    objects: refs.get(k.id)?.objects ?? 0,
    digests: refs.get(k.id)?.digests ?? 0,
  }));
  for (const [id, r] of refs) {
    if (!keks.some((k) => k.kekId === id)) keks.push({ kekId: id, label: '', role: 'missing', escrowable: false, ...r });
  }
  return keks;
}

/**
 * The token's KEK `kekId` (any case), refused when it is missing, ambiguous or the current KEK the
 * data dir names: checked by retireKek and, under dual control, before a retirement is asked for.
 */
export function kekToRetire(token: CustodyToken, dataDir: string, kekId: string): TokenKey {
  const [kek, ...more] = token.find({ id: kekId.toLowerCase() });
  if (kek === undefined) throw new CustodyError(`the token holds no KEK ${kekId.toLowerCase()} (kmip-server kek status lists them)`);
  if (more.length > 0) throw new CustodyError(`several keys carry CKA_ID ${kekId.toLowerCase()}`);
  if (kek.id === token.current(dataDir)?.id) throw new CustodyError(`KEK ${kek.id} is the current KEK: rotate first (kmip-server kek rotate)`);
  return kek;
}

export async function retireKek(token: CustodyToken, audit: CustodyAudit, opts: { dataDir: string; storePath: string; kekId: string }): Promise<{ kekId: string }> {
  const kekId = opts.kekId.toLowerCase();
  const kek = kekToRetire(token, opts.dataDir, kekId);
  const state = readRotation(opts.dataDir);
  if (state !== null && state.phase !== 'done' && (state.toKekId === kekId || state.fromKekId === kekId)) {
    throw new CustodyError(`KEK ${kekId} is part of an unfinished rotation: run kmip-server kek rotate to finish it first`);
  }
  const db = openStoreFile(opts.storePath);
  try {
    const refs = kekReferences(db).get(kekId);
    if (refs !== undefined && refs.objects + refs.digests > 0) {
      throw new CustodyError(`KEK ${kekId} still protects ${refs.objects} objects and ${refs.digests} Digests: run kmip-server kek rotate to re-wrap them first`);
    }
  } finally {
    db.close();
  }
  // A serving process that has not switched (SIGHUP) still makes new objects under the old KEK.
  const users = liveKeksInUse(opts.dataDir).filter((r) => r.kekId === kekId).map((r) => r.pid);
  if (users.length > 0) {
    throw new CustodyError(`the running server (PID ${users.join(', ')}) still wraps new objects under KEK ${kekId}: run kmip-server kek rotate again (it tells the server to switch), then retire`);
  }
  // A server that keeps no kek-in-use record (an earlier version) and started before the switch.
  const lock = path.join(opts.dataDir, SERVER_LOCK_FILE);
  const pid = holderOf(lock);
  if (pid !== undefined && alive(pid) && liveKeksInUse(opts.dataDir).length === 0 && state !== null && state.fromKekId === kekId && fs.statSync(lock).mtimeMs < (state.switchedAt ?? 0)) {
    throw new CustodyError(`the running server (PID ${pid}) started before KEK ${kekId} was rotated out and may still wrap new objects under it: restart it, run kmip-server kek rotate, then retire`);
  }
  token.lib.C_DestroyObject(token.session, kek.handle);
  await audit.record('kek-retire', { kekId, label: kek.label });
  return { kekId };
}
