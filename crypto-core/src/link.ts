// Share links (format §8).
import { fail } from './errors';
import { assertBytes, assertString, concat, fromBase64Url, idBytes, toBase64Url, toHex, utf8, wipe } from './bytes';
import { hkdf, hmacSha256Sync } from './primitives';
import { asNodeSecret, KEY_BYTES, type NodeSecret } from './keys';
import { ID_BYTES, randomId } from './account';
import { argon2idFromText, newKdfParams, type KdfParams } from './kdf';
import { openAead, RecordType, sealAead } from './record';
import { randomBytes } from './random';

const LINK_SECRET_BYTES = 32;
const CHALLENGE_BYTES = 32;

export interface CreatedLink {
  linkId: string;
  /** base64url of S; goes only in the URL fragment. */
  secret: string;
  payload: Uint8Array;
  kdf?: KdfParams;
  /** The password check value the server stores (password links only). */
  authKey?: Uint8Array;
}

const payloadContext = (linkId: Uint8Array) => concat(utf8('coffer/v1/link'), linkId); // format §2

async function deriveLinkKeys(linkId: Uint8Array, s: Uint8Array, password: string | undefined, kdf: KdfParams | undefined):
  Promise<{ linkKey: Uint8Array; authKey?: Uint8Array }> {
  if (password === undefined) return { linkKey: hkdf(s, linkId, utf8('coffer/v1/link-key'), 32) };
  if (kdf === undefined) throw new TypeError('kdf is required with a password');
  const pw = await argon2idFromText(password, kdf);
  const ikm = concat(s, pw);
  try {
    return {
      linkKey: hkdf(ikm, linkId, utf8('coffer/v1/link-key-pw'), 32),
      authKey: hkdf(pw, linkId, utf8('coffer/v1/link-auth'), 32),
    };
  } finally {
    wipe(pw, ikm);
  }
}

export async function createLink(node: { nodeId: string; secret: NodeSecret }, password?: string): Promise<CreatedLink> {
  if (typeof node !== 'object' || node === null) throw new TypeError('node must be { nodeId, secret }');
  const nodeIdBytes = idBytes('node.nodeId', node.nodeId, ID_BYTES);
  assertBytes('node.secret', node.secret, KEY_BYTES);
  if (password !== undefined) assertString('password', password);
  const linkId = randomId();
  const linkIdBytes = idBytes('linkId', linkId, ID_BYTES);
  const s = randomBytes(LINK_SECRET_BYTES);
  const kdf = password === undefined ? undefined : newKdfParams();
  const { linkKey, authKey } = await deriveLinkKeys(linkIdBytes, s, password, kdf);
  const pt = concat(nodeIdBytes, node.secret);
  try {
    const payload = await sealAead(RecordType.linkPayload, linkKey, payloadContext(linkIdBytes), pt);
    const link: CreatedLink = { linkId, secret: toBase64Url(s), payload };
    if (kdf) link.kdf = kdf;
    if (authKey) link.authKey = authKey;
    return link;
  } finally {
    wipe(s, linkKey, pt);
  }
}

/** Keys from the fragment (and the password with the server's kdfParams, for password links). */
export async function linkKeys(linkId: string, secret: string, password?: string, kdf?: KdfParams):
  Promise<{ linkKey: Uint8Array; authKey?: Uint8Array }> {
  const linkIdBytes = idBytes('linkId', linkId, ID_BYTES);
  assertString('secret', secret);
  if (password !== undefined) assertString('password', password);
  const s = fromBase64Url(secret);
  if (s.length !== LINK_SECRET_BYTES) fail('INVALID_ENCODING', 'link secret must be 32 bytes');
  try {
    return await deriveLinkKeys(linkIdBytes, s, password, kdf);
  } finally {
    wipe(s);
  }
}

/** HMAC(authKey, "coffer/v1/link-challenge" || linkId || c) (format §8). */
export async function linkChallengeResponse(authKey: Uint8Array, linkId: string, challenge: Uint8Array): Promise<Uint8Array> {
  assertBytes('authKey', authKey, 32);
  assertBytes('challenge', challenge, CHALLENGE_BYTES);
  return hmacSha256Sync(authKey, concat(utf8('coffer/v1/link-challenge'), idBytes('linkId', linkId, ID_BYTES), challenge));
}

export async function openLinkPayload(linkId: string, linkKey: Uint8Array, payload: Uint8Array): Promise<{ nodeId: string; secret: NodeSecret }> {
  const linkIdBytes = idBytes('linkId', linkId, ID_BYTES);
  assertBytes('linkKey', linkKey, 32);
  assertBytes('payload', payload);
  const pt = await openAead(RecordType.linkPayload, linkKey, payloadContext(linkIdBytes), payload);
  if (pt.length !== ID_BYTES + KEY_BYTES) fail('INVALID_KEY', 'link payload has the wrong length');
  return { nodeId: toHex(pt.subarray(0, ID_BYTES)), secret: asNodeSecret(pt.slice(ID_BYTES)) };
}
