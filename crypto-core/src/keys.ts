// Branded key types: a Kek cannot be passed where a NodeSecret or AccountKey is expected.
import { assertBytes } from './bytes';

export type AccountKey = Uint8Array & { readonly __brand: 'AccountKey' };
export type Kek = Uint8Array & { readonly __brand: 'Kek' };
export type NodeSecret = Uint8Array & { readonly __brand: 'NodeSecret' };

export const KEY_BYTES = 32;

export function asAccountKey(b: Uint8Array): AccountKey {
  assertBytes('accountKey', b, KEY_BYTES);
  return b as AccountKey;
}

export function asKek(b: Uint8Array): Kek {
  assertBytes('kek', b, KEY_BYTES);
  return b as Kek;
}

export function asNodeSecret(b: Uint8Array): NodeSecret {
  assertBytes('secret', b, KEY_BYTES);
  return b as NodeSecret;
}
