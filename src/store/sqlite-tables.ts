/**
 * The SQLite store's tables as rows: an object's row, the prepared statements, and what one
 * insert, update or deferred write does to the object's row and its index entries (attr_text,
 * attr_num). Transactions, group commit and the row cache are the store's (sqlite.ts).
 */
import type Database from 'better-sqlite3';
import { encodeTtlv } from '../../ttlv/encode';
import { ItemType, type TtlvItem } from '../../ttlv/types';
import {
  decodeAttributeBlob,
  encodeAttributeBlob,
  entryKey,
  indexEntries,
  isIndexed,
  patchBareValue,
  type IndexEntry,
} from './attribute-rows';
import { StoreError, type DeferredAttribute, type NewObject, type ObjectUpdate, type StoredAttribute } from './object-store';

export interface ObjectRow {
  seq: number;
  uid: string;
  object_type: number;
  state: number;
  owner: string;
  kek_id: string | null;
  mechanism: string | null;
  iv: Buffer | null;
  ciphertext: Buffer | null;
  attrs: Buffer;
  rev: number;
  digest_mac: Buffer | null;
  digest_kek_id: string | null;
  digest_mechanism: string | null;
  digest_iv: Buffer | null;
  digest_ciphertext: Buffer | null;
}

const ROW_COLUMNS =
  'seq, uid, object_type, state, owner, kek_id, mechanism, iv, ciphertext, attrs, rev, digest_mac, digest_kek_id, digest_mechanism, digest_iv, digest_ciphertext';

/** How long a read (or a blocking write) waits for a lock another connection holds. */
export const BUSY_TIMEOUT_MS = 5000;

export type Statements = ReturnType<typeof prepareStatements>;

export function prepareStatements(db: Database.Database) {
  return {
    insertObject: db.prepare(
      `INSERT INTO objects (uid, object_type, state, owner, kek_id, mechanism, iv, ciphertext, attrs, digest_mac,
                            digest_kek_id, digest_mechanism, digest_iv, digest_ciphertext, created_at, updated_at)
       VALUES (@uid, @objectType, @state, @owner, @kekId, @mechanism, @iv, @ciphertext, @attrs, @digestMac,
               @digestKekId, @digestMechanism, @digestIv, @digestCiphertext, @now, @now)`,
    ),
    insertText: db.prepare(`INSERT INTO attr_text (name, skey, object_seq, idx) VALUES (?, ?, ?, ?)`),
    insertNumber: db.prepare(`INSERT INTO attr_num (name, nval, object_seq, idx) VALUES (?, ?, ?, ?)`),
    deleteText: db.prepare(`DELETE FROM attr_text WHERE name = ? AND skey = ? AND object_seq = ? AND idx = ?`),
    deleteNumber: db.prepare(`DELETE FROM attr_num WHERE name = ? AND nval = ? AND object_seq = ? AND idx = ?`),
    deleteObject: db.prepare(`DELETE FROM objects WHERE seq = ?`),
    updateState: db.prepare(`UPDATE objects SET state = ?, updated_at = ? WHERE seq = ?`),
    updateAttributes: db.prepare(`UPDATE objects SET attrs = ?, updated_at = ? WHERE seq = ?`),
    bumpRevision: db.prepare(`UPDATE objects SET rev = rev + 1 WHERE seq = ?`),
    updateAttributesAndRevision: db.prepare(`UPDATE objects SET attrs = ?, updated_at = ?, rev = rev + 1 WHERE seq = ?`),
    updateMaterial: db.prepare(
      `UPDATE objects SET kek_id = ?, mechanism = ?, iv = ?, ciphertext = ?, updated_at = ? WHERE seq = ?`,
    ),
    updateDigestMac: db.prepare(`UPDATE objects SET digest_mac = ? WHERE seq = ?`),
    updateSealedDigest: db.prepare(`UPDATE objects SET digest_kek_id = ?, digest_mechanism = ?, digest_iv = ?, digest_ciphertext = ? WHERE seq = ?`),
    getObject: db.prepare(
      `SELECT ${ROW_COLUMNS} FROM objects WHERE uid = ?`,
    ),
    seqAndAttributes: db.prepare(`SELECT seq, attrs, rev FROM objects WHERE uid = ?`),
    dataVersion: db.prepare('PRAGMA data_version').pluck(),
    // Readiness (server/metrics-endpoint.ts): one read through the primary key's last page.
    probeRead: db.prepare('SELECT max(seq) FROM objects').pluck(),
    begin: db.prepare('BEGIN'),
    beginImmediate: db.prepare('BEGIN IMMEDIATE'),
    commit: db.prepare('COMMIT'),
    rollback: db.prepare('ROLLBACK'),
    savepointBatch: db.prepare('SAVEPOINT batch'),
    releaseBatch: db.prepare('RELEASE batch'),
    rollbackToBatch: db.prepare('ROLLBACK TO batch'),
    noBusyWait: db.prepare('PRAGMA busy_timeout = 0'),
    busyWait: db.prepare(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`),
  };
}

/**
 * Inserts an object's row and its index entries. With `inserted`, the row (and its seq) is kept
 * there too: the row cache takes it once the write commits.
 */
export function insertObject(stmts: Statements, obj: NewObject, inserted: Map<string, ObjectRow> | null): void {
  const m = obj.protectedMaterial;
  const row: Omit<ObjectRow, 'seq'> = {
    uid: obj.uid,
    object_type: obj.objectType,
    state: obj.state,
    owner: obj.owner,
    kek_id: m?.kekId ?? null,
    mechanism: m?.mechanism ?? null,
    iv: m ? Buffer.from(m.iv) : null,
    ciphertext: m ? Buffer.from(m.ciphertext) : null,
    attrs: encodeAttributeBlob(obj.attributes),
    rev: 0,
    digest_mac: obj.digestMac ? Buffer.from(obj.digestMac) : null,
    digest_kek_id: obj.sealedDigest?.kekId ?? null,
    digest_mechanism: obj.sealedDigest?.mechanism ?? null,
    digest_iv: obj.sealedDigest ? Buffer.from(obj.sealedDigest.iv) : null,
    digest_ciphertext: obj.sealedDigest ? Buffer.from(obj.sealedDigest.ciphertext) : null,
  };
  let seq: number;
  try {
    seq = Number(
      stmts.insertObject.run({
        uid: row.uid,
        objectType: row.object_type,
        state: row.state,
        owner: row.owner,
        kekId: row.kek_id,
        mechanism: row.mechanism,
        iv: row.iv,
        ciphertext: row.ciphertext,
        attrs: row.attrs,
        digestMac: row.digest_mac,
        digestKekId: row.digest_kek_id,
        digestMechanism: row.digest_mechanism,
        digestIv: row.digest_iv,
        digestCiphertext: row.digest_ciphertext,
        now: Date.now(),
      }).lastInsertRowid,
    );
    if (inserted !== null) inserted.set(row.uid, { ...row, seq });
  } catch (e) {
    if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
      throw new StoreError('EXISTS', `object ${obj.uid} already exists`);
    }
    throw e;
  }
  for (const e of indexEntries(obj.attributes)) insertEntry(stmts, seq, e);
}

/** Applies an update to the object's row and index entries: NOT_FOUND, or CONFLICT if the revision moved on. */
export function updateObject(stmts: Statements, uid: string, change: ObjectUpdate): void {
  const row = stmts.seqAndAttributes.get(uid) as { seq: number; attrs: Buffer; rev: number } | undefined;
  if (row === undefined) throw new StoreError('NOT_FOUND', `object ${uid} not found`);
  if (change.expectedRevision !== null && change.expectedRevision !== row.rev) {
    throw new StoreError('CONFLICT', `object ${uid} changed since it was read`, uid);
  }
  const seq = row.seq;
  const now = Date.now();
  stmts.bumpRevision.run(seq);
  // The State column follows the State attribute a change carries: a handler's record may hold the
  // State its dates settle it in (objects/managed-object.ts loadObject), not yet written.
  const state = change.state ?? (change.attributes && stateOf(change.attributes));
  if (state !== undefined) stmts.updateState.run(state, now, seq);
  if (change.protectedMaterial !== undefined) {
    const m = change.protectedMaterial;
    stmts.updateMaterial.run(
      m?.kekId ?? null,
      m?.mechanism ?? null,
      m ? Buffer.from(m.iv) : null,
      m ? Buffer.from(m.ciphertext) : null,
      now,
      seq,
    );
  }
  if (change.digestMac !== undefined) stmts.updateDigestMac.run(change.digestMac ? Buffer.from(change.digestMac) : null, seq);
  if (change.sealedDigest !== undefined) {
    const d = change.sealedDigest;
    stmts.updateSealedDigest.run(d?.kekId ?? null, d?.mechanism ?? null, d ? Buffer.from(d.iv) : null, d ? Buffer.from(d.ciphertext) : null, seq);
  }
  if (change.attributes !== undefined) replaceAttributes(stmts, seq, row.attrs, change.attributes, now);
}

function stateOf(attributes: readonly StoredAttribute[]): number | undefined {
  const v = attributes.find((a) => a.name === 'State')?.value;
  return v?.type === ItemType.Enumeration ? v.value : undefined;
}

/**
 * A deferred write, run last in its transaction: on the object as committed by then, including
 * the transaction's own updates, so one computed from a read before the deferral does not put
 * the old value back (and one computed after it already carries the value). Nothing to do if
 * the object is gone or has the value; otherwise the revision moves on like any update's.
 */
export function applyDeferred(stmts: Statements, uid: string, attribute: DeferredAttribute): void {
  const row = stmts.seqAndAttributes.get(uid) as { seq: number; attrs: Buffer; rev: number } | undefined;
  if (row === undefined) return;
  if (!isIndexed(attribute.name)) {
    const patched = patchBareValue(row.attrs, attribute.value);
    if (patched === 'same') return;
    if (patched !== undefined) {
      stmts.updateAttributesAndRevision.run(patched, Date.now(), row.seq);
      return;
    }
  }
  const attributes = withDeferred(decodeAttributeBlob(row.attrs), [attribute]);
  if (attributes === undefined) return;
  if (isIndexed(attribute.name)) {
    stmts.bumpRevision.run(row.seq);
    replaceAttributes(stmts, row.seq, row.attrs, attributes, Date.now());
  } else {
    // No index entry changes (Fresh has none): one statement, no index comparison.
    stmts.updateAttributesAndRevision.run(encodeAttributeBlob(attributes), Date.now(), row.seq);
  }
}

/**
 * Writes the new attribute blob and changes only the index entries that differ: a state change
 * touches one or two entries of an object's dozen.
 */
function replaceAttributes(stmts: Statements, seq: number, oldBlob: Buffer, attributes: readonly StoredAttribute[], now: number): void {
  const blob = encodeAttributeBlob(attributes);
  if (blob.equals(oldBlob)) return;
  stmts.updateAttributes.run(blob, now, seq);
  const old = new Map<string, IndexEntry>();
  for (const e of indexEntries(decodeAttributeBlob(oldBlob))) old.set(entryKey(e), e);
  for (const e of indexEntries(attributes)) {
    if (!old.delete(entryKey(e))) insertEntry(stmts, seq, e);
  }
  for (const e of old.values()) deleteEntry(stmts, seq, e);
}

function insertEntry(stmts: Statements, seq: number, e: IndexEntry): void {
  if (e.number === null) stmts.insertText.run(e.name, e.text, seq, e.index);
  else stmts.insertNumber.run(e.name, e.number, seq, e.index);
}

export function deleteEntry(stmts: Statements, seq: number, e: IndexEntry): void {
  if (e.number === null) stmts.deleteText.run(e.name, e.text, seq, e.index);
  else stmts.deleteNumber.run(e.name, e.number, seq, e.index);
}

/**
 * `attrs` with each deferred attribute set, where the object has it (one instance, in the place of
 * the first); undefined when that changes nothing.
 */
export function withDeferred(attrs: readonly StoredAttribute[], changes: readonly DeferredAttribute[]): StoredAttribute[] | undefined {
  let out: StoredAttribute[] | undefined;
  for (const c of changes) {
    const current = out ?? attrs;
    const instances = current.filter((a) => a.name === c.name);
    if (instances.length === 0) continue;
    if (instances.length === 1 && sameItem(instances[0]!.value, c.value)) continue;
    let placed = false;
    out = current.flatMap((a) => {
      if (a.name !== c.name) return [a];
      if (placed) return [];
      placed = true;
      return [{ name: c.name, index: 0, value: c.value }];
    });
  }
  return out;
}

function sameItem(a: TtlvItem, b: TtlvItem): boolean {
  if (a.tag !== b.tag || a.type !== b.type) return false;
  if (a.type === ItemType.Structure || a.type === ItemType.ByteString) return Buffer.from(encodeTtlv(a)).equals(Buffer.from(encodeTtlv(b)));
  return a.value === b.value;
}
