// The CLI end to end on the embedded default backend (PGlite + folder blob store).
import { describe } from 'vitest';
import { embeddedBackend } from './helpers.ts';
import { defineCliSuite } from './suite.ts';

describe('coffer CLI against a server with the embedded database and folder blob store', () => {
  defineCliSuite(embeddedBackend);
});
