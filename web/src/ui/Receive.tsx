// The public receive page, /s/<linkId>#<secret>: no account needed. The secret is read from the
// fragment and removed from the address bar at once; it never reaches the server.
import { createSignal, For, onCleanup, onMount, Show } from 'solid-js';
import * as facade from '../crypto/facade';
import type { Entry, KeptLinkAccess } from '../crypto/types';
import { ApiError, describeError, errorCode, isIntegrityError } from '../http';
import { downloadFile, downloadFolder, pickFile, registerDownloadWorker } from './download';
import { Icon, ThemeButton } from './Icon';
import { formatSize } from './format';

/** Answers after which the link never opens (a wrong key, or the server's refusals). */
const DEAD = ['AUTH_FAILED', 'LINK_NOT_FOUND', 'LINK_EXPIRED', 'LINK_EXHAUSTED', 'LINK_REVOKED'];

export function Receive() {
  const linkId = location.pathname.split('/')[2] ?? '';
  // Kept in sessionStorage, per link, so that a reload of this tab still opens the link once the
  // address bar has lost the fragment. sessionStorage is this tab's alone, is never sent to the
  // server and ends with the tab; the secret is removed sooner once the shared file is downloaded
  // or the link turns out dead.
  const kept = `coffer.link.${linkId}`;
  const secret = location.hash.slice(1) || sessionStorage.getItem(kept) || '';
  if (secret) sessionStorage.setItem(kept, secret);
  // Beside it, for a link without a password, the access the server gave this tab's open, so that
  // a reload does not count as another open. Forgotten with the secret.
  const keptAccess = `coffer.link.${linkId}.access`;
  const forget = () => { sessionStorage.removeItem(kept); sessionStorage.removeItem(keptAccess); };
  const readAccess = (): KeptLinkAccess | null => {
    try {
      const a = JSON.parse(sessionStorage.getItem(keptAccess) ?? 'null') as KeptLinkAccess | null;
      return a && typeof a.accessToken === 'string' && typeof a.expiresAt === 'string' && typeof a.payload === 'string' ? a : null;
    } catch {
      return null;
    }
  };
  // Remove the key from the address bar (and so from history and screenshots).
  history.replaceState(null, '', location.pathname);

  // 'retry': the link could not be opened for a passing reason (network, server, rate limit).
  const [phase, setPhase] = createSignal<'opening' | 'password' | 'retry' | 'ready' | 'error'>('opening');
  const [entry, setEntry] = createSignal<Entry | null>(null);
  const [children, setChildren] = createSignal<Entry[]>([]);
  const [trail, setTrail] = createSignal<Entry[]>([]);
  const browse = async (folder: Entry, path: Entry[]) => {
    setError('');
    try {
      setChildren(await facade.call('linkList', folder.id));
      setTrail(path);
    } catch (err) {
      setError(describeError(err));
    }
  };
  const [password, setPassword] = createSignal('');
  const [error, setError] = createSignal('');
  const [status, setStatus] = createSignal('');
  const [busy, setBusy] = createSignal(false);
  /** Seconds left before the server takes another attempt (RATE_LIMITED's Retry-After). */
  const [wait, setWait] = createSignal(0);
  let timer: ReturnType<typeof setInterval> | undefined;
  const holdOff = (seconds: number) => {
    clearInterval(timer);
    setWait(seconds);
    timer = setInterval(() => {
      setWait((s) => s - 1);
      if (wait() > 0) return;
      clearInterval(timer);
      setError('');
    }, 1000);
  };
  onCleanup(() => clearInterval(timer));

  const open = async (pw: string | null) => {
    setBusy(true);
    setError('');
    try {
      const info = await facade.call('openLink', linkId, secret, pw, readAccess());
      if (info.needPassword) { setPhase('password'); return; }
      if (info.access) sessionStorage.setItem(keptAccess, JSON.stringify(info.access));
      setEntry(info.entry ?? null);
      setPhase('ready');
      if (info.entry?.kind === 'folder') await browse(info.entry, [info.entry]);
    } catch (err) {
      const code = errorCode(err);
      setError(code === 'AUTH_FAILED' ? 'This link is incomplete or damaged: its key does not open it.'
        // The server answers so for a link whose item was deleted or is in the owner's trash too.
        : code === 'LINK_NOT_FOUND' ? 'This link does not exist, or what it shared was deleted or moved to the trash.'
        : describeError(err));
      if (code === 'PASSWORD_WRONG' || code === 'PASSWORD_REQUIRED') setPhase('password');
      else if (DEAD.includes(code)) { setPhase('error'); forget(); }
      else {
        // Passing: keep the password form (or offer to try again), after the wait the server asks.
        if (phase() !== 'password') setPhase('retry');
        if (code === 'RATE_LIMITED') holdOff((err instanceof ApiError && err.retryAfter) || 30);
      }
    } finally {
      setBusy(false);
    }
  };

  onMount(() => {
    void registerDownloadWorker();
    if (!/^[0-9a-f]{32}$/.test(linkId) || !secret) { setPhase('error'); setError('This link is incomplete: the part after “#” is missing.'); return; }
    void open(null);
  });

  const download = (e: Entry) => {
    const picked = pickFile(e.name);
    picked?.catch(() => {});
    void (async () => {
      setError('');
      setStatus(`Decrypting “${e.name}”…`);
      try {
        await downloadFile(e.id, null, (d, t) => setStatus(`Downloading “${e.name}”: ${t ? Math.floor((d / t) * 100) : 100} %`), picked, true);
        setStatus(`Downloaded “${e.name}”.`);
        if (e.id === entry()?.id) forget(); // the shared file, done: no reload needs the key
      } catch (err) {
        if ((err as Error).name === 'AbortError' || errorCode(err) === 'CANCELLED') return setStatus('Download cancelled.');
        setStatus('');
        setError(isIntegrityError(err) ? `“${e.name}” failed its integrity check and was not saved.` : describeError(err));
      }
    })();
  };

  /** Folder `f` (the shared one, or the one below it on view) and all below it, as `<name>.zip`. */
  const downloadAll = (f: Entry) => {
    const saved = `${f.name}.zip`;
    const picked = pickFile(saved); // needs the click's user activation, so before any await
    picked?.catch(() => {});
    void (async () => {
      setError('');
      setStatus(`Collecting “${f.name}”…`);
      try {
        await downloadFolder(f.id, (d, t) => setStatus(`Downloading “${saved}”: ${t ? Math.floor((d / t) * 100) : 100} %`), picked, true);
        setStatus(`Downloaded “${saved}”.`);
      } catch (err) {
        if ((err as Error).name === 'AbortError' || errorCode(err) === 'CANCELLED') return setStatus('Download cancelled.');
        setStatus('');
        setError(isIntegrityError(err) ? `A file in “${f.name}” failed its integrity check, so “${saved}” was not saved.` : describeError(err));
      }
    })();
  };

  return (
    <>
      <header class="top">
        <div class="brand"><img src="/favicon.svg" alt="" />Coffer</div>
        <span class="spacer" />
        <ThemeButton />
      </header>
      <main class="center">
        <div class="card" role="region" aria-labelledby="rcv-title">
          <h1 id="rcv-title">Shared with you</h1>
          <p class="hint">Decrypted in this tab; the key in the link never reaches the server.</p>
          <Show when={phase() === 'opening'}><p aria-busy="true">Opening the link…</p></Show>
          <Show when={phase() === 'password'}>
            <form onSubmit={(e) => { e.preventDefault(); void open(password()); }}>
              <label for="rcv-pw">This link needs a password</label>
              <input id="rcv-pw" type="password" autocomplete="off" required value={password()} onInput={(e) => setPassword(e.currentTarget.value)} />
              <div class="actions">
                <button class="primary" type="submit" disabled={busy() || wait() > 0}>{wait() > 0 ? `Try again in ${wait()} s` : busy() ? 'Checking…' : 'Open'}</button>
              </div>
            </form>
          </Show>
          <Show when={phase() === 'retry'}>
            <div class="actions">
              <button class="primary" type="button" disabled={busy() || wait() > 0} onClick={() => void open(null)}>{wait() > 0 ? `Try again in ${wait()} s` : 'Try again'}</button>
            </div>
          </Show>
          <Show when={phase() === 'ready' && entry()}>
            {(e) => (
              <div>
                <p style={{ 'font-size': '18px', 'word-break': 'break-word' }}>
                  <Icon kind={e().kind} mime={e().mime} name={e().name} />{' '}
                  <strong data-testid="shared-name">{e().name}</strong>
                  <Show when={e().kind === 'file'}> <span class="hint" data-testid="shared-size">({formatSize(e().size)})</span></Show>
                </p>
                <Show when={e().kind === 'file'}>
                  <div class="actions"><button type="button" class="primary" onClick={() => download(e())}>Download</button></div>
                </Show>
                <Show when={e().kind === 'folder'}>
                  <Show when={trail().length > 1}>
                    <nav class="crumbs" aria-label="Folder path">
                      <ol>
                        <For each={trail()}>
                          {(f, i) => <li><button type="button" onClick={() => void browse(f, trail().slice(0, i() + 1))}>{f.name}</button></li>}
                        </For>
                      </ol>
                    </nav>
                  </Show>
                  <div class="actions">
                    <button type="button" class="primary" onClick={() => downloadAll(trail()[trail().length - 1] ?? e())}>Download all (.zip)</button>
                  </div>
                  <ul style={{ 'list-style': 'none', padding: 0 }} aria-label="Shared folder contents">
                    <For each={children()} fallback={<li class="hint">Empty folder.</li>}>
                      {(c) => (
                        <li style={{ display: 'flex', gap: '8px', 'align-items': 'center', padding: '4px 0' }}>
                          <Icon kind={c.kind} mime={c.mime} name={c.name} />
                          <Show when={c.kind === 'folder'} fallback={<span style={{ flex: 1 }}>{c.name}</span>}>
                            <button type="button" class="link" style={{ flex: 1, 'text-align': 'left' }} onClick={() => void browse(c, [...trail(), c])}>{c.name}</button>
                          </Show>
                          <Show when={c.kind === 'file'}>
                            <span class="hint">{formatSize(c.size)}</span>
                            <button type="button" aria-label={`Download ${c.name}`} onClick={() => download(c)}>Download</button>
                          </Show>
                        </li>
                      )}
                    </For>
                  </ul>
                </Show>
              </div>
            )}
          </Show>
          <p role="status" aria-live="polite" data-testid="status">{status()}</p>
          <p class="error" role="alert" data-testid="alert">{error()}</p>
        </div>
      </main>
    </>
  );
}
