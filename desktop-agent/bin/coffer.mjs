#!/usr/bin/env node
// Entry point of the `coffer` command: runs the bundle of the TypeScript sources (bundle.mjs
// builds it when it is missing or older than a source). Should that fail (no esbuild), it runs the
// sources through tsx's ESM loader instead.
import { bundle } from './bundle.mjs';

const entry = await bundle().catch(() => null);
if (entry) {
  await import(entry);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/main.ts');
}
