/** Query: what this server offers, per the functions the client asks about. */
import { ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { DestroyAction, ObjectType, Operation, ProfileName, QueryFunction, RNGMode } from '../spec/generated/enums';
import { asEnumeration } from '../kmip/tree';
import type { OpContext, OperationHandler } from '../objects/context';
import { PROTECTION_STORAGE, randomNumberGenerator } from '../objects/new-object';
import { cryptoperiodDefaults } from '../objects/cryptoperiod';
import { cryptoPolicyReport } from '../objects/crypto-policy-report';
import { VENDOR_TAGS, VendorQueryFunction } from '../spec/vendor-extensions';

/** Object types this server stores (the response adapter drops those the client's version lacks). */
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
  ObjectType.CertificateRequest,
];

/**
 * Server profiles whose mandatory test cases this server passes, by their 2.x names
 * (kmip/response-adapter.ts names them as 1.3 and 1.4 do and adds 2.x's Profile Version).
 */
const PROFILES: readonly number[] = [
  ProfileName.BaselineServer,
  ProfileName.SymmetricKeyLifecycleServer,
  ProfileName.SymmetricKeyFoundryServer,
  ProfileName.OpaqueManagedObjectStoreServer,
  ProfileName.StorageArrayWithSelfEncryptingDriveServer,
  ProfileName.TapeLibraryServer,
];

/** The vendor and Server Information's named fields (1.x leaves its contents to the vendor: the adapter drops them). */
function serverInformation(ctx: OpContext): TtlvItem[] {
  return [
    ttlv.textString(Tag.VendorIdentification, ctx.server.vendorIdentification),
    ttlv.structure(Tag.ServerInformation, [ttlv.textString(Tag.ServerName, ctx.server.serverName), ttlv.textString(Tag.ServerVersion, ctx.server.serverVersion)]),
  ];
}

function profiles(): TtlvItem[] {
  return PROFILES.map((name) => ttlv.structure(Tag.ProfileInformation, [ttlv.enumeration(Tag.ProfileName, name)]));
}

/** What the server can do beyond the basics; every flag states a fact of this implementation (the adapter drops those a version lacks). */
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
  return [ttlv.structure(Tag.CapabilityInformation, fields)];
}

/** Extension Information per vendor tag; Extension Type is an Item Type Enumeration from 2.0, an Integer before. */
function extensionInformation(ctx: OpContext, withMap: boolean): TtlvItem[] {
  return VENDOR_TAGS.map((t) => {
    const fields: TtlvItem[] = [ttlv.textString(Tag.ExtensionName, t.name)];
    if (withMap) {
      fields.push(ttlv.integer(Tag.ExtensionTag, t.tag));
      fields.push(ctx.version.major >= 2 ? ttlv.enumeration(Tag.ExtensionType, t.type) : ttlv.integer(Tag.ExtensionType, t.type));
    }
    return ttlv.structure(Tag.ExtensionInformation, fields);
  });
}

export function makeQueryHandler(offeredOperations: () => number[]): OperationHandler {
  return {
    operation: Operation.Query,
    async handle(payload, ctx) {
      const functions = payload.value.filter((c) => c.tag === Tag.QueryFunction).map(asEnumeration);
      const out: TtlvItem[] = [];
      const asked = (f: number) => functions.includes(f);
      if (asked(QueryFunction.QueryOperations)) {
        // Every operation implemented, either way; the response adapter keeps those the client's version has.
        for (const op of offeredOperations()) out.push(ttlv.enumeration(Tag.Operation, op));
      }
      if (asked(QueryFunction.QueryObjects)) {
        for (const t of SUPPORTED_OBJECT_TYPES) out.push(ttlv.enumeration(Tag.ObjectType, t));
      }
      if (asked(QueryFunction.QueryServerInformation)) out.push(...serverInformation(ctx));
      // The extension tags this server may send (its cryptographic policy report), named (List) or with tag and type (Map).
      if (asked(QueryFunction.QueryExtensionList)) out.push(...extensionInformation(ctx, false));
      if (asked(QueryFunction.QueryExtensionMap)) out.push(...extensionInformation(ctx, true));
      // No Application Namespaces, attestation types, validations or client registration methods
      // are offered: those functions answer with nothing.
      if (asked(QueryFunction.QueryRNGs)) out.push({ ...randomNumberGenerator(), tag: Tag.RNGParameters });
      if (asked(QueryFunction.QueryProfiles)) out.push(...profiles());
      if (asked(QueryFunction.QueryCapabilities)) out.push(...capabilities(ctx));
      if (asked(QueryFunction.QueryStorageProtectionMasks)) {
        out.push(ttlv.structure(Tag.ProtectionStorageMasks, [ttlv.integer(Tag.ProtectionStorageMask, PROTECTION_STORAGE)]));
      }
      // The defaults the server gives attributes a client leaves out: the cryptoperiod policy's rotation.
      if (asked(QueryFunction.QueryDefaultsInformation)) out.push(...cryptoperiodDefaults(ctx.cryptoperiods ?? [], SUPPORTED_OBJECT_TYPES));
      // This server's extension: what the cryptographic policy allows, per operation (no standard function lists it).
      if (asked(VendorQueryFunction.QueryCryptographicPolicy)) out.push(cryptoPolicyReport(ctx.crypto, ctx.version));
      return out;
    },
  };
}
