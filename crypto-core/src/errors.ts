/** Stable error codes (format §10). Callers branch on `code`, never on `message`. */
export type CryptoErrorCode =
  | 'AUTH_FAILED'
  | 'TRUNCATED'
  | 'UNSUPPORTED_VERSION'
  | 'HEADER_INVALID'
  | 'PADDING_INVALID'
  | 'MANIFEST_INVALID'
  | 'METADATA_INVALID'
  | 'KDF_PARAMS_INVALID'
  | 'INVALID_ENCODING'
  | 'INVALID_KEY';

/**
 * Raised for bad *data* (a tampered record, a wrong key, a malformed encoding). Programmer misuse
 * (a wrong argument type or length) raises TypeError / RangeError instead, naming the argument.
 * Messages never contain secrets or plaintext.
 */
export class CofferCryptoError extends Error {
  readonly code: CryptoErrorCode;

  constructor(code: CryptoErrorCode, message: string) {
    super(message);
    this.name = 'CofferCryptoError';
    this.code = code;
  }
}

export function fail(code: CryptoErrorCode, message: string): never {
  throw new CofferCryptoError(code, message);
}

export function isCofferCryptoError(e: unknown): e is CofferCryptoError {
  return e instanceof CofferCryptoError;
}
