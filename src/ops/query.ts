/** Query: what this server offers, per the functions the client asks about. */
import { ttlv, type TtlvItem } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { ObjectType, Operation, QueryFunction } from '../spec/generated/enums';
import { asEnumeration } from '../kmip/tree';
import { enumValueInVersion } from '../spec/registry';
import type { OpContext } from '../server/context';
import type { OperationHandler, OperationRegistry } from '../server/registry';

/** Object types this server stores. */
const SUPPORTED_OBJECT_TYPES: readonly number[] = [
  ObjectType.Certificate,
  ObjectType.SymmetricKey,
  ObjectType.PublicKey,
  ObjectType.PrivateKey,
  ObjectType.SecretData,
  ObjectType.OpaqueObject,
];

function serverInformation(ctx: OpContext): TtlvItem[] {
  return [
    ttlv.textString(Tag.VendorIdentification, ctx.server.vendorIdentification),
    ttlv.structure(Tag.ServerInformation, [
      ttlv.textString(Tag.ServerName, ctx.server.serverName),
      ttlv.textString(Tag.ServerVersion, ctx.server.serverVersion),
    ]),
  ];
}

export function makeQueryHandler(registry: () => OperationRegistry): OperationHandler {
  return {
    operation: Operation.Query,
    async handle(payload, ctx) {
      const functions = payload.value.filter((c) => c.tag === Tag.QueryFunction).map(asEnumeration);
      const out: TtlvItem[] = [];
      if (functions.includes(QueryFunction.QueryOperations)) {
        for (const op of registry().operationsFor(ctx.version)) out.push(ttlv.enumeration(Tag.Operation, op));
      }
      if (functions.includes(QueryFunction.QueryObjects)) {
        for (const t of SUPPORTED_OBJECT_TYPES) {
          if (enumValueInVersion(Tag.ObjectType, t, ctx.version)) out.push(ttlv.enumeration(Tag.ObjectType, t));
        }
      }
      if (functions.includes(QueryFunction.QueryServerInformation)) out.push(...serverInformation(ctx));
      return out;
    },
  };
}
