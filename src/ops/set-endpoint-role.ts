/**
 * Set Endpoint Role (2.x): asks this endpoint to act as client or server on the connection. This
 * server answers requests and sends none of its own, so it takes the Server role only.
 */
import { ttlv } from '../../ttlv/types';
import { Tag } from '../spec/generated/tags';
import { EndpointRole, Operation } from '../spec/generated/enums';
import { req } from '../kmip/tree';
import type { OperationHandler } from '../objects/context';
import { KmipError, Reason } from '../kmip/errors';

export const setEndpointRoleHandler: OperationHandler = {
  operation: Operation.SetEndpointRole,
  async handle(payload) {
    const role = req.enumeration(payload, Tag.EndpointRole);
    if (role !== EndpointRole.Server) throw new KmipError(Reason.FeatureNotSupported, 'this endpoint acts as a server only');
    return [ttlv.enumeration(Tag.EndpointRole, EndpointRole.Server)];
  },
};
