/**
 * Locate over the SQLite store: the query as SQL (conditions on indexed attributes become
 * `o.seq IN (...)` probes of the index tables), the compiled statements by SQL text, and the
 * conditions on attributes without index entries, checked on the candidates' attribute blobs.
 */
import type Database from 'better-sqlite3';
import { attributeNumber, attributeSearchKey, attributesMatch, decodeAttributeBlob, isIndexed } from './attribute-rows';
import type { LocateCondition, LocateQuery, LocateReach } from './object-store';

/** A Locate query as SQL, and the conditions left to check on each candidate's blob. */
export interface LocateSql {
  readonly sql: string;
  readonly params: unknown[];
  /** Conditions on attributes without index entries (and Digests): checked on the candidates' blobs. */
  readonly onBlob: LocateCondition[];
}

/**
 * The query as SQL with `?` placeholders (PostgreSQL numbers them: postgres-store.ts). `noLimit` is
 * what LIMIT takes for "no limit": -1 in SQLite, NULL in PostgreSQL.
 */
export function locateSql(query: LocateQuery, noLimit: -1 | null = -1): LocateSql {
  const where: string[] = [];
  const params: unknown[] = [];
  if (query.owner !== undefined) {
    where.push('o.owner = ?');
    params.push(query.owner);
  }
  if (query.reach !== undefined) {
    const [sql, p] = reachSql(query.reach);
    where.push(sql);
    params.push(...p);
  }
  if (query.objectType !== undefined) where.push(`o.object_type = ${integerLiteral(query.objectType, params)}`);
  if (query.states && query.states.length > 0) where.push(`o.state IN (${query.states.map((s) => integerLiteral(s, params)).join(',')})`);
  // Conditions on attributes without index entries are checked on the candidates' blobs.
  const onBlob: LocateCondition[] = [];
  for (const c of query.conditions) {
    if (c.kind === 'digest' || !isIndexed(c.name)) {
      onBlob.push(c);
      continue;
    }
    const [sql, p] = conditionSql(c);
    where.push(sql);
    params.push(...p);
  }
  const order = query.order === 'oldest' ? 'ASC' : 'DESC';
  const columns = onBlob.length > 0 ? 'o.uid, o.attrs, o.digest_mac' : 'o.uid';
  let sql = `SELECT ${columns} FROM objects o${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY o.seq ${order}`;
  const paged = onBlob.length === 0 && (query.limit !== undefined || query.offset !== undefined);
  if (paged) {
    sql += ' LIMIT ? OFFSET ?';
    params.push(query.limit ?? noLimit, query.offset ?? 0);
  }
  return { sql, params, onBlob };
}

/** Runs Locate queries on one database, keeping their compiled statements. */
export class LocateStatements {
  /** Compiled Locate queries by SQL text (the shapes clients use repeat). */
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  /** The uids `query` selects, in its order, offset and limit applied. */
  run(query: LocateQuery): string[] {
    const { sql, params, onBlob } = locateSql(query);
    const stmt = this.statement(sql, onBlob.length === 0);
    if (onBlob.length === 0) return stmt.all(...params) as string[];
    // Offset and limit count matches, so they apply after the blob conditions.
    const out: string[] = [];
    let skip = query.offset ?? 0;
    const limit = query.limit ?? Infinity;
    if (limit <= 0) return out;
    for (const row of stmt.iterate(...params) as IterableIterator<BlobCandidate>) {
      if (!candidateMatches(row, onBlob)) continue;
      if (skip > 0) {
        skip--;
        continue;
      }
      out.push(row.uid);
      if (out.length >= limit) break;
    }
    return out;
  }

  private statement(sql: string, pluck: boolean): Database.Statement {
    let stmt = this.statements.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql);
      if (pluck) stmt.pluck();
      // Bounded: conditions vary, but a client's query shapes are few.
      if (this.statements.size >= 256) this.statements.clear();
      this.statements.set(sql, stmt);
    }
    return stmt;
  }
}

/** A candidate row of a Locate with conditions left for the blob. */
export interface BlobCandidate {
  readonly uid: string;
  readonly attrs: Buffer;
  readonly digest_mac: Buffer | null;
}

/** Whether a candidate satisfies the conditions its SQL left (a withheld Digest by its index MAC). */
export function candidateMatches(row: BlobCandidate, onBlob: readonly LocateCondition[]): boolean {
  const attributes = decodeAttributeBlob(row.attrs);
  const withheld = (c: LocateCondition) => c.kind === 'digest' && row.digest_mac !== null && row.digest_mac.equals(c.mac);
  return onBlob.every((c) => attributesMatch(attributes, c) || withheld(c));
}

/**
 * Attribute names, states and object types go into the SQL as literals where they safely can (the
 * spec's names, integers): a planner that sees `name = 'Name'` knows how few rows an index probe
 * returns, so PostgreSQL can keep one generic plan for a prepared Locate (with the name as a
 * parameter its generic plan scanned a table: 165 ms over 1,000,000 objects, against 0.13 ms) and
 * stop planning every request. Other names (a client's custom attributes) stay parameters.
 */
const SAFE_NAME = /^[A-Za-z0-9 _.-]{1,64}$/;

function nameLiteral(name: string, params: unknown[]): string {
  if (SAFE_NAME.test(name)) return `'${name}'`;
  params.push(name);
  return '?';
}

function integerLiteral(n: number, params: unknown[]): string {
  if (Number.isSafeInteger(n)) return String(n);
  params.push(n);
  return '?';
}

function conditionSql(c: Exclude<LocateCondition, { kind: 'digest' }>): [string, unknown[]] {
  if (c.kind === 'absent') {
    // The objects that have it are few for the attributes this is asked of (Archive Date): one
    // pass over them, not a probe per candidate.
    const p: unknown[] = [];
    return [`o.seq NOT IN (SELECT object_seq FROM attr_text WHERE name = ${nameLiteral(c.name, p)} UNION ALL SELECT object_seq FROM attr_num WHERE name = ${nameLiteral(c.name, p)})`, p];
  }
  // The name's parameter, if it has one, comes first: it precedes the tests in the SQL.
  const p: unknown[] = [];
  const name = nameLiteral(c.name, p);
  // `o.seq IN (...)` lets SQLite drive the query from an index table (name, value, object_seq)
  // and fetch objects by rowid, instead of visiting every object of the owner.
  const text = (test: string) => `o.seq IN (SELECT a.object_seq FROM attr_text a WHERE a.name = ${name} AND ${test})`;
  const number = (test: string) => `o.seq IN (SELECT a.object_seq FROM attr_num a WHERE a.name = ${name} AND ${test})`;
  switch (c.kind) {
    case 'equals': {
      const n = attributeNumber(c.value);
      if (n === null) return [text('a.skey = ?'), [...p, attributeSearchKey(c.value)]];
      return [number('a.nval = ?'), [...p, n]];
    }
    case 'equalsAny': {
      const numbers = c.values.map(attributeNumber);
      const marks = c.values.map(() => '?').join(',');
      if (numbers.every((n) => n !== null)) return [number(`a.nval IN (${marks})`), [...p, ...numbers]];
      return [text(`a.skey IN (${marks})`), [...p, ...c.values.map(attributeSearchKey)]];
    }
    case 'range': {
      const tests: string[] = [];
      if (c.min !== undefined) {
        tests.push('a.nval >= ?');
        p.push(c.min);
      }
      if (c.max !== undefined) {
        tests.push('a.nval <= ?');
        p.push(c.max);
      }
      return [number(tests.length ? tests.join(' AND ') : 'TRUE'), p];
    }
    case 'maskContains':
      return [number('(a.nval & ?) = ?'), [...p, c.bits, c.bits]];
  }
}

/** One caller's reach as one OR: its own objects, granted identifiers, granted Object Groups, Operation Policy Names. */
function reachSql(r: LocateReach): [string, unknown[]] {
  const parts = ['o.owner = ?'];
  const params: unknown[] = [r.owner];
  const marks = (n: number) => Array.from({ length: n }, () => '?').join(',');
  if (r.uids.length > 0) {
    parts.push(`o.uid IN (${marks(r.uids.length)})`);
    params.push(...r.uids);
  }
  for (const [name, values] of [['Object Group', r.objectGroups], ['Operation Policy Name', r.policyNames]] as const) {
    if (values.length === 0) continue;
    parts.push(`o.seq IN (SELECT a.object_seq FROM attr_text a WHERE a.name = '${name}' AND a.skey IN (${marks(values.length)}))`);
    params.push(...values);
  }
  return [`(${parts.join(' OR ')})`, params];
}
