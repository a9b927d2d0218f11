/** Discover Versions: the versions we speak that the client offered (all, if it offered none). */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { Operation } from '../spec/generated/enums';
import { SUPPORTED_VERSIONS, isSupportedVersion, readProtocolVersion } from '../kmip/message';
import { asStructure } from '../kmip/tree';
import type { OperationHandler } from '../objects/context';

export const discoverVersionsHandler: OperationHandler = {
  operation: Operation.DiscoverVersions,
  async handle(payload) {
    const offered = payload.value.filter((c) => c.tag === Tag.ProtocolVersion).map((c) => readProtocolVersion(asStructure(c)));
    const answer = offered.length === 0 ? SUPPORTED_VERSIONS : offered.filter(isSupportedVersion);
    return answer.map((v) =>
      ttlv.structure(Tag.ProtocolVersion, [
        ttlv.integer(Tag.ProtocolVersionMajor, v.major),
        ttlv.integer(Tag.ProtocolVersionMinor, v.minor),
      ]),
    );
  },
};
