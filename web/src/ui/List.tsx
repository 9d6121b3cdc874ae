// A virtualised file list: only the rows in view (plus a margin) exist in the DOM, so a folder of
// 10,000 entries renders as fast as one of 30. Rows are real buttons; arrow keys move between rows.
import { Icon } from './Icon';
import { createEffect, createMemo, createSignal, For, on, onCleanup, onMount, Show } from 'solid-js';
import type { Entry } from '../crypto/types';
import { formatDate, formatSize } from './format';

export const ROW = 44;
export type SortKey = 'name' | 'size' | 'mtime';
export const NODE_MIME = 'application/x-coffer-node';
/** A row's two buttons: its name (opens) and its actions (the menu). */
export type RowPart = '.name' | '.icon';

/**
 * Gives the keyboard to the file list: the row named `name` if it is in view, else the first row,
 * else the empty folder's note (where Backspace still goes up). For a view just opened.
 */
export function focusList(name?: string): void {
  const scroll = document.querySelector<HTMLElement>('.list .scroll');
  const target = (name !== undefined ? scroll?.querySelector<HTMLElement>(`.row[data-name="${CSS.escape(name)}"] .name`) : null)
    ?? scroll?.querySelector<HTMLElement>('.row .name') ?? scroll?.querySelector<HTMLElement>('.empty');
  target?.focus();
}

/**
 * Gives the keyboard to the row at `index` (or the last, if the list is now shorter), on its
 * `part`: the row that took the place of one that left. The empty folder's note if none is left.
 */
export function focusRowAt(index: number, part: RowPart): void {
  const rows = [...document.querySelectorAll<HTMLElement>('.list .scroll .row[data-index]')];
  const at = rows.find((r) => Number(r.dataset.index) === index)
    ?? rows.filter((r) => Number(r.dataset.index) < index).sort((x, y) => Number(y.dataset.index) - Number(x.dataset.index))[0];
  (at?.querySelector<HTMLElement>(part) ?? document.querySelector<HTMLElement>('.list .scroll .empty'))?.focus();
}

/** True when the keyboard is nowhere: on the page's <body> (where removing the focused element leaves it). */
export const focusLost = () => !document.activeElement || document.activeElement === document.body;

/** A file whose upload never committed (stopped by a lock, a closed tab): a node with no version yet. */
export const unfinished = (e: Entry) => e.kind === 'file' && e.version === 0 && !e.error;

// The row's name as a screen reader says it, one string: an sr-only span beside the label was read
// with a stray space ("alpha , folder").
const spoken = (e: Entry) => `${e.name}${e.error ? ' (cannot decrypt)' : ''}, ${
  e.kind === 'folder' ? 'folder' : unfinished(e) ? 'file, upload not finished' : `file, ${formatSize(e.size)}`}`;

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** Folders first, then by `key` (names break ties), `dir` 1 ascending or -1 descending. */
export function compareEntries(key: SortKey, dir: 1 | -1): (a: Entry, b: Entry) => number {
  return (a, b) => {
    if (a.kind !== b.kind) return a.kind === 'folder' ? -1 : 1;
    let c = 0;
    if (key === 'size') c = a.size - b.size;
    else if (key === 'mtime') c = a.mtime - b.mtime;
    if (c === 0) c = collator.compare(a.name, b.name);
    return c * dir;
  };
}

// Arrays already in order for a key and direction (built by mergeSorted), so sortEntries can hand
// them back as they are instead of sorting 10,000 names again.
const inOrder = new WeakMap<Entry[], string>();

export function sortEntries(list: Entry[], key: SortKey, dir: 1 | -1): Entry[] {
  if (inOrder.get(list) === `${key}${dir}`) return list;
  const out = [...list].sort(compareEntries(key, dir));
  inOrder.set(out, `${key}${dir}`);
  return out;
}

/**
 * `list` in order for key and dir, without the entry whose id is `id` and with `e` (its new state,
 * or a new entry) where it belongs; the ordered list itself when nothing changes. A list already in
 * that order (made by sortEntries, mergeSorted or this) costs one pass and a binary search, not a
 * sort of 10,000 names for each upload finished or change synced. `e` goes after the entries it ties
 * with, where appending it and sorting again (a stable sort) put it.
 */
export function placeSorted(list: Entry[], id: string, e: Entry | null, key: SortKey, dir: 1 | -1): Entry[] {
  const sorted = sortEntries(list, key, dir); // as it is, unless it is in another order
  const at = sorted.findIndex((x) => x.id === id);
  if (at === -1 && !e) return sorted;
  const out = at === -1 ? [...sorted] : sorted.filter((_, i) => i !== at);
  if (e) {
    const cmp = compareEntries(key, dir);
    let lo = 0;
    let hi = out.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cmp(out[mid]!, e) <= 0) lo = mid + 1;
      else hi = mid;
    }
    out.splice(lo, 0, e);
  }
  inOrder.set(out, `${key}${dir}`);
  return out;
}

/**
 * `sorted` (in order for key and dir) with `batch` merged in: sorting the batch and one merge pass
 * cost far less than sorting everything again, so a folder that arrives in batches is sorted as it
 * comes and is in order the moment its last batch lands.
 */
export function mergeSorted(sorted: Entry[], batch: Entry[], key: SortKey, dir: 1 | -1): Entry[] {
  const cmp = compareEntries(key, dir);
  const b = [...batch].sort(cmp);
  const out = new Array<Entry>(sorted.length + b.length);
  let i = 0, j = 0, k = 0;
  while (i < sorted.length && j < b.length) out[k++] = cmp(b[j]!, sorted[i]!) < 0 ? b[j++]! : sorted[i++]!;
  while (i < sorted.length) out[k++] = sorted[i++]!;
  while (j < b.length) out[k++] = b[j++]!;
  inOrder.set(out, `${key}${dir}`);
  return out;
}

export function FileList(props: {
  entries: Entry[];
  label: string;
  sortKey: SortKey;
  sortDir: 1 | -1;
  onSort: (k: SortKey) => void;
  onOpen: (e: Entry) => void;
  onMenu: (e: Entry, anchor: HTMLElement) => void;
  onDropNode?: (nodeId: string, target: Entry) => void;
  /** Backspace or Alt+ArrowUp: to the folder above, as file managers do. */
  onUp?: () => void;
  draggable?: boolean;
  empty: string;
}) {
  let scroller!: HTMLDivElement;
  const [top, setTop] = createSignal(0);
  const [height, setHeight] = createSignal(600);
  const [dropOn, setDropOn] = createSignal<string | null>(null);

  onMount(() => {
    setHeight(scroller.clientHeight || 600);
    const ro = new ResizeObserver(() => setHeight(scroller.clientHeight || 600));
    ro.observe(scroller);
    onCleanup(() => ro.disconnect());
  });

  const range = createMemo(() => {
    const first = Math.max(0, Math.floor(top() / ROW) - 8);
    const last = Math.min(props.entries.length, Math.ceil((top() + height()) / ROW) + 8);
    return { first, last };
  });
  // Stable Entry references, so scrolling re-uses the rows already in the DOM.
  const visible = createMemo(() => props.entries.slice(range().first, range().last));

  /** Row `i` (the nearest there is), scrolled into view, gets the keyboard on its `part`; an empty list's note gets it. */
  const focusRow = (i: number, part: RowPart = '.name') => {
    const n = props.entries.length;
    if (n === 0) return void scroller.querySelector<HTMLElement>('.empty')?.focus();
    const idx = Math.max(0, Math.min(n - 1, i));
    const y = idx * ROW;
    if (y < scroller.scrollTop) scroller.scrollTop = y;
    else if (y + ROW > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = y + ROW - scroller.clientHeight;
    setTop(scroller.scrollTop);
    requestAnimationFrame(() => scroller.querySelector<HTMLButtonElement>(`[data-index="${idx}"] ${part}`)?.focus());
  };

  // Where the keyboard is in the list. A row is made anew when its entry changes (a rename, a
  // restored version, live sync fetching it again) and goes when its entry leaves the folder
  // (trashed, moved, here or in another window); the empty folder's note goes when a first entry
  // comes. Each takes the focus with it to <body>, from where the next Tab starts at the top of the
  // page. So the list puts it back: on the same button of the item's new row, else on the row that
  // took the old one's place.
  let held: { el: HTMLElement; id?: string; part: RowPart } | null = null;
  const onFocusIn = (ev: FocusEvent) => {
    const el = ev.target as HTMLElement;
    held = { el, id: el.closest<HTMLElement>('.row[data-id]')?.dataset.id, part: el.classList.contains('icon') ? '.icon' : '.name' };
  };
  const onFocusOut = (ev: FocusEvent) => {
    if (scroller.contains(ev.relatedTarget as Node | null)) return;
    // Gone elsewhere (a dialog, a click outside): let go. Not when it left because it was removed.
    const el = ev.target as HTMLElement;
    queueMicrotask(() => { if (held?.el === el && el.isConnected) held = null; });
  };
  createEffect(on(() => props.entries, () => {
    const h = held;
    const at = document.activeElement;
    if (!h || h.el.isConnected || (at && at !== document.body)) return;
    const same = h.id && scroller.querySelector<HTMLElement>(`.row[data-id="${CSS.escape(h.id)}"] ${h.part}`);
    if (same) return void same.focus();
    // Still listed, only scrolled out of view (its row dropped by the virtualising): not brought back.
    if (h.id && props.entries.some((e) => e.id === h.id)) return;
    focusRow(Number(h.el.closest<HTMLElement>('.row[data-index]')?.dataset.index ?? 0), h.part);
  }, { defer: true }));

  const onKey = (ev: KeyboardEvent) => {
    if (ev.key === 'Backspace' || (ev.altKey && ev.key === 'ArrowUp')) {
      ev.preventDefault();
      props.onUp?.();
      return;
    }
    const row = (ev.target as HTMLElement).closest<HTMLElement>('[data-index]');
    if (!row) return;
    const i = Number(row.dataset.index);
    const page = Math.max(1, Math.floor(scroller.clientHeight / ROW) - 1);
    const moves: Record<string, number> = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: props.entries.length - 1, PageDown: i + page, PageUp: i - page };
    if (ev.key in moves) {
      ev.preventDefault();
      focusRow(moves[ev.key]!);
    } else if (ev.key === 'F2' || (ev.key === 'Enter' && ev.shiftKey)) {
      const e = props.entries[i];
      if (e) { ev.preventDefault(); props.onMenu(e, row.querySelector('.icon') as HTMLElement); }
    }
  };

  const sortBtn = (k: SortKey, label: string, cls = '') => (
    <div role="columnheader" class={cls} aria-sort={props.sortKey === k ? (props.sortDir === 1 ? 'ascending' : 'descending') : 'none'}>
      <button type="button" onClick={() => props.onSort(k)}>
        {label} <span aria-hidden="true">{props.sortKey === k ? (props.sortDir === 1 ? '▲' : '▼') : ''}</span>
      </button>
    </div>
  );

  return (
    <div class="list">
      {/* Column headers need a row in a table around them (ARIA's required parents), or their sort
          state is not announced: a table of one header row, beside the list of rows. */}
      <div role="table" aria-label="Sort by">
        <div class="head" role="row">
          {sortBtn('name', 'Name')}
          {sortBtn('size', 'Size')}
          {sortBtn('mtime', 'Modified', 'col-date')}
          <div role="columnheader"><span class="sr-only">Actions</span></div>
        </div>
      </div>
      <div class="scroll" ref={scroller} onScroll={() => setTop(scroller.scrollTop)} onKeyDown={onKey} onFocusIn={onFocusIn} onFocusOut={onFocusOut}>
        {/* The note can have the keyboard (not by Tab): an empty folder just opened gives it there, where
            a screen reader reads it and Backspace goes up. */}
        <Show when={props.entries.length > 0} fallback={<p class="empty" tabindex="-1">{props.empty}</p>}>
          <div role="list" aria-label={props.label} style={{ height: `${props.entries.length * ROW}px`, position: 'relative' }}>
            <For each={visible()}>
              {(entry, pos) => {
                const e = () => entry;
                const item = { get i() { return range().first + pos(); } };
                const isFolder = () => e().kind === 'folder';
                return (
                  <div
                    class="row"
                    classList={{ 'drop-target': dropOn() === e().id }}
                    role="listitem"
                    aria-setsize={props.entries.length}
                    aria-posinset={item.i + 1}
                    data-index={item.i}
                    data-id={e().id}
                    data-name={e().name}
                    data-kind={e().kind}
                    style={{ top: `${item.i * ROW}px` }}
                    draggable={props.draggable}
                    onDragStart={(ev) => { ev.dataTransfer?.setData(NODE_MIME, e().id); if (ev.dataTransfer) ev.dataTransfer.effectAllowed = 'move'; }}
                    onDragOver={(ev) => {
                      if (!isFolder() || !props.onDropNode || !ev.dataTransfer?.types.includes(NODE_MIME)) return;
                      ev.preventDefault();
                      setDropOn(e().id);
                    }}
                    onDragLeave={() => setDropOn(null)}
                    onDrop={(ev) => {
                      setDropOn(null);
                      const id = ev.dataTransfer?.getData(NODE_MIME);
                      if (!id || !isFolder() || !props.onDropNode) return;
                      ev.preventDefault();
                      ev.stopPropagation();
                      if (id !== e().id) props.onDropNode(id, e());
                    }}
                  >
                    {/* The icon lies over the button, outside it: the letters of its badge ("TXT") are
                        not part of the button's visible label, which its name must contain (WCAG 2.5.3). */}
                    <div class="name-cell">
                      <Icon kind={e().kind} mime={e().mime} name={e().name} />
                      <button type="button" class="name" onClick={() => props.onOpen(e())} title={e().name} aria-label={spoken(e())}>
                        <span class="label" style={unfinished(e()) ? { color: 'var(--muted)' } : undefined}>{e().name}</span>
                        <Show when={e().error}><span class="error"> (cannot decrypt)</span></Show>
                      </button>
                    </div>
                    <Show when={unfinished(e())} fallback={<span class="meta">{isFolder() ? '—' : formatSize(e().size)}</span>}>
                      <span class="meta" style={{ 'font-style': 'italic' }} title="Upload not finished: upload the file again to complete it">Unfinished</span>
                    </Show>
                    <span class="meta col-date">{formatDate(e().trashedAt ?? e().mtime)}</span>
                    <button type="button" class="icon" aria-label={`Actions for ${e().name}`} aria-haspopup="menu" onClick={(ev) => props.onMenu(e(), ev.currentTarget)}>⋯</button>
                  </div>
                );
              }}
            </For>
          </div>
        </Show>
      </div>
    </div>
  );
}
