// Exit codes and the one error type the CLI turns into a message and an exit status.

/** Exit codes, as documented in `coffer --help` (restic-like). */
export const EXIT = { OK: 0, ERROR: 1, USAGE: 2, AUTH: 3, INTEGRITY: 4 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error whose message is safe to show (it never holds a secret) and which names its exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: ExitCode = EXIT.ERROR, readonly code?: string) {
    super(message);
    this.name = 'CliError';
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.USAGE, 'USAGE');
  }
}

/** An answer of the server that was not 2xx, with its `{code, message}` body. */
export class ApiError extends CliError {
  constructor(readonly status: number, code: string, message: string, readonly body: Record<string, unknown>) {
    super(message, status === 401 ? EXIT.AUTH : EXIT.ERROR, code);
    this.name = 'ApiError';
  }
}

/** Downloaded data failed its check: wrong tag, wrong length, or a size that does not add up. */
export class IntegrityError extends CliError {
  constructor(message: string) {
    super(message, EXIT.INTEGRITY, 'INTEGRITY');
  }
}

const INTEGRITY_CODES = new Set([
  'AUTH_FAILED', 'TRUNCATED', 'UNSUPPORTED_VERSION', 'HEADER_INVALID', 'PADDING_INVALID',
  'MANIFEST_INVALID', 'METADATA_INVALID',
]);

/** True for a crypto-core error that means "this data is not what was sealed". */
export function isIntegrityFailure(err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && !(err instanceof CliError) && typeof code === 'string' && INTEGRITY_CODES.has(code);
}
