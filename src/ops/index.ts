/** Every operation handler this server offers: the route table (server/registry.ts) is built from this list alone. */
import type { OperationHandler } from '../objects/context';
import { activateHandler } from './activate';
import { addAttributeHandler } from './add-attribute';
import { adjustAttributeHandler } from './adjust-attribute';
import { archiveHandler } from './archive';
import { checkHandler } from './check';
import { createHandler } from './create';
import { createKeyPairHandler } from './create-key-pair';
import { decryptHandler } from './decrypt';
import { deleteAttributeHandler } from './delete-attribute';
import { destroyHandler } from './destroy';
import { discoverVersionsHandler } from './discover-versions';
import { encryptHandler } from './encrypt';
import { exportHandler } from './export';
import { getAttributeListHandler } from './get-attribute-list';
import { getAttributesHandler } from './get-attributes';
import { getHandler } from './get';
import { hashHandler } from './hash';
import { importHandler } from './import';
import { interopHandler } from './interop';
import { locateHandler } from './locate';
import { logHandler } from './log';
import { macHandler } from './mac';
import { macVerifyHandler } from './mac-verify';
import { modifyAttributeHandler } from './modify-attribute';
import { makeQueryHandler } from './query';
import { recoverHandler } from './recover';
import { registerHandler } from './register';
import { reKeyHandler } from './rekey';
import { reKeyKeyPairHandler } from './rekey-key-pair';
import { revokeHandler } from './revoke';
import { rngRetrieveHandler, rngSeedHandler } from './rng';
import { setAttributeHandler } from './set-attribute';
import { setEndpointRoleHandler } from './set-endpoint-role';
import { signHandler } from './sign';
import { signatureVerifyHandler } from './signature-verify';
import { cancelHandler } from './cancel';
import { certifyHandler } from './certify';
import { createSplitKeyHandler } from './create-split-key';
import { deriveKeyHandler } from './derive-key';
import { getUsageAllocationHandler } from './get-usage-allocation';
import { joinSplitKeyHandler } from './join-split-key';
import { obtainLeaseHandler } from './obtain-lease';
import { pollHandler } from './poll';
import { reCertifyHandler } from './re-certify';

/** `offered`: what Query Operations lists (the route table knows it; the response adapter keeps those the client's version has). */
export function operationHandlers(offered: () => number[]): OperationHandler[] {
  const handlers: OperationHandler[] = [
    createHandler,
    registerHandler,
    reKeyHandler,
    getHandler,
    getAttributesHandler,
    getAttributeListHandler,
    addAttributeHandler,
    modifyAttributeHandler,
    deleteAttributeHandler,
    setAttributeHandler,
    adjustAttributeHandler,
    activateHandler,
    revokeHandler,
    destroyHandler,
    archiveHandler,
    recoverHandler,
    checkHandler,
    locateHandler,
    exportHandler,
    importHandler,
    discoverVersionsHandler,
    interopHandler,
    logHandler,
    setEndpointRoleHandler,
    // Key pairs and cryptographic services (src/crypto/ holds the algorithm tables).
    createKeyPairHandler,
    reKeyKeyPairHandler,
    encryptHandler,
    decryptHandler,
    signHandler,
    signatureVerifyHandler,
    macHandler,
    macVerifyHandler,
    hashHandler,
    rngRetrieveHandler,
    rngSeedHandler,
    // Key derivation, certificates, leases and usage allocation, asynchronous-operation control, split keys.
    deriveKeyHandler,
    certifyHandler,
    reCertifyHandler,
    obtainLeaseHandler,
    getUsageAllocationHandler,
    pollHandler,
    cancelHandler,
    createSplitKeyHandler,
    joinSplitKeyHandler,
  ];
  return [...handlers, makeQueryHandler(offered)];
}
