import { createEffect, createResource, createSignal, For, Match, on, onCleanup, onMount, Show, Switch, type JSX } from 'solid-js';
import * as facade from '../crypto/facade';
import type { Entry, VersionInfo } from '../crypto/types';
import { ApiError, describeError } from '../http';
import { downloadFile, pickFile, readAll } from './download';
import { formatDate, formatSize } from './format';
import { Icon } from './Icon';
import { focusRowAt, unfinished, type RowPart } from './List';

export function Dialog(props: { title: string; onClose: () => void; children: JSX.Element; wide?: boolean }) {
  let box!: HTMLDivElement;
  const previous = document.activeElement as HTMLElement | null;
  const key = (e: KeyboardEvent) => {
    if (e.key === 'Escape') { e.stopPropagation(); props.onClose(); return; }
    if (e.key !== 'Tab') return;
    // aria-modal does not stop Tab: keep it inside, from the last control round to the first.
    const items = Array.from(box.querySelectorAll<HTMLElement>('a[href], button, input, select, textarea'))
      .filter((el) => !(el as HTMLButtonElement).disabled && el.getClientRects().length > 0);
    const at = document.activeElement as HTMLElement | null;
    const edge = e.shiftKey ? items[0] : items[items.length - 1];
    if (items.length && (at === edge || !box.contains(at))) { e.preventDefault(); (e.shiftKey ? items[items.length - 1] : items[0])!.focus(); }
  };
  onMount(() => {
    document.addEventListener('keydown', key);
    const first = box.querySelector<HTMLElement>('input, select, textarea, button.primary, button');
    first?.focus();
  });
  // A row's buttons are made anew when its entry changes (a rename, a restored version), so the
  // opener may be gone by now: then focus goes to the same button of the same item's new row, or,
  // if the item left the folder (moved), to the row that took its place, rather than to <body>.
  const opener = previous?.closest<HTMLElement>('.row[data-id]');
  const rowId = opener?.dataset.id;
  const rowIndex = Number(opener?.dataset.index ?? 0);
  const part: RowPart = previous?.classList.contains('name') ? '.name' : '.icon';
  onCleanup(() => {
    document.removeEventListener('keydown', key);
    if (previous?.isConnected || !rowId) return void previous?.focus?.();
    const same = document.querySelector<HTMLElement>(`.row[data-id="${CSS.escape(rowId)}"] ${part}`);
    if (same) same.focus();
    else focusRowAt(rowIndex, part);
  });
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  return (
    <div class="overlay" onClick={(e) => { if (e.target === e.currentTarget) props.onClose(); }}>
      <div class="dialog" classList={{ wide: props.wide }} role="dialog" aria-modal="true" aria-labelledby={titleId} ref={box}>
        <h2 id={titleId}>{props.title}</h2>
        {props.children}
      </div>
    </div>
  );
}

export function NameDialog(props: { title: string; initial: string; action: string; onSubmit: (name: string) => Promise<void>; onClose: () => void }) {
  const [name, setName] = createSignal(props.initial);
  const [error, setError] = createSignal('');
  const [busy, setBusy] = createSignal(false);
  let input!: HTMLInputElement;
  onMount(() => {
    const dot = props.initial.lastIndexOf('.');
    input.setSelectionRange(0, dot > 0 ? dot : props.initial.length);
  });
  return (
    <Dialog title={props.title} onClose={props.onClose}>
      <form onSubmit={async (e) => {
        e.preventDefault();
        setBusy(true);
        setError('');
        try { await props.onSubmit(name().trim()); props.onClose(); } catch (err) { setError(describeError(err)); } finally { setBusy(false); }
      }}>
        <label for="name-input">Name</label>
        <input id="name-input" ref={input} type="text" required value={name()} onInput={(e) => setName(e.currentTarget.value)} />
        <p class="error" role="alert">{error()}</p>
        <div class="actions">
          <button type="button" onClick={props.onClose}>Cancel</button>
          <button type="submit" class="primary" disabled={busy() || !name().trim()}>{props.action}</button>
        </div>
      </form>
    </Dialog>
  );
}

/** Browse folders and pick a destination. */
export function MoveDialog(props: { entry: Entry; rootId: string; onMove: (targetId: string) => Promise<void>; onClose: () => void }) {
  const [at, setAt] = createSignal(props.rootId);
  const [path] = createResource(at, (id) => facade.call('path', id));
  const [folders] = createResource(at, async (id) => (await facade.call('list', id)).filter((e) => e.kind === 'folder' && e.id !== props.entry.id));
  const [error, setError] = createSignal('');
  let crumbs!: HTMLElement;
  // Going into a folder makes the list and the path anew, and the button pressed goes with them:
  // once both are in, the keyboard goes to the first subfolder, else to "Move here", else to the
  // folder's crumb, rather than to <body>.
  createEffect(on(() => path.state === 'ready' && folders.state === 'ready' && folders(), (list) => {
    const box = crumbs.closest<HTMLElement>('[role="dialog"]');
    if (!list || !box || box.contains(document.activeElement)) return;
    (box.querySelector<HTMLElement>('ul[aria-label="Folders"] button') ?? box.querySelector<HTMLElement>('button.primary:not(:disabled)')
      ?? crumbs.querySelector<HTMLElement>('li:last-child button'))?.focus();
  }, { defer: true }));
  return (
    <Dialog title={`Move “${props.entry.name}”`} onClose={props.onClose}>
      <nav class="crumbs" aria-label="Destination" ref={crumbs}>
        <ol>
          <For each={path() ?? []}>{(p) => <li><button type="button" onClick={() => setAt(p.id)}>{p.name}</button></li>}</For>
        </ol>
      </nav>
      <ul style={{ 'list-style': 'none', padding: 0, 'max-height': '40vh', overflow: 'auto' }} aria-label="Folders">
        <Show when={!folders.loading} fallback={<li class="hint">Loading…</li>}>
          <For each={folders() ?? []} fallback={<li class="hint">No subfolders.</li>}>
            {(f) => <li><button type="button" class="link" onClick={() => setAt(f.id)} aria-label={`Open folder ${f.name}`}><Icon kind="folder" mime="" name="" /> {f.name}</button></li>}
          </For>
        </Show>
      </ul>
      <p class="error" role="alert">{error()}</p>
      <div class="actions">
        <button type="button" onClick={props.onClose}>Cancel</button>
        <button type="button" class="primary" disabled={at() === props.entry.parentId} onClick={async () => {
          try { await props.onMove(at()); props.onClose(); } catch (err) { setError(describeError(err)); }
        }}>Move here</button>
      </div>
    </Dialog>
  );
}

export function ShareDialog(props: { entry: Entry; onClose: () => void }) {
  const [password, setPassword] = createSignal('');
  const [password2, setPassword2] = createSignal('');
  // Shown once a create was refused for it, then kept up to date as either field is typed in.
  const [checked, setChecked] = createSignal(false);
  const mismatch = () => checked() && password() !== password2();
  let repeat!: HTMLInputElement;
  const [expiry, setExpiry] = createSignal('0');
  const [limit, setLimit] = createSignal('');
  const [custom, setCustom] = createSignal('');
  const [url, setUrl] = createSignal('');
  const [error, setError] = createSignal('');
  const [busy, setBusy] = createSignal(false);
  const [copied, setCopied] = createSignal('');
  const create = async (e: Event) => {
    e.preventDefault();
    setError('');
    // A mistyped password would lock the recipient (and the sharer) out of the link for good.
    setChecked(true);
    if (mismatch()) return repeat.focus();
    setBusy(true);
    try {
      const hours = Number(expiry());
      const max = Number(limit());
      let expiresAt: number | null = hours > 0 ? Date.now() + hours * 3600_000 : null;
      if (expiry() === 'custom') {
        expiresAt = custom() ? new Date(custom()).getTime() : NaN;
        if (!Number.isFinite(expiresAt) || expiresAt <= Date.now()) throw new Error('Choose an expiry time in the future.');
      }
      const { linkId, secret } = await facade.call('createLink', props.entry.id, {
        password: password() || undefined,
        expiresAt,
        maxDownloads: max > 0 ? max : null,
      });
      setUrl(`${location.origin}/s/${linkId}#${secret}`);
      // The form, and its button that had the keyboard, gave way to the link: the link has it now
      // (selected, ready to copy; a screen reader reads its label).
      document.getElementById('share-url')?.focus();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Share “${props.entry.name}”`} onClose={props.onClose}>
      <Show when={!url()} fallback={
        <div>
          <label for="share-url">Link</label>
          <input id="share-url" type="text" readonly value={url()} onFocus={(e) => e.currentTarget.select()} />
          <p class="hint">The part after “#” is the key. It never reaches our server; anyone with the whole link{password() ? ' and the password' : ''} can open it.</p>
          <div class="actions">
            <span class="hint" role="status">{copied()}</span>
            <button type="button" onClick={async () => {
              try { await navigator.clipboard.writeText(url()); setCopied('Copied to the clipboard.'); } catch { setCopied('Copy failed; select the link and copy it by hand.'); }
            }}>Copy link</button>
            <button type="button" class="primary" onClick={props.onClose}>Done</button>
          </div>
        </div>
      }>
        <form onSubmit={create}>
          <label for="share-pw">Password (optional)</label>
          <input id="share-pw" type="password" autocomplete="new-password" value={password()} onInput={(e) => setPassword(e.currentTarget.value)} />
          <label for="share-pw2">Repeat password</label>
          <input id="share-pw2" ref={repeat} type="password" autocomplete="new-password" value={password2()} onInput={(e) => setPassword2(e.currentTarget.value)}
            aria-invalid={mismatch() ? 'true' : undefined} aria-describedby={mismatch() ? 'share-pw2-error' : undefined} />
          <p class="error" id="share-pw2-error" role="alert" aria-live="assertive">{mismatch() ? 'The passwords do not match.' : ''}</p>
          <label for="share-exp">Expires</label>
          <select id="share-exp" value={expiry()} onChange={(e) => setExpiry(e.currentTarget.value)}>
            <option value="0">Never</option>
            <option value="1">In 1 hour</option>
            <option value="24">In 1 day</option>
            <option value="168">In 7 days</option>
            <option value="720">In 30 days</option>
            <option value="custom">At a time I choose…</option>
          </select>
          <Show when={expiry() === 'custom'}>
            <label for="share-exp-at">Expiry time</label>
            <input id="share-exp-at" type="datetime-local" step="1" value={custom()} onInput={(e) => setCustom(e.currentTarget.value)} />
          </Show>
          <label for="share-max">Limit opens (optional)</label>
          <input id="share-max" type="number" min="1" step="1" aria-describedby="share-max-help" value={limit()} onInput={(e) => setLimit(e.currentTarget.value)} />
          <p class="hint" id="share-max-help">Each time the link is opened counts once; an open lets the recipient download everything it shows.</p>
          <p class="error" role="alert">{error()}</p>
          <div class="actions">
            <button type="button" onClick={props.onClose}>Cancel</button>
            <button type="submit" class="primary" disabled={busy()}>{busy() ? 'Creating…' : 'Create link'}</button>
          </div>
        </form>
      </Show>
    </Dialog>
  );
}

/** Nodes the change feed reported changed (`all`: anything may have), as Vault's live sync sees them. */
export interface Changed { ids: string[]; all: boolean }

export function VersionsDialog(props: {
  entry: Entry; changes: () => Changed; onRestored: (e: Entry) => void; onClose: () => void; onStatus: (s: string) => void;
}) {
  const [current, setCurrent] = createSignal(props.entry.version);
  const [versions, setVersions] = createSignal<VersionInfo[] | null>(null);
  /** `above`: the file is live, but a folder above it (`trashedAbove`) is in the trash. */
  const [gone, setGone] = createSignal<'' | 'trashed' | 'above' | 'deleted'>('');
  const [trashedAbove, setTrashedAbove] = createSignal('');
  const [error, setError] = createSignal('');
  let seq = 0;
  /** The folders above the file when last loaded (null before): a change to one is watched too. */
  let above: Set<string> | null = null;
  /**
   * The folders above the file as the server has them now, nearest the root first, the root left
   * out (it is never trashed); [] once the file is gone. The worker's path names them from what it
   * knows, which may be from before a move: each is fetched afresh, and the path is taken again
   * while the answers do not link up (the worker forgets what it fetches, so it asks again).
   */
  const foldersAbove = async (): Promise<Entry[]> => {
    const [file] = await facade.call('entries', [props.entry.id]);
    let fresh: (Entry | null)[] = [];
    for (let round = 0; file?.parentId && round < 3; round++) {
      const p = await facade.call('path', file.parentId);
      fresh = await facade.call('entries', p.slice(1).map((f) => f.id));
      if (fresh.every((f, i) => f?.parentId === p[i]!.id)) break;
    }
    return fresh.filter((f): f is Entry => !!f);
  };
  // A failure is shown, not thrown. Rows that did not change keep their object, so their DOM stays
  // and so does the keyboard's place: the list is loaded again on every change to the file.
  const load = async () => {
    const mine = ++seq;
    try {
      const [list, folders] = await Promise.all([facade.call('versions', props.entry.id), foldersAbove()]);
      if (mine !== seq) return;
      above = new Set(folders.map((f) => f.id));
      // The topmost: the one to restore first (the server refuses to restore one below it).
      const trashed = folders.find((f) => f.trashedAt !== null);
      setTrashedAbove(trashed?.name ?? '');
      const old = new Map((versions() ?? []).map((v) => [v.version, v]));
      const same = (v: VersionInfo, b?: VersionInfo) =>
        b && b.createdAt === v.createdAt && b.deviceId === v.deviceId && b.storedSize === v.storedSize && b.size === v.size;
      setVersions(list.versions.map((v) => (same(v, old.get(v.version)) ? old.get(v.version)! : v)));
      setCurrent(list.current);
      // A version from a device registered since the names were read (a new CLI login): read them again,
      // once per device, so that a removed device does not cost a request on every change.
      const unnamed = list.versions.flatMap((v) => (v.deviceId && !asked.has(v.deviceId) && !devices()?.[v.deviceId] ? [v.deviceId] : []));
      if (devices.state === 'ready' && unnamed.length) { unnamed.forEach((id) => asked.add(id)); void refetchDevices(); }
      setGone(list.trashed ? 'trashed' : trashed ? 'above' : '');
      setError('');
    } catch (err) {
      if (mine !== seq) return;
      if (err instanceof ApiError && err.status === 404) { setGone('deleted'); setVersions([]); setError(''); }
      else { setError(describeError(err)); if (!versions()) setVersions([]); }
    }
    // The table went with the file: the keyboard goes to Close rather than to the page's <body>.
    if (gone() && !closeButton.closest('[role="dialog"]')?.contains(document.activeElement)) closeButton.focus();
  };
  // Which device made a version, by the name it registered (a removed device is shown by its id).
  const [devices, { refetch: refetchDevices }] = createResource(() => facade.call('deviceNames').catch(() => ({} as Record<string, string>)));
  const asked = new Set<string>();
  const deviceOf = (id: string) => devices.latest?.[id] ?? `removed device ${id.slice(0, 8)}`;
  void load();
  // Another tab, device or the command line made a version, restored one, or trashed the file or a
  // folder above it (the feed names only the folder trashed, not what is inside it).
  createEffect(on(props.changes, (c) => {
    if (c.all || c.ids.includes(props.entry.id) || !above || c.ids.some((id) => above!.has(id))) void load();
  }, { defer: true }));
  let table!: HTMLTableElement;
  let closeButton!: HTMLButtonElement;
  return (
    <Dialog title={`Versions of “${props.entry.name}”`} onClose={props.onClose}>
      <p classList={{ banner: !!gone() }} role="status" data-testid="versions-gone">
        {gone() === 'trashed' ? `“${props.entry.name}” was moved to the trash. Restore it from the trash to see or restore its versions.`
          : gone() === 'above' ? `“${props.entry.name}” is in “${trashedAbove()}”, which was moved to the trash. Restore “${trashedAbove()}” from the trash to see or restore the file's versions.`
          : gone() === 'deleted' ? `“${props.entry.name}” was deleted, with all its versions.` : ''}
      </p>
      {/* Only the first load shows "Loading…": a reload after a change keeps the table (and the
          keyboard's place in it) until the new rows replace the old. */}
      <Show when={versions() && !gone()} fallback={<p hidden={!!gone()}>{error() ? '' : 'Loading…'}</p>}>
        {/* Wider than a phone: the table scrolls inside its own box, the dialog's title and buttons stay. */}
        <div style={{ 'overflow-x': 'auto' }}>
          <table aria-label="Versions" ref={table}>
            <thead><tr><th>Version</th><th>Time</th><th>Device</th><th>Size</th><th><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              <For each={versions() ?? []}>
                {(v) => (
                  <tr data-version={v.version}>
                    <td>{v.version}{v.version === current() ? ' (current)' : ''}</td>
                    <td>{formatDate(v.createdAt)}</td>
                    {/* The server records a device only when the client names one: the command line does,
                        the web vault (a browser, not a registered device) does not. */}
                    <td>{v.deviceId ? deviceOf(v.deviceId) : <span title="Not recorded: made in a web browser, or by a client that does not name its device">—</span>}</td>
                    {/* The file's own size, as the file list shows it; the stored size is padded (format §3). */}
                    <td>{v.size !== null ? formatSize(v.size)
                      : <span title="This version's real size could not be read: shown is the padded size stored on the server">{formatSize(v.storedSize)} stored</span>}</td>
                    <td class="version-actions">
                      <button type="button" class="link" aria-label={`Download version ${v.version}`} onClick={async () => {
                        const picked = pickFile(props.entry.name);
                        try { await downloadFile(props.entry.id, v.version, () => {}, picked); } catch (err) { setError(describeError(err)); }
                      }}>Download</button>
                      <Show when={v.version !== current()}>
                        <button type="button" class="link" aria-label={`Restore version ${v.version}`} onClick={async () => {
                          setError('');
                          try {
                            const e = await facade.call('restoreVersion', props.entry.id, v.version);
                            setCurrent(e.version);
                            props.onRestored(e);
                            props.onStatus(`Restored version ${v.version} as version ${e.version}.`);
                            await load();
                            table.querySelector<HTMLElement>(`tr[data-version="${v.version}"] button[aria-label^="Restore"]`)?.focus();
                          } catch (err) { setError(describeError(err)); }
                        }}>Restore</button>
                      </Show>
                    </td>
                  </tr>
                )}
              </For>
            </tbody>
          </table>
        </div>
      </Show>
      <p class="error" role="alert">{error()}</p>
      <div class="actions"><button type="button" class="primary" ref={closeButton} onClick={props.onClose}>Close</button></div>
    </Dialog>
  );
}

export const PREVIEW_LIMIT = 20 * 1024 * 1024;
export function previewKind(e: Entry): 'image' | 'text' | 'pdf' | null {
  if (e.kind !== 'file' || e.size > PREVIEW_LIMIT || unfinished(e)) return null;
  const ext = e.name.toLowerCase().split('.').pop() ?? '';
  if (/^image\/(png|jpeg|gif|webp|avif|bmp)$/.test(e.mime) || ['png', 'jpg', 'jpeg', 'gif', 'webp', 'avif'].includes(ext)) return 'image';
  if (e.mime === 'application/pdf' || ext === 'pdf') return 'pdf';
  if ((e.mime.startsWith('text/') || ['txt', 'md', 'json', 'csv', 'log', 'ts', 'js', 'css', 'html', 'xml', 'yml', 'yaml'].includes(ext)) && e.size <= 2 * 1024 * 1024) return 'text';
  return null;
}

export function PreviewDialog(props: { entry: Entry; onClose: () => void; download: () => void }) {
  const kind = previewKind(props.entry);
  let closed = false;
  // A failure is returned, not thrown: a resource in error re-throws wherever it is read (the
  // cleanup below too), and a throwing cleanup left the dialog open over the whole vault.
  const [state] = createResource(async () => {
    try {
      const blob = await readAll(await facade.call('download', props.entry.id, null));
      if (blob.size === 0 || kind === 'text') return { text: await blob.text(), url: '', error: '', empty: blob.size === 0 };
      const typed = new Blob([blob], { type: kind === 'pdf' ? 'application/pdf' : props.entry.mime || 'image/png' });
      const url = URL.createObjectURL(typed);
      if (closed) URL.revokeObjectURL(url); // closed while decrypting: nobody will show it
      return { text: '', url, error: '', empty: false };
    } catch (err) {
      return { text: '', url: '', error: describeError(err), empty: false };
    }
  });
  onCleanup(() => { closed = true; const u = state()?.url; if (u) URL.revokeObjectURL(u); });
  return (
    <Dialog title={props.entry.name} onClose={props.onClose} wide>
      <div class="preview">
        <Show when={state()} fallback={<p aria-busy="true">Decrypting…</p>}>
          {(s) => (
            <Switch>
              <Match when={s().error}><p class="error" role="alert">{s().error}</p></Match>
              <Match when={s().empty}><p class="hint">This file is empty.</p></Match>
              <Match when={kind === 'image'}><img src={s().url} alt={props.entry.name} /></Match>
              <Match when={kind === 'text'}><pre>{s().text}</pre></Match>
              <Match when={kind === 'pdf'}>
                <p class="hint">PDF files open in your browser's viewer.</p>
                <a href={s().url} target="_blank" rel="noopener">Open the PDF in a new tab</a>
              </Match>
            </Switch>
          )}
        </Show>
      </div>
      <div class="actions">
        <button type="button" onClick={props.download}>Download</button>
        <button type="button" class="primary" onClick={props.onClose}>Close</button>
      </div>
    </Dialog>
  );
}
