// Size limits of what clients send (docs/api.md "Conventions").

/**
 * The largest chunk record: that of a chunk of the maximum 4 MiB (format §6.1), whose body is padded
 * to padLen(4 MiB + 1) = 4,325,376 bytes (§3), plus header, nonce and tag (§2). A test checks it
 * against crypto-core's storedLengthOf.
 */
export const MAX_CHUNK_BYTES = 4_325_406;
/**
 * A batch of chunk records in one request (POST /api/chunks/batch): at most this many records and
 * bytes. Any single record fits (MAX_CHUNK_BYTES is ~4.1 MiB).
 */
export const MAX_BATCH_CHUNKS = 16;
export const MAX_BATCH_BYTES = 16 * 1024 * 1024;
/** JSON bodies in general, and a version commit (manifest + chunk ids). */
export const MAX_JSON_BYTES = 1024 * 1024;
export const MAX_COMMIT_BYTES = 32 * 1024 * 1024;
/** A wrapped node secret (an HPKE record is 82 bytes, format §2). */
export const MAX_WRAPPED_KEY = 1024;
/** A metadata record (format §5.3), padded. */
export const MAX_METADATA = 64 * 1024;
/** A key slot (format §4.3). */
export const MAX_SLOT = 1024;
/** Chunks in one version: 100,000 × ~1 MiB average is a ~100 GB file. */
export const MAX_CHUNKS_PER_VERSION = 100_000;
/**
 * The largest manifest record: that of MAX_CHUNKS_PER_VERSION entries, 13 + 72 × 100,000 bytes of
 * plaintext (format §7) padded to padLen(7,200,014) = 7,208,960 (§3), plus header, nonce and tag
 * (§2). A test checks it against crypto-core's padLen.
 */
export const MAX_MANIFEST_BYTES = 7_208_990;
