/** Decrypt: data under a symmetric key or an RSA private key; a failed check returns no plaintext. */
import { Operation } from '../spec/generated/enums';
import type { OperationHandler } from '../objects/context';
import { runCipherOperation } from '../objects/cipher-op';

export const decryptHandler: OperationHandler = {
  operation: Operation.Decrypt,
  handle: (payload, ctx) => runCipherOperation('decrypt', payload, ctx),
};
