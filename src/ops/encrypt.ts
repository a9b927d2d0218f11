/** Encrypt: data under a symmetric key (block, stream and AEAD ciphers) or an RSA public key. */
import { Operation } from '../spec/generated/enums';
import type { OperationHandler } from '../objects/context';
import { runCipherOperation } from '../objects/cipher-op';

export const encryptHandler: OperationHandler = {
  operation: Operation.Encrypt,
  handle: (payload, ctx) => runCipherOperation('encrypt', payload, ctx),
};
