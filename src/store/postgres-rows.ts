/**
 * The PostgreSQL store's tables as rows (postgres-migrations.ts): an object's row as read, and what
 * one insert, update or deferred write does to the object's row and its index entries. Transactions,
 * the pool and the deferred-write queue are the store's (postgres-store.ts).
 */
import type { PoolClient } from 'pg';
import { ItemType } from '../../ttlv/types';
import { decodeAttributeBlob, encodeAttributeBlob, entryKey, indexEntries, type IndexEntry } from './attribute-rows';
import { withDeferred } from './sqlite-tables';
import { StoreError, type DeferredAttribute, type ManagedObjectRecord, type NewObject, type ObjectUpdate, type StoredAttribute } from './object-store';

export const ROW_COLUMNS =
  'seq, uid, object_type, state, owner, kek_id, mechanism, iv, ciphertext, attrs, rev, digest_mac, digest_kek_id, digest_mechanism, digest_iv, digest_ciphertext';

export interface PgRow {
  seq: string;
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

export function recordOf(row: PgRow): ManagedObjectRecord {
  return {
    uid: row.uid,
    objectType: row.object_type,
    state: row.state,
    owner: row.owner,
    seq: Number(row.seq),
    revision: row.rev,
    digestMac: row.digest_mac,
    sealedDigest:
      row.digest_ciphertext && row.digest_iv && row.digest_kek_id && row.digest_mechanism
        ? { kekId: row.digest_kek_id, mechanism: row.digest_mechanism, iv: row.digest_iv, ciphertext: row.digest_ciphertext }
        : null,
    attributes: decodeAttributeBlob(row.attrs),
    protectedMaterial:
      row.ciphertext && row.iv && row.kek_id && row.mechanism
        ? { kekId: row.kek_id, mechanism: row.mechanism, iv: row.iv, ciphertext: row.ciphertext }
        : null,
  };
}

function bytes(b: Uint8Array | null | undefined): Buffer | null {
  return b ? Buffer.from(b) : null;
}

/** What runs a statement: a pooled connection in a transaction, or the pool itself (one statement, its own transaction). */
export type Queryable = Pick<PoolClient, 'query'>;

/**
 * The object's row and its index entries in one statement, one round trip: a Create alone needs no
 * BEGIN and COMMIT around it (a statement is its own transaction). A duplicate uid inserts nothing
 * (ON CONFLICT DO NOTHING, so the row's entries neither) and is answered as EXISTS.
 */
export async function insertRow(c: Queryable, obj: NewObject): Promise<void> {
  const m = obj.protectedMaterial;
  const d = obj.sealedDigest ?? null;
  const entries = indexEntries(obj.attributes);
  const text = entries.filter((e) => e.number === null);
  const num = entries.filter((e) => e.number !== null);
  const r = await c.query<{ seq: string }>(
    `WITH o AS (
       INSERT INTO objects (uid, object_type, state, owner, kek_id, mechanism, iv, ciphertext, attrs, digest_mac,
                            digest_kek_id, digest_mechanism, digest_iv, digest_ciphertext, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)
       ON CONFLICT (uid) DO NOTHING RETURNING seq),
     t AS (INSERT INTO attr_text (name, skey, object_seq, idx) SELECT x.n, x.s, o.seq, x.i FROM o, unnest($16::text[], $17::text[], $18::int[]) AS x(n, s, i)),
     n AS (INSERT INTO attr_num (name, nval, object_seq, idx) SELECT y.n, y.v, o.seq, y.i FROM o, unnest($19::text[], $20::bigint[], $21::int[]) AS y(n, v, i))
     SELECT seq FROM o`,
    [obj.uid, obj.objectType, obj.state, obj.owner, m?.kekId ?? null, m?.mechanism ?? null, bytes(m?.iv), bytes(m?.ciphertext),
      encodeAttributeBlob(obj.attributes), bytes(obj.digestMac), d?.kekId ?? null, d?.mechanism ?? null, bytes(d?.iv), bytes(d?.ciphertext), Date.now(),
      text.map((e) => e.name), text.map((e) => e.text), text.map((e) => e.index),
      num.map((e) => e.name), num.map((e) => e.number!.toString()), num.map((e) => e.index)],
  );
  if (r.rows.length === 0) throw new StoreError('EXISTS', `object ${obj.uid} already exists`);
}

export async function lockRow(c: PoolClient, uid: string): Promise<{ seq: string; attrs: Buffer; rev: number } | undefined> {
  const r = await c.query<{ seq: string; attrs: Buffer; rev: number }>('SELECT seq, attrs, rev FROM objects WHERE uid = $1 FOR UPDATE', [uid]);
  return r.rows[0];
}

export async function updateRow(c: PoolClient, uid: string, change: ObjectUpdate): Promise<void> {
  const row = await lockRow(c, uid);
  if (row === undefined) throw new StoreError('NOT_FOUND', `object ${uid} not found`);
  if (change.expectedRevision !== null && change.expectedRevision !== row.rev) {
    throw new StoreError('CONFLICT', `object ${uid} changed since it was read`, uid);
  }
  const sets = ['rev = rev + 1', 'updated_at = $2'];
  const params: unknown[] = [row.seq, Date.now()];
  const set = (column: string, value: unknown) => {
    params.push(value);
    sets.push(`${column} = $${params.length}`);
  };
  // The State column follows the State attribute a change carries (as sqlite-tables.ts updateObject).
  const state = change.state ?? (change.attributes && stateOf(change.attributes));
  if (state !== undefined) set('state', state);
  if (change.protectedMaterial !== undefined) {
    const m = change.protectedMaterial;
    set('kek_id', m?.kekId ?? null);
    set('mechanism', m?.mechanism ?? null);
    set('iv', bytes(m?.iv));
    set('ciphertext', bytes(m?.ciphertext));
  }
  if (change.digestMac !== undefined) set('digest_mac', bytes(change.digestMac));
  if (change.sealedDigest !== undefined) {
    const d = change.sealedDigest;
    set('digest_kek_id', d?.kekId ?? null);
    set('digest_mechanism', d?.mechanism ?? null);
    set('digest_iv', bytes(d?.iv));
    set('digest_ciphertext', bytes(d?.ciphertext));
  }
  let newBlob: Buffer | undefined;
  if (change.attributes !== undefined) {
    newBlob = encodeAttributeBlob(change.attributes);
    if (!newBlob.equals(row.attrs)) set('attrs', newBlob);
    else newBlob = undefined;
  }
  await c.query(`UPDATE objects SET ${sets.join(', ')} WHERE seq = $1`, params);
  if (newBlob !== undefined) await replaceEntries(c, row.seq, row.attrs, change.attributes!);
}

function stateOf(attributes: readonly StoredAttribute[]): number | undefined {
  const v = attributes.find((a) => a.name === 'State')?.value;
  return v?.type === ItemType.Enumeration ? v.value : undefined;
}

/** A deferred write on the object as committed by then (sqlite-tables.ts applyDeferred says why). */
export async function applyDeferredRow(c: PoolClient, uid: string, attribute: DeferredAttribute): Promise<void> {
  const row = await lockRow(c, uid);
  if (row === undefined) return;
  const attributes = withDeferred(decodeAttributeBlob(row.attrs), [attribute]);
  if (attributes === undefined) return;
  await c.query('UPDATE objects SET attrs = $2, updated_at = $3, rev = rev + 1 WHERE seq = $1', [row.seq, encodeAttributeBlob(attributes), Date.now()]);
  await replaceEntries(c, row.seq, row.attrs, attributes);
}

/** Changes only the index entries that differ between the old blob and the new attributes. */
export async function replaceEntries(c: PoolClient, seq: string, oldBlob: Buffer, attributes: readonly StoredAttribute[]): Promise<void> {
  const old = new Map<string, IndexEntry>();
  for (const e of indexEntries(decodeAttributeBlob(oldBlob))) old.set(entryKey(e), e);
  const added: IndexEntry[] = [];
  for (const e of indexEntries(attributes)) if (!old.delete(entryKey(e))) added.push(e);
  for (const e of old.values()) {
    if (e.number === null) await c.query('DELETE FROM attr_text WHERE name = $1 AND skey = $2 AND object_seq = $3 AND idx = $4', [e.name, e.text, seq, e.index]);
    else await c.query('DELETE FROM attr_num WHERE name = $1 AND nval = $2 AND object_seq = $3 AND idx = $4', [e.name, e.number.toString(), seq, e.index]);
  }
  await insertEntries(c, seq, added);
}

/** All of an object's new entries in at most two statements (one per table): one round trip each, not one per entry. */
export async function insertEntries(c: PoolClient, seq: string, entries: readonly IndexEntry[]): Promise<void> {
  const text = entries.filter((e) => e.number === null);
  const num = entries.filter((e) => e.number !== null);
  if (text.length > 0) {
    await c.query(
      'INSERT INTO attr_text (name, skey, object_seq, idx) SELECT n, s, $1, i FROM unnest($2::text[], $3::text[], $4::int[]) AS t(n, s, i)',
      [seq, text.map((e) => e.name), text.map((e) => e.text), text.map((e) => e.index)],
    );
  }
  if (num.length > 0) {
    await c.query(
      'INSERT INTO attr_num (name, nval, object_seq, idx) SELECT n, v, $1, i FROM unnest($2::text[], $3::bigint[], $4::int[]) AS t(n, v, i)',
      [seq, num.map((e) => e.name), num.map((e) => e.number!.toString()), num.map((e) => e.index)],
    );
  }
}
