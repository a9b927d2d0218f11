/**
 * Automatic key rotation, run by the lifecycle scheduler at each sweep. An object rotates when it
 * is the latest of its chain (Rotate Latest not false), Pre-Active or Active, and either has KMIP
 * 2.1's Rotate Automatic true with a Rotate Interval, or matches a server policy (for 1.x clients,
 * which have no Rotate attributes: rotation-policy.ts). It is due at (Rotate Date, else Initial
 * Date) + interval. Rotating is the Re-key operation itself (Re-key Key Pair for a private key,
 * which replaces its public key with it), run as the object's owner (so Links, Names, Rotate Name,
 * dates and attributes follow the Re-key rules exactly), with the Rotate Offset (or the policy's
 * offset) as the Offset; in the same store write the replacement (the new private key of a pair)
 * gets Rotate Generation + 1, Rotate Latest true and Rotate Date now, and the old key Rotate
 * Latest false and Rotate Automatic false (it rotates no more), plus, if the policy says so, a
 * Deactivation Date (on both old halves of a pair) that the scheduler then applies at its time.
 * Notified as a replacement and audited.
 *
 * Candidates come from indexes (Rotate Automatic = true; a policy's Object Group or Object Type),
 * read at most every RESCAN_MS of the clock or when the earliest known due time comes.
 */
import { randomUUID } from 'node:crypto';
import { ItemType, ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { ObjectType, State } from '../spec/generated/enums';
import type { AuditSink } from '../audit/audit-log';
import type { DueCursor, DueDateSource } from '../store/due-dates';
import type { ManagedObjectRecord, ObjectStore, StoredAttribute } from '../store/object-store';
import { BorrowedStore, type StoreWrite } from '../store/borrowed-store';
import type { KeyProtector } from '../keys/key-protector';
import type { CryptoPolicy } from '../crypto/policy';
import type { CompatProfile } from '../compat/profiles';
import { dateAttribute } from '../kmip/attributes';
import type { Clock, OpContext, ServerInfo } from '../objects/context';
import { getAttribute, setAttribute } from '../objects/managed-object';
import { reKeyHandler } from '../ops/rekey';
import { reKeyKeyPairHandler } from '../ops/rekey-key-pair';
import type { ScheduledTask } from './lifecycle-scheduler';
import { policyFor, type RotationPolicy } from './rotation-policy';

/** How often (clock time) the keys with Rotate Automatic true are read again, at the latest. */
const RESCAN_MS = 60_000;
/**
 * How often every key a policy names is read (and once at start). In between, a policy reads only
 * the keys whose due time (Initial Date + interval) passed since its last run, a range of the
 * Initial Date index: so a key that came under a policy late (an Object Group added after its due
 * time) waits for the next full pass.
 */
const FULL_SCAN_MS = 3_600_000;
/** Seconds each run reaches back before the previous one (a key committed just after it ran). */
const OVERLAP_SECONDS = 5n;
const PAGE = 500;
/** A rotation that failed is tried again after this (clock time), not at every sweep. */
const RETRY_MS = 3_600_000;
const ROTATABLE_STATES: ReadonlySet<number> = new Set([State.PreActive, State.Active]);
/** What replaces each type that rotates: Re-key, or Re-key Key Pair named by its private key. */
const REPLACING: ReadonlyMap<number, { readonly handler: typeof reKeyHandler; readonly idTag: number; readonly operation: string }> = new Map([
  [ObjectType.SymmetricKey, { handler: reKeyHandler, idTag: Tag.UniqueIdentifier, operation: 'Re-key' }],
  [ObjectType.PrivateKey, { handler: reKeyKeyPairHandler, idTag: Tag.PrivateKeyUniqueIdentifier, operation: 'Re-key Key Pair' }],
]);

export interface RotationDeps {
  readonly dueDates: DueDateSource;
  readonly store: ObjectStore;
  /** Wraps the store for one run (notifications); `done` publishes. */
  readonly storeForRun?: () => { readonly store: ObjectStore; done(): void };
  readonly keys: KeyProtector;
  readonly audit: AuditSink;
  readonly clock: Clock;
  readonly server: ServerInfo;
  readonly crypto: CryptoPolicy;
  readonly compat: CompatProfile;
  readonly policies: readonly RotationPolicy[];
  readonly onError?: (uid: string, e: unknown) => void;
}

/** What one rotation is to do: when it is due and how. */
export interface RotationPlan {
  readonly dueAt: bigint;
  readonly offset: number | undefined;
  readonly policy: RotationPolicy | undefined;
  /** The key's own Rotate attributes set its time (not a policy's interval). */
  readonly fromObject: boolean;
}

/** When and how `rec` rotates, or undefined if it does not. */
export function rotationPlan(rec: ManagedObjectRecord, policies: readonly RotationPolicy[]): RotationPlan | undefined {
  // Re-key replaces symmetric keys, Re-key Key Pair private keys (a public key goes with its private key).
  if (!REPLACING.has(rec.objectType) || !ROTATABLE_STATES.has(rec.state)) return undefined;
  if (boolOf(rec.attributes, 'Rotate Latest') === false) return undefined;
  const since = dateAttribute(rec.attributes, 'Rotate Date') ?? dateAttribute(rec.attributes, 'Initial Date');
  if (since === undefined) return undefined;
  const interval = intervalOf(rec.attributes, 'Rotate Interval');
  if (boolOf(rec.attributes, 'Rotate Automatic') === true && interval !== undefined && interval > 0) {
    return { dueAt: since + BigInt(interval), offset: intervalOf(rec.attributes, 'Rotate Offset'), policy: policyFor(policies, rec), fromObject: true };
  }
  // An object whose own attributes say no (Rotate Automatic false) is not rotated by a policy.
  if (boolOf(rec.attributes, 'Rotate Automatic') === false) return undefined;
  const policy = policyFor(policies, rec);
  if (policy === undefined) return undefined;
  return { dueAt: since + BigInt(policy.intervalSeconds), offset: policy.offsetSeconds, policy, fromObject: false };
}

/** Every object a rotation may concern, each once. */
export async function* rotationCandidates(dueDates: DueDateSource, policies: readonly RotationPolicy[]): AsyncGenerator<string> {
  const seen = new Set<string>();
  const pages: ((after: bigint) => Promise<{ uid: string; seq: bigint }[]>)[] = [
    (after) => dueDates.withAttributeText('Rotate Automatic', '1', after, PAGE),
    ...policies.map((p) =>
      p.objectGroup !== undefined
        ? (after: bigint) => dueDates.withAttributeText('Object Group', p.objectGroup!, after, PAGE)
        : (after: bigint) => dueDates.ofType(p.objectType ?? ObjectType.SymmetricKey, [...ROTATABLE_STATES], after, PAGE),
    ),
  ];
  for (const page of pages) {
    let after = 0n;
    for (;;) {
      const rows = await page(after);
      for (const r of rows) {
        if (seen.has(r.uid)) continue;
        seen.add(r.uid);
        yield r.uid;
      }
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1]!.seq;
    }
  }
}

export class AutomaticRotation implements ScheduledTask {
  private nextRunMs = Number.NEGATIVE_INFINITY;
  private nextAutoScanMs = Number.NEGATIVE_INFINITY;
  private nextFullScanMs = Number.NEGATIVE_INFINITY;
  /** `now` (seconds) of the last run: the policies' ranges start there. */
  private lastRun: bigint | undefined;
  /** Objects whose rotation failed, and when to try again. */
  private readonly failed = new Map<string, number>();
  /** Rotations done since start (for tests and the log). */
  rotated = 0;

  constructor(private readonly deps: RotationDeps) {}

  async run(nowMs: number): Promise<number | undefined> {
    if (nowMs < this.nextRunMs) return this.nextRunMs;
    const now = BigInt(Math.floor(nowMs / 1000));
    let earliest: bigint | undefined;
    const full = nowMs >= this.nextFullScanMs;
    const auto = full || nowMs >= this.nextAutoScanMs;
    const uids = full ? rotationCandidates(this.deps.dueDates, this.deps.policies) : this.recentCandidates(now, auto);
    const wrapped = this.deps.storeForRun?.();
    const store = wrapped?.store ?? this.deps.store;
    try {
      for await (const uid of uids) {
        const rec = await store.get(uid);
        if (rec === undefined) continue;
        const plan = rotationPlan(rec, this.deps.policies);
        if (plan === undefined) continue;
        if (plan.dueAt > now) {
          // Keys a policy names come back by their range; the others by the next look at Rotate Automatic.
          if (plan.policy === undefined || plan.fromObject) {
            if (earliest === undefined || plan.dueAt < earliest) earliest = plan.dueAt;
          }
          continue;
        }
        const retryAt = this.failed.get(uid);
        if (retryAt !== undefined && nowMs < retryAt) continue;
        try {
          await this.rotate(store, rec, plan, now);
          this.failed.delete(uid);
        } catch (e) {
          this.failed.set(uid, nowMs + RETRY_MS);
          // One object that cannot rotate (its HSM key gone, a policy that no longer fits) stops no other.
          this.deps.onError?.(uid, e);
          this.recordFailure(rec, e);
        }
      }
    } finally {
      wrapped?.done();
    }
    this.lastRun = now;
    if (full) this.nextFullScanMs = nowMs + FULL_SCAN_MS;
    if (auto) this.nextAutoScanMs = Math.min(nowMs + RESCAN_MS, earliest === undefined ? Infinity : Number(earliest) * 1000);
    this.nextRunMs = Math.min(this.nextAutoScanMs, this.nextFullScanMs, await this.nextPolicyDueMs(now), ...[...this.failed.values()]);
    return this.nextRunMs;
  }

  /** When the next key a policy names falls due, by the Initial Date index (it may prove not to match). */
  private async nextPolicyDueMs(now: bigint): Promise<number> {
    let next = Infinity;
    for (const p of this.deps.policies) {
      const interval = BigInt(p.intervalSeconds);
      const initial = await this.deps.dueDates.nextAfter(['Initial Date'], now - interval);
      if (initial !== undefined) next = Math.min(next, Number(initial + interval) * 1000);
    }
    return next;
  }

  /**
   * Between full passes: the keys with Rotate Automatic true (when `auto`), those whose policy due
   * time passed since the last run, and those whose failed rotation is to be tried again.
   */
  private async *recentCandidates(now: bigint, auto: boolean): AsyncGenerator<string> {
    const seen = new Set<string>();
    const once = async function* (uids: Iterable<string> | AsyncIterable<string>) {
      for await (const u of uids) {
        if (seen.has(u)) continue;
        seen.add(u);
        yield u;
      }
    };
    if (auto) yield* once(this.pagesBySeq((after) => this.deps.dueDates.withAttributeText('Rotate Automatic', '1', after, PAGE)));
    const since = (this.lastRun ?? now) - OVERLAP_SECONDS;
    for (const p of this.deps.policies) {
      const interval = BigInt(p.intervalSeconds);
      for (let after: DueCursor | undefined; ; ) {
        const rows = await this.deps.dueDates.dueIn('Initial Date', since - interval, now - interval, PAGE, after, [...ROTATABLE_STATES]);
        yield* once(rows.map((r) => r.uid));
        if (rows.length < PAGE) break;
        after = rows[rows.length - 1];
      }
    }
    yield* once([...this.failed.keys()]);
  }

  private async *pagesBySeq(page: (after: bigint) => Promise<{ uid: string; seq: bigint }[]>): AsyncGenerator<string> {
    let after = 0n;
    for (;;) {
      const rows = await page(after);
      for (const r of rows) yield r.uid;
      if (rows.length < PAGE) break;
      after = rows[rows.length - 1]!.seq;
    }
  }



  private async rotate(store: ObjectStore, rec: ManagedObjectRecord, plan: RotationPlan, now: bigint): Promise<void> {
    const generation = intOf(rec.attributes, 'Rotate Generation') ?? 0;
    const policy = plan.policy;
    const replacing = REPLACING.get(rec.objectType)!;
    const deactivate = (a: StoredAttribute[]): StoredAttribute[] => {
      if (policy?.oldKey !== 'deactivate') return a;
      const at = now + BigInt(policy.deactivateAfterSeconds ?? 0);
      const current = dateAttribute(a, 'Deactivation Date');
      // An earlier Deactivation Date the key already has stands.
      return current === undefined || current > at ? setAttribute(a, 'Deactivation Date', ttlv.dateTime(Tag.DeactivationDate, at)) : a;
    };
    const stamping = new RotationStamp(store, rec.uid, rec.objectType, {
      replacement: (attrs) => {
        let a = setAttribute(attrs, 'Rotate Generation', ttlv.integer(Tag.RotateGeneration, generation + 1));
        a = setAttribute(a, 'Rotate Latest', ttlv.boolean(Tag.RotateLatest, true));
        return setAttribute(a, 'Rotate Date', ttlv.dateTime(Tag.RotateDate, now));
      },
      replaced: (attrs) => deactivate(rotatesNoMore(setAttribute(attrs, 'Rotate Latest', ttlv.boolean(Tag.RotateLatest, false)))),
      // The old public key of a pair goes out of use with its private key (it is no chain's latest: it never had Rotate Latest).
      companion: (attrs) => deactivate(rotatesNoMore([...attrs])),
    });
    const ctx = this.contextFor(rec.owner, stamping);
    const payload: TtlvItem[] = [ttlv.textString(replacing.idTag, rec.uid)];
    if (plan.offset !== undefined) payload.push(ttlv.interval(Tag.Offset, plan.offset));
    let answer: readonly TtlvItem[];
    try {
      answer = await replacing.handler.handle(ttlv.structure(Tag.RequestPayload, payload), ctx);
    } finally {
      for (const s of ctx.secrets) s.fill(0);
    }
    const replacement = ctx.idPlaceholder!;
    this.rotated++;
    this.deps.audit.record({
      event: 'scheduled',
      correlationId: randomUUID(),
      operation: `${replacing.operation} (automatic rotation)`,
      // The old key, its replacement, and a pair's new public key.
      uniqueIdentifiers: [rec.uid, replacement, ...answer.flatMap((i) => (i.tag === Tag.PublicKeyUniqueIdentifier && i.type === ItemType.TextString ? [i.value] : []))],
      objectOwners: [rec.owner],
      resultStatus: 'Success',
      reason: `Rotate Generation ${generation + 1}${policy ? `; policy ${policy.name}` : ''}${policy?.oldKey === 'deactivate' ? `; the old key deactivates ${policy.deactivateAfterSeconds ?? 0} s on` : ''}`,
    });
  }

  /** Re-key as the object's owner would send it, in 2.1 (the version of the Rotate attributes). */
  private contextFor(owner: string, store: ObjectStore): OpContext {
    return {
      version: { major: 2, minor: 1 },
      client: { name: owner, isAdmin: false },
      store,
      keys: this.deps.keys,
      clock: this.deps.clock,
      server: this.deps.server,
      crypto: this.deps.crypto,
      compat: this.deps.compat,
      idPlaceholder: undefined,
      touched: [],
      auditDetail: {},
      secrets: [],
    };
  }

  private recordFailure(rec: ManagedObjectRecord, e: unknown): void {
    this.deps.audit.record({
      event: 'scheduled',
      correlationId: randomUUID(),
      operation: `${REPLACING.get(rec.objectType)?.operation ?? 'Re-key'} (automatic rotation)`,
      uniqueIdentifiers: [rec.uid],
      objectOwners: [rec.owner],
      resultStatus: 'OperationFailed',
      reason: (e as Error).message,
    });
  }
}

/**
 * Re-key's (or Re-key Key Pair's) one store write, with the rotation's attributes added: the
 * replacement (the insert of the rotating type: a pair's new public key is not the chain's), the
 * key it replaces, and a pair's old public key (the other update). One write, so a crash leaves
 * either no rotation or a whole one.
 */
class RotationStamp extends BorrowedStore {
  constructor(
    inner: ObjectStore,
    private readonly replacedUid: string,
    private readonly objectType: number,
    private readonly stamp: {
      replacement(a: readonly StoredAttribute[]): StoredAttribute[];
      replaced(a: readonly StoredAttribute[]): StoredAttribute[];
      companion(a: readonly StoredAttribute[]): StoredAttribute[];
    },
  ) {
    super(inner);
  }

  override writeBatch(ops: readonly StoreWrite[]): Promise<void> {
    return this.inner.writeBatch(
      ops.map((op) => {
        if ('insert' in op) return op.insert.objectType === this.objectType ? { insert: { ...op.insert, attributes: this.stamp.replacement(op.insert.attributes) } } : op;
        if (!op.update.attributes) return op;
        const stamp = op.uid === this.replacedUid ? this.stamp.replaced : this.stamp.companion;
        return { uid: op.uid, update: { ...op.update, attributes: stamp(op.update.attributes) } };
      }),
    );
  }
}

/** Rotate Automatic false, where the key had it: a replaced key rotates no more. */
function rotatesNoMore(attrs: StoredAttribute[]): StoredAttribute[] {
  return getAttribute(attrs, 'Rotate Automatic') !== undefined ? setAttribute(attrs, 'Rotate Automatic', ttlv.boolean(Tag.RotateAutomatic, false)) : attrs;
}

function boolOf(attrs: readonly StoredAttribute[], name: string): boolean | undefined {
  const v = getAttribute(attrs, name);
  return v?.type === ItemType.Boolean ? v.value : undefined;
}

function intervalOf(attrs: readonly StoredAttribute[], name: string): number | undefined {
  const v = getAttribute(attrs, name);
  return v?.type === ItemType.Interval ? v.value : undefined;
}

function intOf(attrs: readonly StoredAttribute[], name: string): number | undefined {
  const v = getAttribute(attrs, name);
  return v?.type === ItemType.Integer ? v.value : undefined;
}
