// Sign-up, log-in and the per-command session: the account key is unsealed from the device slot
// with the device's private key, so no command but signup/login needs the passphrase.
import * as cc from '@coffer/crypto-core';
import type { DeviceKeyPair, Vault } from '@coffer/crypto-core';
import { hostname } from 'node:os';
import { ApiError, CliError, EXIT, isIntegrityFailure } from './errors.ts';
import { clearSession, clearUploads, loadSession, requireSession, saveSession, type Session } from './home.ts';
import { Api, normaliseServer } from './http.ts';
import { readSecret } from './secrets.ts';
import { ACCOUNT_SOURCE, b64, Tree, unb64 } from './tree.ts';

export const ROOT_NAME = 'Coffer';

export interface Context {
  api: Api;
  session: Session;
  vault: Vault;
  tree: Tree;
}

export async function openContext(): Promise<Context> {
  const { session, devicePrivateKey } = await requireSession();
  const device: DeviceKeyPair = {
    deviceId: session.deviceId,
    publicKey: unb64(session.devicePublicKey),
    privateKey: unb64(devicePrivateKey),
  };
  let accountKey;
  try {
    accountKey = await cc.openDeviceSlot(session.accountId, device, unb64(session.deviceSlot));
  } catch (err) {
    if (isIntegrityFailure(err) || (err as { code?: string }).code === 'INVALID_KEY') {
      throw new CliError('the device key does not open this session; run `coffer login` again', EXIT.AUTH);
    }
    throw err;
  }
  const vault = await cc.openVault(session.accountId, accountKey);
  const api = new Api(session.server, session.token);
  const tree = new Tree(api, ACCOUNT_SOURCE, vault, session.rootNodeId);
  return { api, session, vault, tree };
}

function requireOption(value: string | undefined, flag: string, env: string): string {
  const v = value ?? process.env[env];
  if (!v) throw new CliError(`missing ${flag} (or set ${env})`, EXIT.USAGE);
  return v;
}

/**
 * Seals the account key to a new device key pair and writes the session under COFFER_HOME. A session
 * kept there before is ended on its server: nothing holds its token any more.
 */
async function keepSession(server: string, email: string, vault: Vault, rootNodeId: string, token: string): Promise<Session> {
  const previous = await loadSession().catch(() => null);
  const device = cc.newDeviceKeyPair();
  const slot = await cc.sealDeviceSlot(vault, device.deviceId, device.publicKey);
  const session: Session = {
    server,
    email,
    accountId: vault.accountId,
    rootNodeId,
    token,
    deviceId: device.deviceId,
    deviceSlot: b64(slot),
    devicePublicKey: b64(device.publicKey),
  };
  await saveSession(session, b64(device.privateKey));
  device.privateKey.fill(0);
  // Register the device (sealed name, public key, slot) so it can be listed and removed from
  // other devices. Best effort: the session works without it.
  try {
    const api = new Api(server, token);
    await api.json('POST', '/api/devices', {
      body: {
        deviceId: device.deviceId,
        publicKey: b64(device.publicKey),
        name: b64(await cc.sealDeviceName(vault, device.deviceId, `coffer CLI on ${deviceLabel()}`)),
        slot: b64(slot),
      },
    });
  } catch (err) {
    process.stderr.write(`coffer: warning: could not register this device with the server (${(err as Error).message})\n`);
  }
  if (previous) {
    const old = previous.session;
    // Interrupted puts of another account or server cannot be resumed by this one.
    if (old.accountId !== session.accountId || old.server !== session.server) await clearUploads();
    if (!(await endRemote(old, { once: true }))) {
      process.stderr.write(
        `coffer: warning: could not end the session this folder held before (${old.email} on ${old.server}); ` +
        'end it from a logged-in device with `coffer sessions` and `coffer end-session ID`\n',
      );
    }
  }
  return session;
}

/**
 * Ends `session` on its server: removes its device, then logs it out. True when the server has no
 * such session left (ended now, or already gone).
 */
async function endRemote(session: Session, opts: { once?: boolean } = {}): Promise<boolean> {
  const api = new Api(session.server, session.token);
  try {
    await api.fetch('DELETE', `/api/devices/${session.deviceId}`, { accept: [401, 404], once: opts.once });
    await api.fetch('POST', '/api/auth/logout', { accept: [401], once: opts.once });
    return true;
  } catch {
    return false;
  }
}

export async function signup(opts: { server?: string; email?: string }): Promise<{ session: Session; recoveryCode: string }> {
  const server = normaliseServer(requireOption(opts.server, '--server URL', 'COFFER_SERVER'));
  const email = requireOption(opts.email, '--email ADDR', 'COFFER_EMAIL').trim();
  const passphrase = (await readSecret('COFFER_PASSPHRASE', 'New passphrase:', { confirm: true })).normalize('NFC');
  if (passphrase.length < 8) throw new CliError('the passphrase must have at least 8 characters', EXIT.USAGE);

  const { accountId, accountKey } = cc.newAccount();
  const vault = await cc.openVault(accountId, accountKey);
  const kdf = cc.newKdfParams();
  const { loginKey, passKek } = await cc.derivePassphraseKeys(passphrase, kdf);
  const recoveryCode = cc.newRecoveryCode();
  const recovery = await cc.recoveryKeys(recoveryCode);
  const root = cc.newNode();
  const rootKeys = await cc.nodeKeys(root.nodeId, root.secret);
  const body = {
    email,
    accountId,
    kdf: cc.encodeKdfParams(kdf),
    loginKey: b64(loginKey),
    recoveryLoginKey: b64(recovery.loginKey),
    accountPublicKey: b64(vault.accountPublicKey),
    slots: {
      passphrase: b64(await cc.sealSlot(vault, 'passphrase', passKek)),
      recovery: b64(await cc.sealSlot(vault, 'recovery', recovery.kek)),
    },
    root: {
      nodeId: root.nodeId,
      wrappedKey: b64(await cc.wrapNodeSecret(root.secret, root.nodeId, null, vault)),
      metadata: b64(await cc.sealMetadata(rootKeys, { name: ROOT_NAME, mime: '', size: 0, mtime: Date.now() })),
    },
    client: 'cli',
  };
  const api = new Api(server);
  let res: { accountId: string; rootNodeId: string; token?: string };
  try {
    res = await api.json('POST', '/api/auth/signup', { body });
  } catch (err) {
    if (err instanceof ApiError && err.code === 'EMAIL_TAKEN') {
      throw new CliError(`an account with this e-mail already exists on ${server}; use \`coffer login\``, EXIT.ERROR, err.code);
    }
    throw err;
  }
  let token = res.token;
  if (!token) {
    const login = await api.json<{ token?: string }>('POST', '/api/auth/login', { body: { email, loginKey: b64(loginKey), client: 'cli' } });
    token = login.token;
  }
  if (!token) throw new CliError('the server did not return a session token');
  const session = await keepSession(server, email, vault, res.rootNodeId ?? root.nodeId, token);
  return { session, recoveryCode };
}

export async function login(opts: { server?: string; email?: string; recovery?: boolean }): Promise<Session> {
  const server = normaliseServer(requireOption(opts.server, '--server URL', 'COFFER_SERVER'));
  const email = requireOption(opts.email, '--email ADDR', 'COFFER_EMAIL').trim();
  const api = new Api(server);
  let accountKey;
  let accountId: string;
  let token: string | undefined;
  if (opts.recovery) {
    const code = await readSecret('COFFER_RECOVERY_CODE', 'Recovery code:');
    const rk = await cc.recoveryKeys(code);
    const res = await authCall(() =>
      api.json<{ accountId: string; token?: string; slots?: { recovery?: string }; slot?: string; recoverySlot?: string }>(
        'POST', '/api/auth/recover', { body: { email, recoveryLoginKey: b64(rk.loginKey), client: 'cli' } }),
    );
    accountId = res.accountId;
    token = res.token;
    if (!token) throw new CliError('the server did not return a session token');
    api.setToken(token);
    const account = await api.json<{ slots: { recovery: string } }>('GET', '/api/account');
    accountKey = await openSlotOrFail(() => cc.openSlot(accountId, 'recovery', rk.kek, unb64(account.slots.recovery)));
  } else {
    const pre = await api.json<{ kdf: string }>('POST', '/api/auth/prelogin', { body: { email } });
    const kdf = cc.decodeKdfParams(pre.kdf);
    const passphrase = (await readSecret('COFFER_PASSPHRASE', 'Passphrase:')).normalize('NFC');
    const { loginKey, passKek } = await cc.derivePassphraseKeys(passphrase, kdf);
    const res = await authCall(() =>
      api.json<{ accountId: string; token?: string }>('POST', '/api/auth/login', { body: { email, loginKey: b64(loginKey), client: 'cli' } }),
    );
    accountId = res.accountId;
    token = res.token;
    if (!token) throw new CliError('the server did not return a session token');
    api.setToken(token);
    const account = await api.json<{ slots: { passphrase: string } }>('GET', '/api/account');
    accountKey = await openSlotOrFail(() => cc.openSlot(accountId, 'passphrase', passKek, unb64(account.slots.passphrase)));
  }
  const account = await api.json<{ rootNodeId: string }>('GET', '/api/account');
  const vault = await cc.openVault(accountId, accountKey);
  return keepSession(server, email, vault, account.rootNodeId, token);
}

async function authCall<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.code === 'LOGIN_FAILED')) {
      throw new CliError('log-in failed: wrong e-mail or passphrase', EXIT.AUTH, err.code);
    }
    throw err;
  }
}

async function openSlotOrFail<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (isIntegrityFailure(err)) throw new CliError('the key slot does not open with this secret', EXIT.AUTH, err.code);
    throw err;
  }
}

export async function logout(): Promise<boolean> {
  let had = false;
  try {
    const { session } = await requireSession();
    had = true;
    await endRemote(session);
  } catch {
    /* no session */
  }
  await clearSession();
  return had;
}

export function deviceLabel(): string {
  return hostname().split('.')[0] || 'cli';
}
