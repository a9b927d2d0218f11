/**
 * What a handler works through: the ports, the caller, the clock, and the batch's ID Placeholder.
 * Handlers never reach past this object.
 */
import type { TtlvItem, TtlvStructure } from '../../ttlv/types';
import type { ObjectStore } from '../store/object-store';
import type { KeyProtector } from '../keys/key-protector';
import type { ProtocolVersion } from '../spec/versions';
import type { AwaitingApproval, PendingOperations } from './pending-operations';
import type { CryptoPolicy } from '../crypto/policy';
import type { CompatProfile } from '../compat/profiles';
import type { KeyMaterialLimits } from '../crypto/key-encoding';
import type { CryptoperiodPolicy } from './cryptoperiod';
import type { CallerCertificate } from '../access/policy';
import type { ItemAccess } from '../access/access-control';

export interface ClientIdentity {
  /** The identity objects are owned by (certificate subject CN by default). */
  readonly name: string;
  /** SHA-256 fingerprint of the client certificate, for the audit log. */
  readonly certificateFingerprint?: string;
  readonly peer?: string;
  readonly isAdmin: boolean;
  /** What the access policy matches roles and groups on (src/access/); absent for a credential's sub-identity. */
  readonly certificate?: CallerCertificate;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface ServerInfo {
  readonly vendorIdentification: string;
  readonly serverName: string;
  readonly serverVersion: string;
}

export interface AuditDetail {
  clientMessage?: string;
  /** Set when an object was reached only because the caller is an administrator (not its owner). */
  administratorOverride?: true;
  /** Set when an object was reached through a grant (access policy), not as its owner. */
  granted?: true;
  /** The owners of those objects, each once. */
  objectOwners?: string[];
  /** Locate: how many identifiers it returned, of how many matches, and the first of them. */
  located?: { returned: number; matched: number; first: readonly string[] };
  /** Dual control: the request was held for approval under this id. */
  approvalId?: string;
}

export interface OpContext {
  readonly version: ProtocolVersion;
  readonly client: ClientIdentity;
  readonly store: ObjectStore;
  readonly keys: KeyProtector;
  readonly clock: Clock;
  readonly server: ServerInfo;
  /** What the operator allows beyond current guidance (legacy key sizes). */
  readonly crypto: CryptoPolicy;
  /** The compatibility profile the server runs under (src/compat/profiles.ts; "none" by default). */
  readonly compat: CompatProfile;
  /** Caps on client-supplied key material; absent: DEFAULT_KEY_LIMITS (src/crypto/key-encoding.ts). */
  readonly keyLimits?: KeyMaterialLimits;
  /** The cryptoperiod rules new objects get their dates and rotation from (src/objects/cryptoperiod.ts); absent: none. */
  readonly cryptoperiods?: CryptoperiodPolicy;
  /** The ID Placeholder of the batch: set by operations that create or name an object. */
  idPlaceholder: string | undefined;
  /** Unique identifiers the current item touched, for the audit record. */
  readonly touched: string[];
  /** What the item adds to its audit record: the client's own message (Log), an administrator's reach, what Locate returned. */
  readonly auditDetail: AuditDetail;
  /** Plaintext secrets this item put in memory; zeroed once the response is encoded. */
  readonly secrets: Uint8Array[];
  /**
   * The item under an access policy file (src/access/): the caller's roles, groups and grants for
   * this operation. Absent without a policy: owners and `adminIdentities` decide (mayReach).
   */
  access?: ItemAccess;
  /** The server's asynchronous operations, for Poll and Cancel; absent when the server runs none. */
  readonly pending?: PendingOperations;
  /** Requests waiting for a second officer's approval (dual control), for Poll and Cancel; absent without dual control. */
  readonly approvals?: AwaitingApproval;
}

/** What every operation's handler is: the operation it serves and the function that runs it. */
export interface OperationHandler {
  /** Operation enumeration value. */
  readonly operation: number;
  /** Runs the operation; returns the Response Payload's children. */
  handle(payload: TtlvStructure, ctx: OpContext): Promise<TtlvItem[]>;
}
