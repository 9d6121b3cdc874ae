#!/usr/bin/env node
// Entry point of the `coffer` command: runs the TypeScript source through tsx's ESM loader.
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
