/**
 * Decrypt: data under a symmetric key, in one request or in parts (src/objects/multi-part.ts), or
 * under an RSA private key in one request; a failed check returns no plaintext.
 */
import { Operation } from '../spec/generated/enums';
import { cipherSteps } from '../objects/crypto-steps';
import { keyFor, multiPartHandler } from '../objects/multi-part';

export const decryptHandler = multiPartHandler({
  operation: Operation.Decrypt,
  name: 'Decrypt',
  key: keyFor('decrypt'),
  cipherParts: true,
  ...cipherSteps('decrypt'),
});
