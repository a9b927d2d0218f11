/**
 * The PostgreSQL store's numbered migrations, numbered as SQLite's (migrations.ts) so that one
 * schema version means one set of facts on both engines. A PostgreSQL store never held data in the
 * shapes SQLite outgrew (one row per attribute, schemas 1-2), so its first migrations create schema
 * 3's shape directly and 2 is empty; 4 and 5 add what SQLite's add. `schema_version` holds the
 * number of the last one applied; a database newer than this code refuses to open.
 */

export interface PostgresMigration {
  readonly version: number;
  readonly sql: string;
}

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE objects (
        seq          BIGSERIAL PRIMARY KEY,
        uid          TEXT NOT NULL UNIQUE,
        object_type  INTEGER NOT NULL,
        state        INTEGER NOT NULL,
        owner        TEXT NOT NULL,
        kek_id       TEXT,
        mechanism    TEXT,
        iv           BYTEA,
        ciphertext   BYTEA,
        created_at   BIGINT NOT NULL,
        updated_at   BIGINT NOT NULL
      );
      CREATE INDEX objects_owner ON objects(owner, seq);
      CREATE INDEX objects_type_state ON objects(object_type, state);
    `,
  },
  // SQLite's split of its attribute row indexes: the index tables below are split from the start.
  { version: 2, sql: '' },
  {
    version: 3,
    // Attributes as one blob per object, an index entry per searchable instance (attribute-rows.ts).
    // The entries go with their object (ON DELETE CASCADE) and are found by it for an update's diff.
    sql: `
      ALTER TABLE objects ADD COLUMN attrs BYTEA NOT NULL;
      CREATE TABLE attr_text (
        name        TEXT NOT NULL,
        skey        TEXT NOT NULL,
        object_seq  BIGINT NOT NULL REFERENCES objects(seq) ON DELETE CASCADE,
        idx         INTEGER NOT NULL,
        PRIMARY KEY (name, skey, object_seq, idx)
      );
      CREATE INDEX attr_text_object ON attr_text(object_seq);
      CREATE TABLE attr_num (
        name        TEXT NOT NULL,
        nval        BIGINT NOT NULL,
        object_seq  BIGINT NOT NULL REFERENCES objects(seq) ON DELETE CASCADE,
        idx         INTEGER NOT NULL,
        PRIMARY KEY (name, nval, object_seq, idx)
      );
      CREATE INDEX attr_num_object ON attr_num(object_seq);
    `,
  },
  {
    version: 4,
    // A revision per object, so that an update computed from a stale read is refused.
    sql: `ALTER TABLE objects ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;`,
  },
  {
    version: 5,
    // The Digest of secret material out of the blob (ops/digest-index.ts); the conversion flag as
    // SQLite's, though a PostgreSQL store has no object written before schema 5 to convert.
    sql: `
      ALTER TABLE objects ADD COLUMN digest_mac BYTEA;
      ALTER TABLE objects ADD COLUMN digest_kek_id TEXT;
      ALTER TABLE objects ADD COLUMN digest_mechanism TEXT;
      ALTER TABLE objects ADD COLUMN digest_iv BYTEA;
      ALTER TABLE objects ADD COLUMN digest_ciphertext BYTEA;
      CREATE TABLE store_tasks (name TEXT PRIMARY KEY);
      INSERT INTO store_tasks (name) SELECT 'seal-digests' WHERE EXISTS (SELECT 1 FROM objects);
    `,
  },
  {
    version: 6,
    // Grants (src/access/, store/grants.ts), as SQLite's migration 6.
    sql: `
      CREATE TABLE grants (
        id            BIGSERIAL PRIMARY KEY,
        object_uid    TEXT,
        object_group  TEXT,
        to_identity   TEXT,
        to_group      TEXT,
        operations    TEXT NOT NULL,
        changed_at    BIGINT NOT NULL,
        changed_by    TEXT NOT NULL,
        CHECK ((object_uid IS NULL) <> (object_group IS NULL)),
        CHECK ((to_identity IS NULL) <> (to_group IS NULL))
      );
      CREATE UNIQUE INDEX grants_one ON grants ((coalesce(object_uid, '')), (coalesce(object_group, '')), (coalesce(to_identity, '')), (coalesce(to_group, '')));
      CREATE INDEX grants_to_identity ON grants (to_identity) WHERE to_identity IS NOT NULL;
      CREATE INDEX grants_to_group ON grants (to_group) WHERE to_group IS NOT NULL;
    `,
  },
  {
    version: 7,
    // Requests waiting for a second officer's approval (dual control), as SQLite's migration 7.
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
        request               BYTEA NOT NULL,
        created_at            BIGINT NOT NULL,
        state                 TEXT NOT NULL,
        decided_by            TEXT,
        decided_at            BIGINT,
        result_status         INTEGER,
        result_reason         INTEGER,
        result_message        TEXT
      );
      CREATE INDEX approvals_by_state ON approvals(state, created_at);
    `,
  },
  {
    version: 8,
    // PostgreSQL's alone (SQLite's store has one host, whose primary picks the scheduler's process):
    // leases for work exactly one node of several runs (postgres-lease.ts). Times are the database's
    // clock in milliseconds, so nodes' clocks need not agree.
    sql: `
      CREATE TABLE leases (
        name        TEXT PRIMARY KEY,
        holder      TEXT NOT NULL,
        expires_at  BIGINT NOT NULL
      );
    `,
  },
  {
    version: 9,
    // KEK rotation across nodes (postgres-keks.ts): nodes on several machines have data dirs of
    // their own but one HSM, so which KEK is current, the rotation's progress and which KEK each
    // running process wraps under live here. One row each for the first two (`one` is always true).
    sql: `
      CREATE TABLE kek_current (
        one     BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
        kek_id  TEXT NOT NULL,
        since   BIGINT NOT NULL
      );
      CREATE TABLE kek_rotation (
        one     BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
        state   TEXT NOT NULL
      );
      CREATE TABLE kek_nodes (
        node     TEXT PRIMARY KEY,
        kek_id   TEXT NOT NULL,
        seen_at  BIGINT NOT NULL
      );
    `,
  },
];

export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1]!.version;
