// Argon2id for the crypto worker, in place of hash-wasm's: vite.config.ts aliases the bare import
// 'hash-wasm' (crypto-core/src/kdf.ts) to this module, so crypto-core itself is unchanged and Node
// keeps hash-wasm (or the CLI's native backend).
//
// Why: openpgpjs' `argon2id` package compresses blocks in WebAssembly with 128-bit SIMD (a
// non-SIMD build where the browser lacks it). In a Chromium worker, Argon2id 64 MiB, t = 3 took
// 330–450 ms with it against 790 ms (first call) / 340–370 ms (later calls) with hash-wasm; unlock
// is always a first call, as lock terminates the worker. Both compute RFC 9106 Argon2id version
// 0x13, byte for byte (web/test/argon2.test.ts checks both against the RFC vector and each other).
//
// The .wasm files are Vite assets fetched from our own origin (the CSP allows 'wasm-unsafe-eval'
// and connect-src 'self'; no data: or remote URL). Anything this path does not cover (a non-binary
// output, a password or salt under 8 bytes, which that library would refuse, a wasm that fails to
// load) goes to hash-wasm, which gives the same bytes, so only speed ever differs.
import * as hashWasm from 'hash-wasm/dist/index.esm.js';
import simdUrl from 'argon2id/dist/simd.wasm?url';
import noSimdUrl from 'argon2id/dist/no-simd.wasm?url';
import argon2idBlocks from 'argon2id/lib/argon2id.js';

export * from 'hash-wasm/dist/index.esm.js';

type Options = Parameters<typeof hashWasm.argon2id>[0];

const KIB = 1024;
const WASM_PAGE = 64 * KIB;
/** The smallest memory the package's wasm files declare (argon2id/lib/setup.js: 1040 pages, 65 MiB). */
const MIN_PAGES = 1040;

let compiled: Promise<WebAssembly.Module | null> | null = null;
/** Memory for the first derivation, its pages already touched (prepareArgon2id). */
let arena: WebAssembly.Memory | null = null;

async function compile(url: string): Promise<WebAssembly.Module> {
  const res = await fetch(url, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return WebAssembly.compile(await res.arrayBuffer());
}

/**
 * Fetches and compiles the block function once (SIMD if this engine validates it, else the plain
 * build); null if neither loads. Called early (worker start) so unlock does not wait for it.
 */
export function prepareArgon2id(): Promise<WebAssembly.Module | null> {
  compiled ??= compile(simdUrl).catch(() => compile(noSimdUrl)).catch(() => null);
  return compiled;
}

/**
 * Makes the memory of the first derivation (64 MiB and a little, enough for the default parameters)
 * and writes every page once. Where the first touch of a page is dear (on one test machine ~13 µs
 * a page, ~0.2 s for these 16,640), that is done while the passphrase is typed, not after. The
 * memory holds nothing secret until a derivation runs in it, and is zeroed and dropped after.
 */
export function prepareArgon2idMemory(): void {
  if (arena) return;
  arena = new WebAssembly.Memory({ initial: MIN_PAGES, maximum: 65536 });
  new Uint8Array(arena.buffer).fill(0);
}

/** The prepared memory if it is large enough, once; otherwise a new one. */
function memoryOf(pages: number): WebAssembly.Memory {
  const prepared = arena;
  arena = null;
  if (prepared && prepared.buffer.byteLength >= pages * WASM_PAGE) return prepared;
  return new WebAssembly.Memory({ initial: pages, maximum: 65536 });
}

/** Same signature and result as hash-wasm's argon2id; see the header for which path runs. */
export async function argon2id(options: Options): Promise<Uint8Array | string> {
  const { password, salt } = options;
  const fast = options.outputType === 'binary' && password instanceof Uint8Array && salt instanceof Uint8Array
    && password.length >= 8 && salt.length >= 8 && options.secret === undefined
    && Number.isInteger(options.parallelism) && options.parallelism >= 1;
  const module = fast ? await prepareArgon2id() : null;
  if (!module || !(password instanceof Uint8Array) || !(salt instanceof Uint8Array)) return hashWasm.argon2id(options);
  // A fresh instance and memory per call (the first may use the prepared one), dropped afterwards: the
  // 64 MiB is not kept for the session. (the library addresses memorySize blocks after ~10 KiB of its
  // own state)
  const pages = Math.max(MIN_PAGES, Math.ceil((options.memorySize * KIB + 16 * KIB) / WASM_PAGE));
  const memory = memoryOf(pages);
  try {
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    return argon2idBlocks(
      { password, salt, parallelism: options.parallelism, passes: options.iterations, memorySize: options.memorySize, tagLength: options.hashLength },
      { instance, memory },
    );
  } finally {
    // The library clears its own bookkeeping but not the blocks, which derive from the password.
    new Uint8Array(memory.buffer).fill(0);
  }
}
