/**
 * Copies an embedded SQLite store into an empty PostgreSQL store through the store port: every
 * object row as it is (its wrapped material, withheld Digest index and sealed Digest stay encrypted
 * under the same KEK: nothing is unwrapped), in creation order, every grant, and every request
 * held for approval (dual control) with its state, so a pending one is decided, and an approved one
 * run at its requester's Poll, on the PostgreSQL nodes. `kmip-server migrate` (migrate-command.ts) runs it.
 *
 * Online: the server may keep serving on the SQLite store meanwhile. After the first copy, passes
 * read the SQLite store again and copy what changed (a revision moved on, a new object, an object
 * removed) until a pass finds nothing to do (or 3 passes); the counts are then compared. What is written after
 * the last pass is not copied: the operator switches the server over (stops it, changes the
 * configuration) and may run the command again with `catchUp` to copy the difference.
 */
import type { ManagedObjectRecord, NewObject, ObjectStore, ObjectUpdate } from './object-store';
import type { GrantRecord, GrantStore } from './grants';
import type { ApprovalRecord, ApprovalStore } from './approval-store';

/** Approvals copied as they are: from the source's store into one that writes whole records (postgres-approvals.ts put). */
export interface ApprovalCopy {
  readonly from: ApprovalStore;
  readonly to: ApprovalStore & { put(a: ApprovalRecord): Promise<void> };
}

/** What the copy reads: the SQLite store (or any engine) with its creation-order listing. */
export interface CopySource {
  recordsAfter(afterSeq: number, limit: number): Promise<ManagedObjectRecord[]>;
  grants(): GrantStore;
}

export type CopyTarget = ObjectStore & CopySource;

export interface CopyReport {
  readonly objects: number;
  readonly grants: number;
  /** Requests held for approval, in any state (0 without ApprovalCopy). */
  readonly approvals: number;
  /** Passes over the source (1 when nothing changed during the first copy). */
  readonly passes: number;
  /** Objects written again by later passes (changed while the copy ran, or by catchUp). */
  readonly recopied: number;
  /** False when the last pass still found changes (a server writing): a catch-up copies the rest. */
  readonly settled: boolean;
}

export class CopyError extends Error {
  override readonly name = 'CopyError';
}

const PAGE = 500;
const MAX_PASSES = 3;

async function allRecords(store: CopySource): Promise<ManagedObjectRecord[]> {
  const out: ManagedObjectRecord[] = [];
  for (let after = 0; ; ) {
    const page = await store.recordsAfter(after, PAGE);
    out.push(...page);
    if (page.length < PAGE) return out;
    after = page[page.length - 1]!.seq;
  }
}

function asNew(r: ManagedObjectRecord): NewObject {
  return {
    uid: r.uid,
    objectType: r.objectType,
    state: r.state,
    owner: r.owner,
    attributes: r.attributes,
    protectedMaterial: r.protectedMaterial,
    digestMac: r.digestMac,
    sealedDigest: r.sealedDigest,
  };
}

function asUpdate(r: ManagedObjectRecord): ObjectUpdate {
  return { expectedRevision: null, state: r.state, attributes: r.attributes, protectedMaterial: r.protectedMaterial, digestMac: r.digestMac, sealedDigest: r.sealedDigest };
}

/** The whole record as bytes, to tell whether a catch-up has anything to do for it. */
function fingerprint(r: ManagedObjectRecord): string {
  return JSON.stringify(asNew(r), (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('base64') : typeof v === 'bigint' ? v.toString() : v));
}

const grantKey = (g: GrantRecord) => JSON.stringify([g.target, g.to]);

/**
 * Copies `source` into `target`. Without `catchUp` the target must hold no object and no grant
 * (CopyError otherwise: a copy over another store's data would mix two stores). With `catchUp` the
 * target is brought up to the source: objects added, rewritten where they differ, removed where
 * the source has none; grants set to the source's.
 */
export async function copyToPostgres(source: CopySource, target: CopyTarget, opts: { catchUp?: boolean; log?: (line: string) => void; approvals?: ApprovalCopy } = {}): Promise<CopyReport> {
  const log = opts.log ?? (() => undefined);
  const existing = await allRecords(target);
  const targetGrants = await target.grants().list();
  if (!opts.catchUp && (existing.length > 0 || targetGrants.length > 0)) {
    throw new CopyError(`the target store is not empty (${existing.length} objects, ${targetGrants.length} grants): migrate copies into an empty database only`);
  }
  const targetApprovals = (await opts.approvals?.to.list()) ?? [];
  if (!opts.catchUp && targetApprovals.length > 0) {
    throw new CopyError(`the target store is not empty (${targetApprovals.length} requests held for approval): migrate copies into an empty database only`);
  }
  // What the target holds, by uid, as last written: a later pass rewrites only what differs.
  const copied = new Map<string, string>(existing.map((r) => [r.uid, fingerprint(r)]));
  let passes = 0;
  let recopied = 0;
  let settled = false;
  for (;;) {
    passes++;
    const records = await allRecords(source);
    let changes = 0;
    const seen = new Set<string>();
    for (const r of records) {
      seen.add(r.uid);
      const now = fingerprint(r);
      const had = copied.get(r.uid);
      if (had === now) continue;
      if (had === undefined) await target.insert(asNew(r));
      else {
        await target.update(r.uid, asUpdate(r));
        recopied++;
      }
      copied.set(r.uid, now);
      changes++;
    }
    for (const uid of [...copied.keys()]) {
      if (seen.has(uid)) continue;
      await target.remove(uid);
      copied.delete(uid);
      changes++;
    }
    log(`pass ${passes}: ${records.length} objects read, ${changes} written`);
    settled = changes === 0;
    // Under a steady write load a pass never finds nothing to do: the catch-up after the stop copies the rest.
    if (settled || passes >= MAX_PASSES) break;
  }
  const grants = await syncGrants(source.grants(), target.grants());
  // After the objects they name. A request decided on the source after this is taken by the catch-up.
  const approvals = opts.approvals ? await syncApprovals(opts.approvals) : 0;
  // Verification: the target's rows read back are exactly what the last pass read from the source
  // (a server still writing may have added more since: the catch-up copies those).
  const dst = await allRecords(target);
  const inTarget = new Set(dst.map((r) => r.uid));
  if (dst.length !== copied.size) throw new CopyError(`verification failed: ${copied.size} objects copied, ${dst.length} in the target`);
  for (const uid of copied.keys()) if (!inTarget.has(uid)) throw new CopyError(`verification failed: object ${uid} is missing from the target`);
  if (settled) {
    const src = await allRecords(source);
    if (src.length < dst.length) throw new CopyError(`verification failed: ${src.length} objects in the source, ${dst.length} in the target`);
  }
  const dstGrants = await target.grants().list();
  if (dstGrants.length !== grants) throw new CopyError(`verification failed: ${grants} grants in the source, ${dstGrants.length} in the target`);
  return { objects: dst.length, grants, approvals, passes, recopied, settled };
}

const approvalFingerprint = (a: ApprovalRecord) => JSON.stringify({ ...a, request: Buffer.from(a.request).toString('base64') });

/** Writes every source request the target lacks or holds otherwise, then checks each reads back alike; answers how many. */
async function syncApprovals(copy: ApprovalCopy): Promise<number> {
  const want = await copy.from.list();
  const have = new Map((await copy.to.list()).map((a) => [a.id, approvalFingerprint(a)]));
  for (const a of want) if (have.get(a.id) !== approvalFingerprint(a)) await copy.to.put(a);
  for (const a of want) {
    const back = await copy.to.byId(a.id);
    if (back === undefined || approvalFingerprint(back) !== approvalFingerprint(a)) throw new CopyError(`verification failed: request ${a.id} held for approval differs in the target`);
  }
  return want.length;
}

/** Makes the target's grants the source's; answers how many there are. */
async function syncGrants(source: GrantStore, target: GrantStore): Promise<number> {
  const want = await source.list();
  const have = new Map((await target.list()).map((g) => [grantKey(g), g]));
  for (const g of want) {
    const h = have.get(grantKey(g));
    have.delete(grantKey(g));
    if (h !== undefined && [...h.operations].sort().join() === [...g.operations].sort().join()) continue;
    if (h !== undefined) await target.revoke({ target: h.target, to: h.to, operations: [], by: g.changedBy });
    await target.grant({ target: g.target, to: g.to, operations: g.operations, by: g.changedBy });
  }
  for (const h of have.values()) await target.revoke({ target: h.target, to: h.to, operations: [], by: h.changedBy });
  return want.length;
}
