/// <reference lib="webworker" />
// Runs in a dedicated worker of Chromium, built with web/vite.config.ts (so 'hash-wasm' is the
// SIMD shim, as in the crypto worker) and served by the real server under its CSP.
import argon2idBlocks from 'argon2id/lib/argon2id.js';
import * as hashWasm from 'hash-wasm/dist/index.esm.js';
import { decodeKdfParams, derivePassphraseKeys } from '@coffer/crypto-core';
import simdUrl from 'argon2id/dist/simd.wasm?url';
import { argon2id, prepareArgon2id, prepareArgon2idMemory } from '../../src/crypto/argon2';
import type { Check, Result } from './types';

declare const self: DedicatedWorkerGlobalScope;

const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (b: Uint8Array | string) => typeof b === 'string' ? b : Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const failure = (p: Promise<unknown>) => p.then(() => 'resolved', (e: Error) => `rejected: ${e.constructor.name}`);

self.onmessage = async (ev: MessageEvent<Check>) => {
  const c = ev.data;
  const module = await prepareArgon2id();
  const vectors: string[] = [];
  if (module) {
    for (const v of c.vectors) {
      const memory = new WebAssembly.Memory({ initial: 1040, maximum: 65536 });
      const instance = await WebAssembly.instantiate(module, { env: { memory } });
      vectors.push(toHex(argon2idBlocks(
        { password: hex(v.password), salt: hex(v.salt), secret: hex(v.secret), ad: hex(v.ad), passes: v.t, memorySize: v.m, parallelism: v.p, tagLength: v.tagLength },
        { instance, memory },
      )));
    }
  }
  const pairs: [string, string][] = [];
  prepareArgon2idMemory(); // the first pair runs in the prepared memory, as a first unlock does
  for (const p of c.params) {
    const o = { password: hex(p.password), salt: hex(p.salt), iterations: p.t, memorySize: p.m, parallelism: p.p, hashLength: 32, outputType: 'binary' as const };
    pairs.push([toHex(await argon2id(o)), toHex(await hashWasm.argon2id(o))]);
  }
  const { loginKey } = await derivePassphraseKeys(c.passphrase, decodeKdfParams(c.kdf));
  const empty = { password: new Uint8Array(0), salt: new Uint8Array(16), iterations: 1, memorySize: 8, parallelism: 1, hashLength: 32, outputType: 'binary' as const };
  self.postMessage({
    wasmLoaded: module !== null,
    simdValid: simdUrl.startsWith('/') && WebAssembly.validate(await (await fetch(simdUrl)).arrayBuffer()),
    vectors, pairs, loginKey: toHex(loginKey),
    emptyPassword: [await failure(argon2id(empty)), await failure(hashWasm.argon2id(empty))],
  } satisfies Result);
};
