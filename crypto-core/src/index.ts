// @coffer/crypto-core public API (crypto-core/API.md). Byte format: docs/format.md.
export { CofferCryptoError, type CryptoErrorCode } from './errors';
export { toHex, fromHex, toBase64Url, fromBase64Url, constantTimeEqual } from './bytes';
export type { AccountKey, Kek, NodeSecret } from './keys';
export { newKdfParams, encodeKdfParams, decodeKdfParams, derivePassphraseKeys, type KdfParams } from './kdf';
export { KDF_MAX_M, KDF_MAX_T, KDF_MIN_M, KDF_MIN_T } from './kdf';
export {
  randomId, newAccount, openVault, sealSlot, openSlot, prfKek, credentialIdHash, loginVerifier,
  newRecoveryCode, recoveryKeys, newDeviceKeyPair, sealDeviceSlot, openDeviceSlot, sealDeviceName, openDeviceName,
  localCacheKey, type Vault, type SlotKind, type DeviceKeyPair,
} from './account';
export {
  newNode, nodeKeys, wrapNodeSecret, unwrapNodeSecret, sealMetadata, openMetadata, nameHash, validateName,
  openChildren, type NodeKeys, type Metadata, type ChildRecord, type OpenedChild,
} from './node';
export { chunkIdOf, decryptChunk, storedLengthOf, type ManifestEntry } from './chunks';
export { sealManifest, openManifest, type Manifest } from './manifest';
export { encryptStream, decryptStream, type EncryptedChunk, type EncryptOptions } from './stream';
export { BufferPool } from './buffer-pool';
export { createChunker, cutPoints, gearFromChunkingKey, CHUNK_PARAMS, type Chunker, type ChunkParams, type Gear } from './fastcdc';
export { padLen, padme } from './padding';
export { createLink, linkKeys, linkChallengeResponse, openLinkPayload, type CreatedLink } from './link';
export { setCryptoBackend, type CryptoBackend, type ChunkJob, type SealedChunk } from './backend';
