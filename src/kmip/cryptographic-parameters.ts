/** The fields of a Cryptographic Parameters structure, read by the server and written by the client library. */
export interface CryptographicParameters {
  readonly blockCipherMode?: number;
  readonly paddingMethod?: number;
  readonly hashingAlgorithm?: number;
  readonly keyRoleType?: number;
  readonly digitalSignatureAlgorithm?: number;
  readonly cryptographicAlgorithm?: number;
  readonly randomIV?: boolean;
  readonly ivLength?: number;
  readonly tagLength?: number;
  readonly fixedFieldLength?: number;
  readonly invocationFieldLength?: number;
  readonly counterLength?: number;
  readonly initialCounterValue?: number;
  readonly saltLength?: number;
  readonly maskGenerator?: number;
  readonly maskGeneratorHashingAlgorithm?: number;
  readonly pSource?: Uint8Array;
  readonly trailerField?: number;
}
