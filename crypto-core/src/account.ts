// Accounts: the account key, the keys derived from it, and the key slots that store it
// (format §4.2, §4.3).
import { fail } from './errors';
import { assertBytes, assertString, concat, fromCrockford, idBytes, toCrockford, toHex, tryDecodeUtf8, utf8, wipe } from './bytes';
import { hkdf, importHmacKey, sha256, x25519PublicKey } from './primitives';
import { asAccountKey, asKek, KEY_BYTES, type AccountKey, type Kek } from './keys';
import { openAead, openHpke, RecordType, sealAead, sealHpke } from './record';
import { pad, unpad } from './padding';
import { randomBytes } from './random';
import { gearFromChunkingKey, type Gear } from './fastcdc';

const EMPTY = new Uint8Array(0);
export const ID_BYTES = 16; // format §1

export interface Vault {
  accountId: string;
  accountKey: AccountKey;
  /** X25519, 32 bytes. */
  accountPublicKey: Uint8Array;
}

/** What openVault derives from AK (format §4.2); never leaves this module family. */
export interface VaultInternals {
  accountIdBytes: Uint8Array;
  deviceNameKey: Uint8Array;
  accountPrivateKey: Uint8Array;
  chunkIdKey: CryptoKey;
  chunkKeyKey: CryptoKey;
  /** Raw forms of the two keys above, for synchronous HMAC and an injected backend. */
  chunkIdKeyBytes: Uint8Array;
  chunkKeyKeyBytes: Uint8Array;
  gear: Gear;
}

const internals = new WeakMap<Vault, VaultInternals>();

export function vaultInternals(vault: Vault): VaultInternals {
  const v = typeof vault === 'object' && vault !== null ? internals.get(vault) : undefined;
  if (!v) throw new TypeError('vault must be a Vault returned by openVault');
  return v;
}

export function randomId(): string {
  return toHex(randomBytes(ID_BYTES));
}

export function newAccount(): { accountId: string; accountKey: AccountKey } {
  return { accountId: randomId(), accountKey: asAccountKey(randomBytes(KEY_BYTES)) };
}

export async function openVault(accountId: string, accountKey: AccountKey): Promise<Vault> {
  const accountIdBytes = idBytes('accountId', accountId, ID_BYTES);
  assertBytes('accountKey', accountKey, KEY_BYTES);
  // format §4.2
  const accountPrivateKey = hkdf(accountKey, EMPTY, utf8('coffer/v1/account-x25519'), 32);
  const chunkIdKeyBytes = hkdf(accountKey, EMPTY, utf8('coffer/v1/chunk-id'), 32);
  const chunkKeyKeyBytes = hkdf(accountKey, EMPTY, utf8('coffer/v1/chunk-key'), 32);
  const chunkingKey = hkdf(accountKey, EMPTY, utf8('coffer/v1/chunking'), 32);
  try {
    // Frozen: the derived keys below are bound to these values.
    const vault: Vault = Object.freeze({ accountId, accountKey, accountPublicKey: x25519PublicKey(accountPrivateKey) });
    internals.set(vault, {
      accountIdBytes,
      deviceNameKey: hkdf(accountKey, EMPTY, utf8('coffer/v1/device-name'), 32), // format §4.4
      accountPrivateKey,
      chunkIdKey: await importHmacKey(chunkIdKeyBytes),
      chunkKeyKey: await importHmacKey(chunkKeyKeyBytes),
      chunkIdKeyBytes,
      chunkKeyKeyBytes,
      gear: gearFromChunkingKey(chunkingKey),
    });
    return vault;
  } finally {
    wipe(chunkingKey);
  }
}

// ---- key slots (format §4.3) ----

export type SlotKind = 'passphrase' | 'recovery' | 'prf';
const SLOT_LABEL: Record<SlotKind, string> = {
  passphrase: 'coffer/v1/slot/passphrase',
  recovery: 'coffer/v1/slot/recovery',
  prf: 'coffer/v1/slot/prf',
};
const CREDENTIAL_ID_HASH_BYTES = 32;

function slotContext(kind: SlotKind, accountId: string, binding: Uint8Array | undefined): Uint8Array {
  if (!(kind in SLOT_LABEL)) throw new TypeError("kind must be 'passphrase', 'recovery' or 'prf'");
  const id = idBytes('accountId', accountId, ID_BYTES);
  if (kind === 'prf') {
    // binding = credentialIdHash[32] (format §4.3)
    assertBytes('binding', binding, CREDENTIAL_ID_HASH_BYTES);
    return concat(utf8(SLOT_LABEL[kind]), id, binding);
  }
  if (binding !== undefined) throw new TypeError(`binding is only used for 'prf' slots`);
  return concat(utf8(SLOT_LABEL[kind]), id);
}

/** Type 0x01 key wrap: a 32-byte key under a KEK with context `label || binding` (format §2). */
export async function wrapKey(kek: Uint8Array, context: Uint8Array, key: Uint8Array): Promise<Uint8Array> {
  return sealAead(RecordType.keyWrap, kek, context, key);
}

export async function unwrapKey(kek: Uint8Array, context: Uint8Array, record: Uint8Array): Promise<Uint8Array> {
  const key = await openAead(RecordType.keyWrap, kek, context, record);
  if (key.length !== KEY_BYTES) fail('INVALID_KEY', 'wrapped key has the wrong length');
  return key;
}

/** Seals AK into a passphrase / recovery / prf slot. `binding` is the credentialIdHash for 'prf'. */
export async function sealSlot(vault: Vault, kind: SlotKind, kek: Kek, binding?: Uint8Array): Promise<Uint8Array> {
  vaultInternals(vault);
  assertBytes('kek', kek, KEY_BYTES);
  return wrapKey(kek, slotContext(kind, vault.accountId, binding), vault.accountKey);
}

export async function openSlot(accountId: string, kind: SlotKind, kek: Kek, record: Uint8Array, binding?: Uint8Array): Promise<AccountKey> {
  assertBytes('kek', kek, KEY_BYTES);
  assertBytes('record', record);
  return asAccountKey(await unwrapKey(kek, slotContext(kind, accountId, binding), record));
}

/** The KEK of a passkey slot from a WebAuthn PRF output (format §4.3). */
export function prfKek(prf: Uint8Array): Kek {
  assertBytes('prf', prf, 32);
  return asKek(hkdf(prf, EMPTY, utf8('coffer/v1/prf-kek'), 32));
}

/** credentialIdHash = SHA256(credential id), the binding of a passkey slot (format §4.3). */
export function credentialIdHash(credentialId: Uint8Array): Promise<Uint8Array> {
  assertBytes('credentialId', credentialId);
  return sha256(credentialId);
}

/** The login verifier the server stores: SHA256("coffer/v1/login-verifier" || loginKey) (format §4.1). */
export function loginVerifier(loginKey: Uint8Array): Promise<Uint8Array> {
  assertBytes('loginKey', loginKey, 32);
  return sha256(concat(utf8('coffer/v1/login-verifier'), loginKey));
}

// ---- recovery code (format §4.3) ----

const RECOVERY_CODE_BYTES = 20;

export function newRecoveryCode(): string {
  const code = randomBytes(RECOVERY_CODE_BYTES);
  try {
    return toCrockford(code).match(/.{4}/g)!.join('-');
  } finally {
    wipe(code);
  }
}

export async function recoveryKeys(code: string): Promise<{ kek: Kek; loginKey: Uint8Array }> {
  assertString('code', code);
  const bytes = fromCrockford(code, RECOVERY_CODE_BYTES);
  try {
    return {
      kek: asKek(hkdf(bytes, EMPTY, utf8('coffer/v1/recovery-kek'), 32)),
      loginKey: hkdf(bytes, EMPTY, utf8('coffer/v1/recovery-login'), 32),
    };
  } finally {
    wipe(bytes);
  }
}

// ---- devices (format §4.3) ----

export interface DeviceKeyPair { deviceId: string; publicKey: Uint8Array; privateKey: Uint8Array }

export function newDeviceKeyPair(): DeviceKeyPair {
  const privateKey = randomBytes(32);
  return { deviceId: randomId(), publicKey: x25519PublicKey(privateKey), privateKey };
}

function deviceContext(accountId: string, deviceId: string): Uint8Array {
  return concat(utf8('coffer/v1/slot/device'), idBytes('accountId', accountId, ID_BYTES), idBytes('deviceId', deviceId, ID_BYTES));
}

export async function sealDeviceSlot(vault: Vault, deviceId: string, devicePublicKey: Uint8Array): Promise<Uint8Array> {
  vaultInternals(vault);
  assertBytes('devicePublicKey', devicePublicKey, 32);
  return sealHpke(devicePublicKey, deviceContext(vault.accountId, deviceId), vault.accountKey);
}

export async function openDeviceSlot(accountId: string, device: DeviceKeyPair, record: Uint8Array): Promise<AccountKey> {
  if (typeof device !== 'object' || device === null) throw new TypeError('device must be a DeviceKeyPair');
  assertBytes('device.privateKey', device.privateKey, 32);
  assertBytes('record', record);
  const key = await openHpke(device.privateKey, deviceContext(accountId, device.deviceId), record);
  if (key.length !== KEY_BYTES) fail('INVALID_KEY', 'wrapped key has the wrong length');
  return asAccountKey(key);
}

// ---- device names (format §4.4) ----

const MAX_DEVICE_NAME_BYTES = 255;

function deviceNameContext(deviceId: string): Uint8Array {
  return concat(utf8('coffer/v1/device-name'), idBytes('deviceId', deviceId, ID_BYTES));
}

function checkDeviceName(name: string): Uint8Array {
  const bytes = utf8(name);
  if (bytes.length < 1 || bytes.length > MAX_DEVICE_NAME_BYTES || name.includes('\0')) {
    fail('METADATA_INVALID', 'device name must be 1–255 UTF-8 bytes without NUL');
  }
  return bytes;
}

/**
 * A key for what a client keeps on its own device and never sends (format §4.5): the web vault's
 * encrypted listing cache. 32 bytes, derived from the account key.
 */
export function localCacheKey(vault: Vault): Uint8Array {
  vaultInternals(vault);
  return hkdf(vault.accountKey, EMPTY, utf8('coffer/v1/local-cache'), 32);
}

/** Seals a device's display name for the server (record 0x07), readable by every device of the account. */
export async function sealDeviceName(vault: Vault, deviceId: string, name: string): Promise<Uint8Array> {
  const v = vaultInternals(vault);
  assertString('name', name);
  const body = pad(checkDeviceName(name.normalize('NFC')));
  return sealAead(RecordType.deviceName, v.deviceNameKey, deviceNameContext(deviceId), body);
}

export async function openDeviceName(vault: Vault, deviceId: string, record: Uint8Array): Promise<string> {
  const v = vaultInternals(vault);
  assertBytes('record', record);
  const body = await openAead(RecordType.deviceName, v.deviceNameKey, deviceNameContext(deviceId), record);
  const name = tryDecodeUtf8(unpad(body));
  if (name === null || name.normalize('NFC') !== name) fail('METADATA_INVALID', 'device name is not NFC UTF-8');
  checkDeviceName(name);
  return name;
}
