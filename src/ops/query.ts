/** Query: what this server offers, per the functions the client asks about. */
import { ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { DestroyAction, ObjectType, Operation, ProfileName, QueryFunction, RNGMode } from '../spec/generated/enums';
import { asEnumeration } from '../kmip/tree';
import { enumValueInVersion, tagInVersion } from '../spec/registry';
import type { OpContext, OperationHandler } from '../objects/context';
import { PROTECTION_STORAGE, randomNumberGenerator } from '../objects/new-object';
import type { ProtocolVersion } from '../spec/versions';

/** Object types this server stores (Query Objects drops those the client's version lacks). */
const SUPPORTED_OBJECT_TYPES: readonly number[] = [
  ObjectType.Certificate,
  ObjectType.SymmetricKey,
  ObjectType.PublicKey,
  ObjectType.PrivateKey,
  ObjectType.SplitKey,
  ObjectType.Template,
  ObjectType.SecretData,
  ObjectType.OpaqueObject,
  ObjectType.PGPKey,
];

/**
 * Server profiles whose mandatory test cases this server passes, by the name each protocol
 * version gives them (1.3 and 1.4 name profiles per version; 2.x by name plus Profile Version).
 */
const PROFILES: readonly { readonly v13?: number; readonly v14?: number; readonly v2: number }[] = [
  { v2: ProfileName.BaselineServer },
  {
    v13: ProfileName.SymmetricKeyLifecycleServerKMIPV1_3,
    v14: ProfileName.SymmetricKeyLifecycleServerKMIPV1_4,
    v2: ProfileName.SymmetricKeyLifecycleServer,
  },
  {
    v13: ProfileName.SymmetricKeyFoundryServerKMIPV1_3,
    v14: ProfileName.SymmetricKeyFoundryServerKMIPV1_4,
    v2: ProfileName.SymmetricKeyFoundryServer,
  },
  {
    v13: ProfileName.OpaqueManagedObjectStoreServerKMIPV1_3,
    v14: ProfileName.OpaqueManagedObjectStoreServerKMIPV1_4,
    v2: ProfileName.OpaqueManagedObjectStoreServer,
  },
  {
    v13: ProfileName.StorageArrayWithSelfEncryptingDriveServerKMIPV1_3,
    v14: ProfileName.StorageArrayWithSelfEncryptingDriveServerKMIPV1_4,
    v2: ProfileName.StorageArrayWithSelfEncryptingDriveServer,
  },
  { v13: ProfileName.TapeLibraryServerKMIPV1_3, v14: ProfileName.TapeLibraryServerKMIPV1_4, v2: ProfileName.TapeLibraryServer },
];

function serverInformation(ctx: OpContext): TtlvItem[] {
  return [
    ttlv.textString(Tag.VendorIdentification, ctx.server.vendorIdentification),
    // 1.x leaves Server Information's contents to the vendor; its named fields arrive in 2.0.
    ttlv.structure(
      Tag.ServerInformation,
      ctx.version.major >= 2
        ? [ttlv.textString(Tag.ServerName, ctx.server.serverName), ttlv.textString(Tag.ServerVersion, ctx.server.serverVersion)]
        : [],
    ),
  ];
}

function profiles(ctx: OpContext): TtlvItem[] {
  const { major, minor } = ctx.version;
  const out: TtlvItem[] = [];
  for (const p of PROFILES) {
    const name = major >= 2 ? p.v2 : minor === 3 ? p.v13 : minor === 4 ? p.v14 : undefined;
    if (name === undefined) continue;
    const info: TtlvItem[] = [ttlv.enumeration(Tag.ProfileName, name)];
    if (major >= 2) {
      info.push(
        ttlv.structure(Tag.ProfileVersion, [
          ttlv.integer(Tag.ProfileVersionMajor, major),
          ttlv.integer(Tag.ProfileVersionMinor, minor),
        ]),
      );
    }
    out.push(ttlv.structure(Tag.ProfileInformation, info));
  }
  return out;
}

/** What the server can do beyond the basics; every flag states a fact of this implementation. */
function capabilities(ctx: OpContext): TtlvItem[] {
  const fields: TtlvItem[] = [
    ttlv.boolean(Tag.StreamingCapability, false),
    ttlv.boolean(Tag.AsynchronousCapability, ctx.pending !== undefined),
    ttlv.boolean(Tag.AttestationCapability, false),
    ttlv.boolean(Tag.BatchUndoCapability, false),
    ttlv.boolean(Tag.BatchContinueCapability, true),
    // Destroy drops the key material and keeps the metadata.
    ttlv.enumeration(Tag.DestroyAction, DestroyAction.KeyMaterialDeleted),
    ttlv.enumeration(Tag.RNGMode, RNGMode.SharedInstantiation),
    ttlv.boolean(Tag.QuantumSafeCapability, true),
  ];
  return [ttlv.structure(Tag.CapabilityInformation, fields.filter((f) => tagInVersion(f.tag, ctx.version)))];
}

export function makeQueryHandler(offeredOperations: (v: ProtocolVersion) => number[]): OperationHandler {
  return {
    operation: Operation.Query,
    async handle(payload, ctx) {
      const functions = payload.value.filter((c) => c.tag === Tag.QueryFunction).map(asEnumeration);
      const out: TtlvItem[] = [];
      const asked = (f: number) => functions.includes(f) && enumValueInVersion(Tag.QueryFunction, f, ctx.version);
      if (asked(QueryFunction.QueryOperations)) {
        for (const op of offeredOperations(ctx.version)) out.push(ttlv.enumeration(Tag.Operation, op));
      }
      if (asked(QueryFunction.QueryObjects)) {
        for (const t of SUPPORTED_OBJECT_TYPES) {
          if (enumValueInVersion(Tag.ObjectType, t, ctx.version)) out.push(ttlv.enumeration(Tag.ObjectType, t));
        }
      }
      if (asked(QueryFunction.QueryServerInformation)) out.push(...serverInformation(ctx));
      // No Application Namespaces, extensions, attestation types, validations or client
      // registration methods are offered: those functions answer with nothing.
      if (asked(QueryFunction.QueryRNGs)) out.push({ ...randomNumberGenerator(), tag: Tag.RNGParameters });
      if (asked(QueryFunction.QueryProfiles)) out.push(...profiles(ctx));
      if (asked(QueryFunction.QueryCapabilities)) out.push(...capabilities(ctx));
      if (asked(QueryFunction.QueryStorageProtectionMasks)) {
        out.push(ttlv.structure(Tag.ProtectionStorageMasks, [ttlv.integer(Tag.ProtectionStorageMask, PROTECTION_STORAGE)]));
      }
      return out;
    },
  };
}
