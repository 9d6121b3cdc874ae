import { Icon, ThemeButton } from './Icon';
import { createMemo, createSignal, For, Match, onCleanup, onMount, Show, Switch } from 'solid-js';
import * as facade from '../crypto/facade';
import type { Entry, ListingStats, SessionInfo } from '../crypto/types';
import { api, describeError, errorCode, isIntegrityError } from '../http';
import { MoveDialog, NameDialog, PreviewDialog, previewKind, ShareDialog, VersionsDialog, type Changed } from './Dialogs';
import { downloadFile, downloadFolder, pickFile } from './download';
import { formatDate, formatSize } from './format';
import { FileList, focusList, focusLost, mergeSorted, NODE_MIME, placeSorted, sortEntries, unfinished, type SortKey } from './List';
import { Devices } from './Devices';
import { Sessions } from './Sessions';
import { startSync, type SyncState } from './sync';
import { Tray } from './Tray';
import * as uploads from './uploads';

type View = 'files' | 'trash' | 'links' | 'sessions' | 'devices';
type DialogState =
  | { t: 'newfolder' } | { t: 'rename'; e: Entry } | { t: 'move'; e: Entry } | { t: 'share'; e: Entry }
  | { t: 'versions'; e: Entry } | { t: 'preview'; e: Entry } | { t: 'restore-as'; e: Entry } | null;

interface LinkRow { linkId: string; nodeId: string; createdAt: string | number; expiresAt: string | number | null; maxDownloads: number | null; downloads: number; revokedAt: string | number | null; hasPassword: boolean; nodeTrashed: boolean }

const ms = (v: string | number | null | undefined) => (v == null ? 0 : typeof v === 'number' ? v : Date.parse(v));

/** What a recipient gets from the link now, in the order the server checks (docs/api.md). */
const linkState = (l: LinkRow) =>
  l.revokedAt ? 'Revoked'
    : l.expiresAt && ms(l.expiresAt) <= Date.now() ? 'Expired'
    : l.maxDownloads !== null && l.downloads >= l.maxDownloads ? 'Limit reached'
    : l.nodeTrashed ? 'Item in trash'
    : 'Active';

/** "notes (2).txt" for "notes.txt": a name to suggest when the old one is taken. */
const otherName = (name: string) => {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? `${name.slice(0, dot)} (2)${name.slice(dot)}` : `${name} (2)`;
};

export function Vault(props: { info: SessionInfo; onLock: () => void; onLogout: () => void }) {
  const [view, setView] = createSignal<View>('files');
  const [folderId, setFolderId] = createSignal(props.info.rootNodeId);
  const [path, setPath] = createSignal<Entry[]>([]);
  const [entries, setEntries] = createSignal<Entry[]>([]);
  const [trash, setTrash] = createSignal<Entry[]>([]);
  const [links, setLinks] = createSignal<(LinkRow & { name: string })[]>([]);
  const [loading, setLoading] = createSignal(false);
  const [sortKey, setSortKey] = createSignal<SortKey>('name');
  const [sortDir, setSortDir] = createSignal<1 | -1>(1);
  const [status, setStatus] = createSignal('');
  /** Children of the last listing taken from the listing cache (for tests and the curious). */
  const [fromCache, setFromCache] = createSignal(0);
  const [alert, setAlert] = createSignal('');
  const [dialog, setDialog] = createSignal<DialogState>(null);
  const [menu, setMenu] = createSignal<{ e: Entry; x: number; y: number; anchor: HTMLElement } | null>(null);
  const [sync, setSync] = createSignal<SyncState>({ state: 'syncing', pending: 0 });
  const [dropping, setDropping] = createSignal(false);
  /** What the change feed last reported, for an open dialog to watch its own item. */
  const [changed, setChanged] = createSignal<Changed>({ ids: [], all: false }, { equals: false });
  let fileInput!: HTMLInputElement;
  let folderInput!: HTMLInputElement;
  let loadSeq = 0;
  /** The folder whose whole listing `entries` holds: none while one opens (it holds part of it). */
  let listedId: string | null = null;
  /**
   * While a folder opens: what changed meanwhile, by id, the entry as it now is or null when it
   * left (an upload done, a folder made, a rename, a change live sync reported). Its listing may
   * have been answered before them and would hide them, so they are laid over each batch shown and
   * over the finished list. Kept as entries, not ids to fetch again: they are known already, and
   * listing the folder again would cost a second full listing of what may be 10,000 entries.
   */
  let opening: Map<string, Entry | null> | null = null;
  /**
   * Counts every new state the list takes for an entry (upsert, drop), and notes per entry when it
   * last took one. Live sync's fetch of what changed can be answered with a state from before an
   * action this tab took meanwhile and has shown already (a move, rename, trash): it compares, and
   * fetches those entries again rather than undo the newer state with the older.
   */
  let placed = 0;
  const placedAt = new Map<string, number>();
  /** Live-sync fetches under way; `placedAt` is of use only to them. */
  let refreshing = 0;

  const sorted = createMemo(() => sortEntries(entries(), sortKey(), sortDir()));
  const say = (s: string) => { setAlert(''); setStatus(s); };

  /**
   * Storage used (encrypted, each chunk counted once) and the quota, as the server counts them:
   * read again a second after changes are reported or an upload ends, at most once a second.
   */
  const [usage, setUsage] = createSignal({ used: props.info.usedBytes ?? 0, quota: props.info.quotaBytes ?? 0 });
  let usageTimer: ReturnType<typeof setTimeout> | undefined;
  const refreshUsage = () => {
    usageTimer ??= setTimeout(() => {
      api<{ usedBytes: number; quotaBytes: number }>('/api/account').then(
        (a) => { usageTimer = undefined; setUsage({ used: a.usedBytes, quota: a.quotaBytes }); },
        () => { usageTimer = undefined; }, // shown as it was; the next change reads it again
      );
    }, 1000);
  };
  onCleanup(() => clearTimeout(usageTimer));
  const usageText = () => `${formatSize(usage().used)} of ${formatSize(usage().quota)} used`;
  const fail = (err: unknown) => { setStatus(''); setAlert(describeError(err)); };

  /**
   * Shows folder `id`; `note`, if given, goes to the status line instead of the item count. The
   * folder is the current one at once, with `trail` as its path when the caller knows it (opened
   * from the list, a crumb, up): while a big or slow folder opens, the path, the list and an
   * upload dropped meanwhile all mean the folder being opened, not the one left.
   */
  const load = async (id: string, note?: string, trail?: Entry[]) => {
    const seq = ++loadSeq;
    listedId = null;
    // Starts empty: this listing is answered after whatever was recorded so far, since a change
    // made here was done on the server first and one live sync reported was already in its feed.
    const changes = (opening = new Map<string, Entry | null>());
    if (id !== folderId()) setEntries([]);
    setFolderId(id);
    if (trail) setPath(trail);
    setLoading(true);
    setAlert('');
    try {
      // Batches are merged into an array kept in the current order as they arrive, and shown at
      // most once per frame; the finished list is then already sorted (no 10,000-name re-sort).
      let acc: Entry[] = [];
      let accOrder = '';
      let scheduled = false;
      let finished = false;
      const inOrder = () => {
        const order = `${sortKey()}${sortDir()}`;
        if (order !== accOrder) acc = mergeSorted([], acc, sortKey(), sortDir());
        accOrder = order;
      };
      // `acc` stays the listing as answered; what changed meanwhile goes over it when shown.
      const shown = () => {
        if (changes.size === 0) return acc;
        inOrder();
        const added = [...changes.values()].filter((e): e is Entry => !!e && e.parentId === id && !e.trashedAt);
        return mergeSorted(acc.filter((x) => !changes.has(x.id)), added, sortKey(), sortDir());
      };
      const h = facade.begin('browse', [id], (event) => {
        if (seq !== loadSeq) return;
        if (!Array.isArray(event)) {
          setFromCache((event as ListingStats).fromCache);
          return;
        }
        inOrder();
        acc = mergeSorted(acc, event as Entry[], sortKey(), sortDir());
        if (scheduled) return;
        scheduled = true;
        requestAnimationFrame(() => {
          scheduled = false;
          if (seq !== loadSeq || finished) return;
          setEntries(shown());
          setStatus(`Decrypting names: ${acc.length}…`);
        });
      });
      // Every batch arrives before the answer (one channel, in order): `acc` holds them all.
      const [, p] = await Promise.all([h.result, facade.call('path', id)]);
      finished = true;
      if (seq !== loadSeq) return;
      const list = shown();
      setEntries(list);
      setPath(p);
      listedId = id;
      say(note ?? `${p[p.length - 1]?.name ?? 'Folder'}: ${list.length} item${list.length === 1 ? '' : 's'}.`);
    } catch (err) {
      if (seq === loadSeq) fail(err);
    } finally {
      if (seq === loadSeq) {
        opening = null;
        setLoading(false);
      }
    }
  };

  /** Takes `id` off the list, and off the listing of the folder opening, if one is. */
  const drop = (id: string) => {
    opening?.set(id, null);
    if (refreshing) placedAt.set(id, ++placed);
    setEntries(placeSorted(sorted(), id, null, sortKey(), sortDir()));
  };

  /** Puts `e` in its place in the list (kept in the order shown), or takes it off if it left the folder. */
  const upsert = (e: Entry) => {
    opening?.set(e.id, e);
    if (refreshing) placedAt.set(e.id, ++placed);
    setEntries(placeSorted(sorted(), e.id, e.parentId === folderId() && !e.trashedAt ? e : null, sortKey(), sortDir()));
  };

  const openEntry = (e: Entry) => {
    if (e.kind === 'folder') {
      const trail = path();
      return void load(e.id, undefined, trail[trail.length - 1]?.id === e.parentId ? [...trail, e] : undefined);
    }
    if (previewKind(e)) setDialog({ t: 'preview', e });
    else download(e);
  };

  /** To the folder above; the keyboard lands on the folder just left (or the first row). */
  const goUp = async () => {
    const trail = path();
    const from = trail[trail.length - 1];
    if (trail.length < 2 || !from) return;
    await load(trail[trail.length - 2]!.id, undefined, trail.slice(0, -1));
    requestAnimationFrame(() => focusList(from.name));
  };

  /**
   * A crumb's folder: the keyboard, lost when the path's buttons were made anew, lands on the
   * folder just left (as going up does), or the first row.
   */
  const openCrumb = async (i: number) => {
    const trail = path();
    await load(trail[i]!.id, undefined, trail.slice(0, i + 1));
    if (focusLost()) focusList(trail[i + 1]?.name);
  };

  /** A file, or a folder as `<name>.zip` with everything live below it. */
  const download = (e: Entry) => {
    if (unfinished(e)) { setStatus(''); setAlert(`The upload of “${e.name}” did not finish; upload the file again to complete it.`); return; }
    const folder = e.kind === 'folder';
    const saved = folder ? `${e.name}.zip` : e.name;
    const picked = pickFile(saved); // needs the click's user activation, so before any await
    picked?.catch(() => {});
    void (async () => {
      say(folder ? `Collecting “${e.name}”…` : `Decrypting “${e.name}”…`);
      try {
        let last = 0;
        const progress = (done: number, total: number) => {
          const pct = total ? Math.floor((done / total) * 100) : 100;
          if (pct >= last + 5 || done === total) { last = pct; setStatus(`Downloading “${saved}”: ${pct} %`); }
        };
        const { size } = folder ? await downloadFolder(e.id, progress, picked) : await downloadFile(e.id, null, progress, picked);
        say(`Downloaded “${saved}” (${formatSize(size)}).`);
      } catch (err) {
        if ((err as Error).name === 'AbortError' || errorCode(err) === 'CANCELLED') return say('Download cancelled.');
        setStatus('');
        setAlert(isIntegrityError(err)
          ? folder
            ? `A file in “${e.name}” failed its integrity check, so “${saved}” was not saved: the stored data was altered or is incomplete.`
            : `“${e.name}” failed its integrity check and was not saved: the stored data was altered or is incomplete.`
          : `Download of “${saved}” failed: ${describeError(err)}`);
      }
    })();
  };

  const move = async (nodeId: string, targetId: string) => {
    const e = await facade.call('move', nodeId, targetId);
    drop(nodeId);
    say(`Moved “${e.name}”.`);
  };

  const doTrash = async (e: Entry) => {
    try {
      await api(`/api/nodes/${e.id}/trash`, { method: 'POST' });
      drop(e.id);
      say(`Moved “${e.name}” to the trash.`);
    } catch (err) { fail(err); }
  };

  /** `quiet`: a reload after a change, which leaves the status line to the action that made it. */
  const loadTrash = async (quiet = false) => {
    setLoading(true);
    try {
      // Rows that did not change keep their object, so their DOM stays and so does the keyboard's
      // place: a reload after every change (this tab's or another's) had dropped it to <body>.
      const old = new Map(trash().map((x) => [x.id, x]));
      const same = (now: Entry, before: Entry | undefined) =>
        before && before.name === now.name && before.trashedAt === now.trashedAt && before.size === now.size && before.kind === now.kind;
      const t = (await facade.call('trash')).map((x) => (same(x, old.get(x.id)) ? old.get(x.id)! : x));
      setTrash(t);
      if (!quiet) say(`Trash: ${t.length} item${t.length === 1 ? '' : 's'}.`);
    } catch (err) { fail(err); } finally { setLoading(false); }
  };

  const trashIndex = (e: Entry) => trash().findIndex((x) => x.id === e.id);

  /**
   * Takes `e` off the trash list; the keyboard moves on to the row that takes its place. `i` is
   * where `e` was before the request that took it out: by the time it is answered, live sync may
   * have reloaded the list without it already.
   */
  const dropFromTrash = (e: Entry, i: number) => {
    setTrash((t) => t.filter((x) => x.id !== e.id));
    requestAnimationFrame(() => {
      const at = document.activeElement;
      if (at && at !== document.body && at.isConnected && !at.closest('[role="dialog"]')) return;
      const rows = document.querySelectorAll<HTMLElement>('ul[aria-label="Trash"] li');
      (rows[Math.min(Math.max(i, 0), rows.length - 1)]?.querySelector('button') ?? document.querySelector<HTMLElement>('.toolbar button[aria-pressed="true"]'))?.focus();
    });
  };

  /** Out of the trash; when a live item has taken its name meanwhile, asks for another name. */
  const restoreFromTrash = async (e: Entry, name?: string) => {
    const at = trashIndex(e);
    try {
      const back = await facade.call('restore', e.id, name);
      // The name dialog closes first, handing focus back to this row's button, so that the row's
      // removal drops it and the next row takes it (a dialog still open kept it, then lost it).
      if (name !== undefined) setDialog(null);
      dropFromTrash(e, at);
      say(`Restored “${back.name}”.`);
    } catch (err) {
      if (name !== undefined) throw err; // the name dialog shows it
      if (errorCode(err) === 'NAME_TAKEN') setDialog({ t: 'restore-as', e });
      else fail(err);
    }
  };

  const loadLinks = async () => {
    setLoading(true);
    try {
      const { links: rows } = await api<{ links: LinkRow[] }>('/api/links');
      const ids = [...new Set(rows.map((r) => r.nodeId))];
      const names = new Map<string, string>();
      const opened = await facade.call('entries', ids).catch(() => ids.map(() => null));
      ids.forEach((id, i) => names.set(id, opened[i]?.name ?? '(deleted)'));
      setLinks(rows.map((r) => ({ ...r, name: names.get(r.nodeId) ?? '' })));
      say(`${rows.length} link${rows.length === 1 ? '' : 's'}.`);
    } catch (err) { fail(err); } finally { setLoading(false); }
  };

  const showView = (v: View) => {
    setView(v);
    if (v === 'trash') void loadTrash();
    else if (v === 'links') void loadLinks();
    else if (v === 'files') void load(folderId());
  };

  // ---- uploads ----
  // `listed`: each folder's children, listed once per upload ([] for a folder it made), so that a
  // folder uploaded again finds its subfolders and files at every depth: files get a new version.
  const childrenOf = async (id: string, listed: Map<string, Entry[]>): Promise<Entry[]> => {
    let list = listed.get(id);
    if (!list) { list = await facade.call('list', id); listed.set(id, list); }
    return list;
  };

  const childFolder = async (parentId: string, name: string, listed: Map<string, Entry[]>): Promise<string> => {
    const clean = name.normalize('NFC');
    const found = (await childrenOf(parentId, listed)).find((x) => x.kind === 'folder' && x.name === clean);
    if (found) return found.id;
    try {
      const e = await facade.call('createFolder', parentId, name);
      upsert(e);
      listed.set(e.id, []);
      return e.id;
    } catch (err) {
      if (errorCode(err) !== 'NAME_TAKEN') throw err;
      listed.delete(parentId); // made meanwhile elsewhere: list again
      const again = (await childrenOf(parentId, listed)).find((x) => x.kind === 'folder' && x.name === clean);
      if (!again) throw err;
      return again.id;
    }
  };

  /** Uploads into `base`, the folder current when the files were dropped or picked. */
  const uploadAll = async (items: { path: string[]; file: File }[], base = folderId()) => {
    const folders = new Map<string, string>([['', base]]);
    // The list stands for the listing once it is whole: part of it would miss a namesake to version.
    const listed = new Map<string, Entry[]>(base === listedId ? [[base, entries()]] : []);
    try {
      for (const { path: p, file } of items) {
        let parent = base;
        for (let i = 0; i < p.length; i++) {
          const key = p.slice(0, i + 1).join('/');
          let id = folders.get(key);
          if (!id) { id = await childFolder(parent, p[i]!, listed); folders.set(key, id); }
          parent = id;
        }
        const name = file.name.normalize('NFC');
        const existing = (await childrenOf(parent, listed)).find((x) => x.kind === 'file' && x.name === name)?.id ?? null;
        uploads.enqueue(file, parent, existing);
      }
      if (items.length) say(`Uploading ${items.length} file${items.length === 1 ? '' : 's'}…`);
    } catch (err) { fail(err); }
  };

  uploads.onUploadFinished((e, _parentId, unchanged) => { refreshUsage(); upsert(e); say(unchanged ? `“${e.name}” is unchanged: no new version.` : `Uploaded “${e.name}”.`); });

  const onDrop = async (ev: DragEvent) => {
    setDropping(false);
    if (!ev.dataTransfer || ev.dataTransfer.types.includes(NODE_MIME)) return;
    ev.preventDefault();
    if (view() !== 'files') return;
    const base = folderId(); // before reading a dropped folder's tree, which takes a while
    await uploadAll(await uploads.filesFromDrop(ev.dataTransfer), base);
  };

  onMount(() => {
    // Whatever had the keyboard (the unlock form, the recovery code's button) is gone: the list has it.
    void load(props.info.rootNodeId).then(() => { if (focusLost()) focusList(); });
    void uploads.loadInterrupted();
    const stop = startSync(props.info.cursor, setSync, async (ids, all) => {
      setChanged({ ids, all });
      refreshUsage();
      if (view() === 'trash') return void loadTrash(true);
      if (view() !== 'files') return;
      const trail = path();
      const whole = all || ids.length > 200;
      // After a resync anything may have changed: look at least at the folders on the path.
      const watched = whole ? trail.map((p) => p.id) : ids;
      refreshing++;
      try {
        let since = placed;
        let opened = await facade.call('entries', watched);
        const now = new Map(watched.map((id, i) => [id, opened[i] ?? null]));
        // The folder shown or one above it, changed in another window or on another device: if one
        // was trashed or deleted, go to the folder above the highest such; if one was only moved, the
        // folder shown still lives: show it again under its new path.
        const gone = trail.findIndex((p) => { const e = now.get(p.id); return now.has(p.id) && (!e || e.trashedAt !== null); });
        const moved = trail.findIndex((p, i) => i > 0 && now.has(p.id) && now.get(p.id)?.parentId !== trail[i - 1]!.id);
        if (path() === trail) { // not elsewhere meanwhile
          if (gone > 0) return void load(trail[gone - 1]!.id, `“${trail[gone]!.name}” was ${now.get(trail[gone]!.id) ? 'moved to the trash' : 'deleted'} in another window.`, trail.slice(0, gone));
          if (moved > 0) return void load(folderId(), `“${trail[moved]!.name}” was moved in another window.`);
          if (trail.some((p) => now.has(p.id))) setPath(trail.map((p) => now.get(p.id) ?? p)); // renamed
        }
        if (whole) return void load(folderId());
        // An entry placed here since the fetch began (an action's answer, an upload finished) may be
        // newer than what the fetch brought: fetched again, from now on, a few times at most (then
        // what was placed here stands: each time it came after the fetch).
        let refetch = ids;
        for (let round = 0; refetch.length > 0 && round < 3; round++) {
          if (round > 0) { since = placed; opened = await facade.call('entries', refetch); }
          const current = new Set(entries().map((x) => x.id));
          const again: string[] = [];
          refetch.forEach((id, i) => {
            if ((placedAt.get(id) ?? 0) > since) return void again.push(id);
            const e = opened[i];
            if (e) upsert(e);
            else if (current.has(id) || opening) drop(id);
          });
          refetch = again;
        }
      } finally {
        if (--refreshing === 0) placedAt.clear();
      }
    });
    const closeMenu = (ev: MouseEvent) => { if (!(ev.target as HTMLElement).closest('.menu, [aria-haspopup]')) setMenu(null); };
    document.addEventListener('click', closeMenu);
    onCleanup(() => { stop(); document.removeEventListener('click', closeMenu); });
  });
  onCleanup(() => uploads.abortAll());

  const openMenu = (e: Entry, anchor: HTMLElement) => {
    const r = anchor.getBoundingClientRect();
    setMenu({ e, x: Math.max(8, Math.min(r.right - 180, window.innerWidth - 190)), y: Math.min(r.bottom + 4, window.innerHeight - 300), anchor });
    // At once, not on the next frame: an arrow key pressed in between went to the list, not the menu.
    document.querySelector<HTMLButtonElement>('.menu button')?.focus();
  };
  // Focus goes back to the menu's button first, so that a dialog the action opens returns it there.
  const closeMenuTo = () => { const m = menu(); setMenu(null); m?.anchor.focus(); return m; };
  const act = (f: (e: Entry) => void) => () => { const m = closeMenuTo(); if (m) f(m.e); };

  // Only the state is spoken: the live region changes when the state does, so a screen reader hears
  // "Syncing" once, not every count that follows it (those are shown beside it, outside the region).
  const syncLabel = createMemo(() => {
    const s = sync().state;
    return s === 'synced' ? 'Synced' : s === 'offline' ? 'Offline — reconnecting' : s === 'paused' ? 'Sync paused — retrying' : 'Syncing';
  });

  return (
    <>
      <header class="top">
        <div class="brand"><img src="/favicon.svg" alt="" />Coffer</div>
        <span class={`sync ${sync().state}`} data-testid="sync-status">
          <span class="dot" aria-hidden="true" />
          <span><span role="status" aria-live="polite">{syncLabel()}</span>{sync().state === 'syncing' ? `${sync().pending ? ` ${sync().pending}` : ''}…` : ''}</span>
        </span>
        <span class="spacer" />
        <span class="hint" title={props.info.email}>{props.info.email}</span>
        <Show when={usage().quota > 0}>
          <span class="usage" classList={{ full: usage().used >= 0.9 * usage().quota }} data-testid="usage" title={usageText()}>
            <meter min="0" max={usage().quota} high={0.9 * usage().quota} value={usage().used} aria-label="Storage used" />
            <span class="hint usage-long">{usageText()}</span>
            <span class="hint usage-short" aria-hidden="true">{formatSize(usage().used)} / {formatSize(usage().quota)}</span>
          </span>
        </Show>
        <ThemeButton />
        <button type="button" onClick={props.onLock}>Lock</button>
        <button type="button" onClick={props.onLogout}>Log out</button>
      </header>
      <main
        class="vault"
        classList={{ 'drop-target': dropping() }}
        onDragOver={(ev) => { if (view() === 'files' && ev.dataTransfer?.types.includes('Files')) { ev.preventDefault(); setDropping(true); } }}
        onDragLeave={(ev) => { if (ev.currentTarget === ev.target) setDropping(false); }}
        onDrop={onDrop}
        data-testid="vault"
      >
        {/* For screen readers, which list a page by its headings: the view shown (the views' buttons say it on screen). */}
        <h1 class="sr-only">{{ files: 'Files', trash: 'Trash', links: 'Shared links', sessions: 'Sessions', devices: 'Devices' }[view()]}</h1>
        <div class="toolbar" role="toolbar" aria-label="Views">
          <button type="button" aria-pressed={view() === 'files'} onClick={() => showView('files')}>Files</button>
          <button type="button" aria-pressed={view() === 'trash'} onClick={() => showView('trash')}>Trash</button>
          <button type="button" aria-pressed={view() === 'links'} onClick={() => showView('links')}>Shared links</button>
          <button type="button" aria-pressed={view() === 'sessions'} onClick={() => showView('sessions')}>Sessions</button>
          <button type="button" aria-pressed={view() === 'devices'} onClick={() => showView('devices')}>Devices</button>
          <span class="spacer" />
          <Show when={view() === 'files'}>
            <button type="button" onClick={() => setDialog({ t: 'newfolder' })}>New folder</button>
            <button type="button" class="primary" onClick={() => fileInput.click()}>Upload files</button>
            <button type="button" onClick={() => folderInput.click()}>Upload folder</button>
          </Show>
          <input id="upload-files" ref={fileInput} class="sr-only" type="file" multiple tabindex="-1" aria-hidden="true"
            onChange={(e) => { const fs = Array.from(e.currentTarget.files ?? []); e.currentTarget.value = ''; void uploadAll(fs.map((file) => ({ path: [], file }))); }} />
          <input id="upload-folder" ref={folderInput} class="sr-only" type="file" multiple tabindex="-1" aria-hidden="true"
            {...{ webkitdirectory: true }}
            onChange={(e) => {
              const fs = Array.from(e.currentTarget.files ?? []);
              e.currentTarget.value = '';
              void uploadAll(fs.map((file) => ({ path: (file.webkitRelativePath || file.name).split('/').slice(0, -1), file })));
            }} />
        </div>

        <div class="status-line">
          <span role="status" aria-live="polite" data-testid="status" data-from-cache={fromCache()}>{status()}</span>
          <span class="error" role="alert" data-testid="alert">{alert()}</span>
        </div>

        <Switch>
          <Match when={view() === 'files'}>
            <nav class="crumbs" aria-label="Folder path">
              <ol>
                <For each={path()}>
                  {(p, i) => (
                    <li>
                      <button type="button" aria-current={i() === path().length - 1 ? 'page' : undefined}
                        onClick={() => void openCrumb(i())}
                        onDragOver={(ev) => { if (ev.dataTransfer?.types.includes(NODE_MIME)) ev.preventDefault(); }}
                        onDrop={(ev) => { const id = ev.dataTransfer?.getData(NODE_MIME); if (id) { ev.preventDefault(); ev.stopPropagation(); move(id, p.id).catch(fail); } }}
                      >{p.name}</button>
                    </li>
                  )}
                </For>
              </ol>
            </nav>
            <FileList
              entries={sorted()}
              label={`Contents of ${path()[path().length - 1]?.name ?? 'folder'}`}
              sortKey={sortKey()} sortDir={sortDir()}
              onSort={(k) => {
                if (k === sortKey()) setSortDir(sortDir() === 1 ? -1 : 1); else { setSortKey(k); setSortDir(1); }
                // Said, not only shown: a screen reader does not read out a header's aria-sort as it changes.
                say(`Sorted by ${{ name: 'name', size: 'size', mtime: 'date modified' }[k]}, ${sortDir() === 1 ? 'ascending' : 'descending'}.`);
              }}
              onOpen={openEntry}
              onMenu={openMenu}
              onDropNode={(id, target) => move(id, target.id).catch(fail)}
              onUp={() => void goUp()}
              draggable
              empty={loading() ? 'Decrypting…' : 'This folder is empty. Drop files here or use “Upload files”.'}
            />
          </Match>
          <Match when={view() === 'trash'}>
            <div class="list" style={{ padding: '8px' }}>
              <Show when={trash().length > 0} fallback={<p class="empty">{loading() ? 'Loading…' : 'The trash is empty.'}</p>}>
                <ul role="list" aria-label="Trash" style={{ 'list-style': 'none', margin: 0, padding: 0 }}>
                  <For each={trash()}>
                    {(e) => (
                      <li class="row" style={{ position: 'static' }} data-name={e.name}>
                        <span class="name"><Icon kind={e.kind} mime={e.mime} name={e.name} /><span class="label">{e.name}</span></span>
                        <span class="meta">{e.kind === 'folder' ? '—' : formatSize(e.size)}</span>
                        <span class="meta col-date">{formatDate(e.trashedAt ?? 0)}</span>
                        <button type="button" aria-label={`Restore ${e.name}`} onClick={() => void restoreFromTrash(e)}>Restore</button>
                        <button type="button" class="danger" aria-label={`Delete ${e.name} forever`} onClick={async () => {
                          if (!confirm(`Delete “${e.name}” forever? This cannot be undone.`)) return;
                          const at = trashIndex(e);
                          try { await api(`/api/nodes/${e.id}`, { method: 'DELETE' }); dropFromTrash(e, at); say(`Deleted “${e.name}” forever.`); } catch (err) { fail(err); }
                        }}>Delete</button>
                      </li>
                    )}
                  </For>
                </ul>
              </Show>
            </div>
          </Match>
          <Match when={view() === 'links'}>
            <div class="list" style={{ padding: '8px', overflow: 'auto' }}>
              <Show when={links().length > 0} fallback={<p class="empty">{loading() ? 'Loading…' : 'You have not shared anything yet.'}</p>}>
                <table class="links-table" aria-label="Shared links" style={{ width: '100%', 'border-spacing': '8px 6px' }}>
                  <thead><tr><th align="left">Item</th><th align="left">Opens</th><th align="left">Expires</th><th align="left">State</th><th><span class="sr-only">Actions</span></th></tr></thead>
                  <tbody>
                    <For each={links()}>
                      {(l) => (
                        <tr data-link={l.linkId}>
                          <td>{l.name}{l.hasPassword ? ' 🔒' : ''}</td>
                          <td>{l.downloads}{l.maxDownloads ? ` / ${l.maxDownloads}` : ''}</td>
                          <td>{l.expiresAt ? formatDate(ms(l.expiresAt)) : 'Never'}</td>
                          <td>{linkState(l)}</td>
                          <td>
                            <Show when={!l.revokedAt}>
                              <button type="button" class="danger" aria-label={`Revoke link to ${l.name}`} onClick={async () => {
                                try { await api(`/api/links/${l.linkId}`, { method: 'DELETE' }); say('Link revoked.'); void loadLinks(); } catch (err) { fail(err); }
                              }}>Revoke</button>
                            </Show>
                          </td>
                        </tr>
                      )}
                    </For>
                  </tbody>
                </table>
              </Show>
            </div>
          </Match>
          <Match when={view() === 'sessions'}>
            <Sessions say={say} fail={fail} />
          </Match>
          <Match when={view() === 'devices'}>
            <Devices say={say} fail={fail} />
          </Match>
        </Switch>
        {/* In main, so that it lies in a landmark as everything else does (it is drawn fixed, over the list). */}
        <Show when={menu()}>
          {(m) => (
            <div class="menu" role="menu" aria-label={`Actions for ${m().e.name}`} style={{ left: `${m().x}px`, top: `${m().y}px` }}
              onKeyDown={(ev) => {
                const items = Array.from((ev.currentTarget as HTMLElement).querySelectorAll<HTMLButtonElement>('button'));
                const i = items.indexOf(document.activeElement as HTMLButtonElement);
                const to: Record<string, number> = { ArrowDown: (i + 1) % items.length, ArrowUp: (i - 1 + items.length) % items.length, Home: 0, End: items.length - 1 };
                if (ev.key === 'Escape') closeMenuTo();
                // A menu is one stop for Tab: Tab closes it, and goes on from its button to the next control.
                else if (ev.key === 'Tab') closeMenuTo();
                else if (ev.key in to) { ev.preventDefault(); items[to[ev.key]!]?.focus(); }
              }}>
              <Show when={m().e.kind === 'folder' || previewKind(m().e)}>
                <button type="button" role="menuitem" tabindex="-1" onClick={act((e) => openEntry(e))}>{m().e.kind === 'folder' ? 'Open' : 'Preview'}</button>
              </Show>
              <button type="button" role="menuitem" tabindex="-1" onClick={act((e) => download(e))}>Download</button>
              <button type="button" role="menuitem" tabindex="-1" onClick={act((e) => setDialog({ t: 'rename', e: e }))}>Rename</button>
              <button type="button" role="menuitem" tabindex="-1" onClick={act((e) => setDialog({ t: 'move', e: e }))}>Move</button>
              <button type="button" role="menuitem" tabindex="-1" onClick={act((e) => setDialog({ t: 'share', e: e }))}>Share</button>
              <Show when={m().e.kind === 'file'}><button type="button" role="menuitem" tabindex="-1" onClick={act((e) => setDialog({ t: 'versions', e: e }))}>Versions</button></Show>
              <button type="button" role="menuitem" tabindex="-1" class="danger" onClick={act((e) => void doTrash(e))}>Move to trash</button>
            </div>
          )}
        </Show>
      </main>

      <Switch>
        <Match when={dialog()?.t === 'newfolder'}>
          <NameDialog title="New folder" initial="" action="Create" onClose={() => setDialog(null)}
            onSubmit={async (name) => { const e = await facade.call('createFolder', folderId(), name); upsert(e); say(`Created “${e.name}”.`); }} />
        </Match>
        <Match when={dialog()?.t === 'rename' && dialog()} keyed>
          {(d) => d && 'e' in d && (
            <NameDialog title={`Rename “${d.e.name}”`} initial={d.e.name} action="Rename" onClose={() => setDialog(null)}
              onSubmit={async (name) => { const e = await facade.call('rename', d.e.id, name); upsert(e); say(`Renamed to “${e.name}”.`); }} />
          )}
        </Match>
        <Match when={dialog()?.t === 'restore-as' && dialog()} keyed>
          {(d) => d && 'e' in d && (
            <NameDialog title={`“${d.e.name}” is taken in its folder: restore it as`} initial={otherName(d.e.name)} action="Restore"
              onClose={() => setDialog(null)} onSubmit={(name) => restoreFromTrash(d.e, name)} />
          )}
        </Match>
        <Match when={dialog()?.t === 'move' && dialog()} keyed>
          {(d) => d && 'e' in d && <MoveDialog entry={d.e} rootId={props.info.rootNodeId} onClose={() => setDialog(null)} onMove={(t) => move(d.e.id, t)} />}
        </Match>
        <Match when={dialog()?.t === 'share' && dialog()} keyed>
          {(d) => d && 'e' in d && <ShareDialog entry={d.e} onClose={() => setDialog(null)} />}
        </Match>
        <Match when={dialog()?.t === 'versions' && dialog()} keyed>
          {(d) => d && 'e' in d && <VersionsDialog entry={d.e} changes={changed} onClose={() => setDialog(null)} onRestored={upsert} onStatus={say} />}
        </Match>
        <Match when={dialog()?.t === 'preview' && dialog()} keyed>
          {(d) => d && 'e' in d && <PreviewDialog entry={d.e} onClose={() => setDialog(null)} download={() => { setDialog(null); download(d.e); }} />}
        </Match>
      </Switch>

      <Tray />
    </>
  );
}
