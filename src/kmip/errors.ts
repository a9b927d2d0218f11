/**
 * The shared vocabulary of failure: KmipError carries a KMIP Result Reason from any layer past the
 * codec, and `reasonForVersion` says how a client of a given version can hear it. Knows nothing of
 * the server, the store or the HSM (server/errors.ts maps their errors).
 */
import { ResultReason } from '../spec/generated/enums';
import { enumValueInfo } from '../spec/registry';
import type { TtlvItem } from '../../ttlv/types';
import { isInVersion, type ProtocolVersion } from '../spec/versions';

export const Reason = ResultReason;
export type ReasonValue = (typeof ResultReason)[keyof typeof ResultReason];

/**
 * Thrown by everything past the codec; `message` goes to the client, so it holds no secret.
 * `payload`: the few operations whose failure still answers a Response Payload (1.x Check names
 * the fields that failed). `olderReason`: what a client whose version lacks `reason` hears
 * instead, where that depends on the refusal rather than on the reason (OLDER_REASON below maps
 * each reason one way only); without it, the tables below decide.
 */
export class KmipError extends Error {
  override readonly name = 'KmipError';
  constructor(
    readonly reason: ReasonValue,
    message: string,
    readonly payload?: readonly TtlvItem[],
    readonly olderReason?: ReasonValue,
  ) {
    super(message);
  }
}

/**
 * Where a reason is newer than the client's version, the nearest one it has. KMIP 1.x reports
 * lifecycle and attribute-permission violations as Permission Denied (as its test cases expect),
 * malformed values as Invalid Field, and absent objects as Item Not Found.
 */
const OLDER_REASON: Readonly<Partial<Record<ReasonValue, ReasonValue>>> = {
  [Reason.WrongKeyLifecycleState]: Reason.PermissionDenied,
  [Reason.ObjectNotFound]: Reason.ItemNotFound,
  [Reason.ObjectDestroyed]: Reason.ItemNotFound,
  [Reason.NotAuthorised]: Reason.PermissionDenied,
  [Reason.ReadOnlyAttribute]: Reason.PermissionDenied,
  [Reason.AttributeReadOnly]: Reason.PermissionDenied,
  [Reason.MultiValuedAttribute]: Reason.InvalidField,
  [Reason.AttributeSingleValued]: Reason.InvalidField,
  [Reason.AttributeNotFound]: Reason.InvalidField,
  [Reason.AttributeInstanceNotFound]: Reason.InvalidField,
  [Reason.UnsupportedAttribute]: Reason.InvalidField,
  [Reason.InvalidAttribute]: Reason.InvalidField,
  [Reason.InvalidAttributeValue]: Reason.InvalidField,
  [Reason.InvalidDataType]: Reason.InvalidField,
  [Reason.InvalidObjectType]: Reason.InvalidField,
  [Reason.IllegalObjectType]: Reason.InvalidField,
  [Reason.UnknownEnumeration]: Reason.InvalidField,
  [Reason.UnknownTag]: Reason.InvalidField,
  [Reason.CodecError]: Reason.InvalidMessage,
  [Reason.NumericRange]: Reason.InvalidField,
  [Reason.BadCryptographicParameters]: Reason.InvalidField,
  [Reason.UnsupportedCryptographicParameters]: Reason.FeatureNotSupported,
  [Reason.KeyWrapTypeNotSupported]: Reason.FeatureNotSupported,
  [Reason.IncompatibleCryptographicUsageMask]: Reason.PermissionDenied,
  [Reason.MissingInitializationVector]: Reason.MissingData,
  [Reason.UnsupportedProtocolVersion]: Reason.InvalidMessage,
  [Reason.UnknownMessageExtension]: Reason.InvalidMessage,
  [Reason.NonUniqueNameAttribute]: Reason.InvalidField,
  [Reason.ServerLimitExceeded]: Reason.GeneralFailure,
  [Reason.InternalServerError]: Reason.GeneralFailure,
  [Reason.InvalidCorrelationValue]: Reason.InvalidField,
  [Reason.InvalidAsynchronousCorrelationValue]: Reason.InvalidField,
  [Reason.UnknownObjectGroup]: Reason.ItemNotFound,
  [Reason.IllegalOperation]: Reason.PermissionDenied,
  [Reason.IndexOutOfBounds]: Reason.InvalidField,
  [Reason.BadPassword]: Reason.InvalidField,
  [Reason.KeyValueNotPresent]: Reason.IllegalOperation,
  [Reason.NotExtractable]: Reason.PermissionDenied,
  [Reason.Sensitive]: Reason.PermissionDenied,
  [Reason.UsageLimitExceeded]: Reason.PermissionDenied,
  [Reason.WrappingObjectNotFound]: Reason.ItemNotFound,
  [Reason.WrappingObjectDestroyed]: Reason.ItemNotFound,
  [Reason.WrappingObjectArchived]: Reason.ObjectArchived,
};

/** 2.x removed these 1.x reasons; their 2.x successors. */
const NEWER_REASON: Readonly<Partial<Record<ReasonValue, ReasonValue>>> = {
  [Reason.IllegalOperation]: Reason.PermissionDenied,
  [Reason.IndexOutOfBounds]: Reason.AttributeInstanceNotFound,
};

function reasonInVersion(reason: ReasonValue, v: ProtocolVersion): boolean {
  const info = enumValueInfo('ResultReason', reason);
  return info !== undefined && isInVersion(info.firstVersion, info.lastVersion, v);
}

/**
 * KMIP 2.0 has Wrong Key Lifecycle State, but its OASIS cases (CS-BC-M-14-20, CS-AC-M-8-20,
 * AKLC-M-2-20, AKLC-M-3-20) still report lifecycle refusals as Permission Denied; 2.1's use the
 * new reason.
 */
const V20_REASON: Readonly<Partial<Record<ReasonValue, ReasonValue>>> = {
  [Reason.WrongKeyLifecycleState]: Reason.PermissionDenied,
};

/**
 * The reason as the client's version can express it. An error's own `olderReason` is the one
 * fallback for `reason` (General Failure when the version has neither).
 */
export function reasonForVersion(reason: ReasonValue, v: ProtocolVersion, olderReason?: ReasonValue): ReasonValue {
  if (olderReason !== undefined) {
    if (reasonInVersion(reason, v)) return reason;
    return reasonInVersion(olderReason, v) ? olderReason : Reason.GeneralFailure;
  }
  const v20 = v.major === 2 && v.minor === 0 ? V20_REASON[reason] : undefined;
  if (v20 !== undefined) return v20;
  let r: ReasonValue | undefined = reason;
  for (let hops = 0; r !== undefined && hops < 4; hops++) {
    if (reasonInVersion(r, v)) return r;
    r = v.major >= 2 ? NEWER_REASON[r] : OLDER_REASON[r];
  }
  return Reason.GeneralFailure;
}
