// Hooks for tests, benchmarks and the format-vector generator. Not part of the public API.
export { setRandomSource, type RandomSource } from './random';
export { encryptStreamWith } from './stream';
export { vaultInternals } from './account';
export { encodeManifest, decodeManifest } from './manifest';
export { pad, unpad } from './padding';
export { sealPaddedChunk } from './chunks';
export { checkHeader, RecordType } from './record';
export * as primitives from './primitives';
export { hpkeSeal, hpkeOpen, hpkeSteps, resetHpkeSuite } from './hpke';
export { referenceCut2016, referenceCut2020, referenceChunks, type Reference64Params } from './fastcdc-reference';
export { nodeInternals } from './node';
export { sealAead, openAead, sealHpke, openHpke } from './record';
