/**
 * Numbered schema migrations. The database's `user_version` is the number of the last one applied;
 * a database newer than this code refuses to open (an old binary must not write a newer schema).
 */
import type Database from 'better-sqlite3';
import { decodeTtlv } from '../../ttlv/decode';
import { encodeAttributeBlob, indexEntries } from './attribute-rows';
import type { StoredAttribute } from './object-store';

export interface Migration {
  readonly version: number;
  readonly sql: string;
  /** Data conversion SQL cannot express, run after `sql` in the same transaction. */
  readonly convert?: (db: Database.Database) => void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE objects (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        uid          TEXT NOT NULL UNIQUE,
        object_type  INTEGER NOT NULL,
        state        INTEGER NOT NULL,
        owner        TEXT NOT NULL,
        kek_id       TEXT,
        mechanism    TEXT,
        iv           BLOB,
        ciphertext   BLOB,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL
      );
      CREATE INDEX objects_owner ON objects(owner, seq);
      CREATE INDEX objects_type_state ON objects(object_type, state);

      -- One row per attribute instance, so Locate is an indexed query, never a scan.
      -- skey: canonical text of the value (equality); nval: numeric value (ranges, masks).
      CREATE TABLE attributes (
        object_seq  INTEGER NOT NULL REFERENCES objects(seq) ON DELETE CASCADE,
        name        TEXT NOT NULL,
        idx         INTEGER NOT NULL,
        ttlv        BLOB NOT NULL,
        skey        TEXT NOT NULL,
        nval        INTEGER,
        PRIMARY KEY (object_seq, name, idx)
      ) WITHOUT ROWID;
      CREATE INDEX attributes_by_value ON attributes(name, skey, object_seq);
      CREATE INDEX attributes_by_number ON attributes(name, nval, object_seq);
    `,
  },
  {
    version: 2,
    // Each row in one value index, not both: numbers (enumerations, integers, dates, masks) by
    // nval, text, bytes, booleans and structures by skey. One B-tree less per attribute row
    // written; Locate's conditions say which index they use (store/sqlite.ts conditionSql).
    sql: `
      DROP INDEX attributes_by_value;
      DROP INDEX attributes_by_number;
      UPDATE attributes SET skey = '' WHERE nval IS NOT NULL;
      CREATE INDEX attributes_by_value ON attributes(name, skey, object_seq) WHERE nval IS NULL;
      CREATE INDEX attributes_by_number ON attributes(name, nval, object_seq) WHERE nval IS NOT NULL;
    `,
  },
  {
    version: 3,
    // Attributes as one blob per object, and one B-tree insert per searchable instance instead of
    // three per instance (row, primary key, value index): Create writes a third of the pages.
    sql: `
      ALTER TABLE objects ADD COLUMN attrs BLOB;
      CREATE TABLE attr_text (
        name        TEXT NOT NULL,
        skey        TEXT NOT NULL,
        object_seq  INTEGER NOT NULL,
        idx         INTEGER NOT NULL,
        PRIMARY KEY (name, skey, object_seq, idx)
      ) WITHOUT ROWID;
      CREATE TABLE attr_num (
        name        TEXT NOT NULL,
        nval        INTEGER NOT NULL,
        object_seq  INTEGER NOT NULL,
        idx         INTEGER NOT NULL,
        PRIMARY KEY (name, nval, object_seq, idx)
      ) WITHOUT ROWID;
    `,
    convert: (db) => {
      attributesToBlobs(db);
      db.exec('DROP TABLE attributes');
    },
  },
  {
    version: 4,
    // A revision per object, so that an update computed from a stale read is refused.
    sql: `ALTER TABLE objects ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;`,
  },
  {
    version: 5,
    // The Digest of secret material leaves the attribute blob: its HMAC under the HSM's index key
    // takes its place for Locate, and once the material is destroyed the Digest is kept encrypted
    // under the KEK like the material was (ops/digest-index.ts). Moving the Digests of existing
    // objects needs the HSM, which migrations do not have: a flag asks the server to do it at
    // start (SqliteObjectStore.needsDigestSealing). Not indexed: Locate by Digest checks the
    // candidates the other conditions leave, as it did the blob's Digest.
    sql: `
      ALTER TABLE objects ADD COLUMN digest_mac BLOB;
      ALTER TABLE objects ADD COLUMN digest_kek_id TEXT;
      ALTER TABLE objects ADD COLUMN digest_mechanism TEXT;
      ALTER TABLE objects ADD COLUMN digest_iv BLOB;
      ALTER TABLE objects ADD COLUMN digest_ciphertext BLOB;
      CREATE TABLE store_tasks (name TEXT PRIMARY KEY) WITHOUT ROWID;
      INSERT INTO store_tasks (name) SELECT 'seal-digests' WHERE EXISTS (SELECT 1 FROM objects);
    `,
  },
  {
    version: 6,
    // Grants (src/access/, store/grants.ts): operations on an object or an Object Group, to an
    // identity or a group. One row per target and grantee; found by grantee on every request.
    sql: `
      CREATE TABLE grants (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        object_uid    TEXT,
        object_group  TEXT,
        to_identity   TEXT,
        to_group      TEXT,
        operations    TEXT NOT NULL,
        changed_at    INTEGER NOT NULL,
        changed_by    TEXT NOT NULL,
        CHECK ((object_uid IS NULL) <> (object_group IS NULL)),
        CHECK ((to_identity IS NULL) <> (to_group IS NULL))
      );
      CREATE UNIQUE INDEX grants_one ON grants(ifnull(object_uid, ''), ifnull(object_group, ''), ifnull(to_identity, ''), ifnull(to_group, ''));
      CREATE INDEX grants_to_identity ON grants(to_identity) WHERE to_identity IS NOT NULL;
      CREATE INDEX grants_to_group ON grants(to_group) WHERE to_group IS NOT NULL;
    `,
  },
  {
    version: 7,
    // Requests waiting for a second officer's approval (dual control, store/approval-store.ts): a
    // restart keeps them, and `kmip-server approve` decides them from another process. The request
    // is kept as sent: dual control refuses rules for operations whose requests carry key material.
    sql: `
      CREATE TABLE approvals (
        id                    TEXT PRIMARY KEY,
        correlation           TEXT NOT NULL UNIQUE,
        requester             TEXT NOT NULL,
        requester_fingerprint TEXT,
        operation             TEXT NOT NULL,
        uid                   TEXT,
        rule                  TEXT NOT NULL,
        protocol_version      TEXT NOT NULL,
        request               BLOB NOT NULL,
        created_at            INTEGER NOT NULL,
        state                 TEXT NOT NULL,
        decided_by            TEXT,
        decided_at            INTEGER,
        result_status         INTEGER,
        result_reason         INTEGER,
        result_message        TEXT
      );
      CREATE INDEX approvals_by_state ON approvals(state, created_at);
    `,
  },
];

/**
 * Migration 3's conversion: each object's attribute rows become its attribute blob, and the
 * searchable ones index entries (store/attribute-rows.ts).
 */
function attributesToBlobs(db: Database.Database): void {
  const objects = db.prepare('SELECT seq FROM objects ORDER BY seq').pluck().all() as number[];
  const rowsOf = db.prepare('SELECT name, idx, ttlv FROM attributes WHERE object_seq = ? ORDER BY name, idx');
  const setBlob = db.prepare('UPDATE objects SET attrs = ? WHERE seq = ?');
  const insertText = db.prepare('INSERT INTO attr_text (name, skey, object_seq, idx) VALUES (?, ?, ?, ?)');
  const insertNumber = db.prepare('INSERT INTO attr_num (name, nval, object_seq, idx) VALUES (?, ?, ?, ?)');
  for (const seq of objects) {
    const rows = rowsOf.all(seq) as { name: string; idx: number; ttlv: Buffer }[];
    const attributes: StoredAttribute[] = rows.map((r) => ({ name: r.name, index: r.idx, value: decodeTtlv(r.ttlv) }));
    setBlob.run(encodeAttributeBlob(attributes), seq);
    for (const e of indexEntries(attributes)) {
      if (e.number === null) insertText.run(e.name, e.text, seq, e.index);
      else insertNumber.run(e.name, e.number, seq, e.index);
    }
  }
}

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
