/**
 * Numbered schema migrations. The database's `user_version` is the number of the last one applied;
 * a database newer than this code refuses to open (an old binary must not write a newer schema).
 */
export interface Migration {
  readonly version: number;
  readonly sql: string;
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
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
