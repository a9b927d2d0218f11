/**
 * Encrypt: data under a symmetric key (block, stream and AEAD ciphers), in one request or in parts
 * (src/objects/multi-part.ts), or under an RSA public key in one request. Usage Limits count every
 * part.
 */
import { Operation } from '../spec/generated/enums';
import { cipherSteps } from '../objects/crypto-steps';
import { keyFor, multiPartHandler } from '../objects/multi-part';

export const encryptHandler = multiPartHandler({
  operation: Operation.Encrypt,
  name: 'Encrypt',
  key: keyFor('encrypt'),
  usage: 'keeps stream',
  cipherParts: true,
  ...cipherSteps('encrypt'),
});
