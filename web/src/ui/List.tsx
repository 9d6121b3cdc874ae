// A virtualised file list: only the rows in view (plus a margin) exist in the DOM, so a folder of
// 10,000 entries renders as fast as one of 30. Rows are real buttons; arrow keys move between rows.
import { Icon } from './Icon';
import { createMemo, createSignal, For, onCleanup, onMount, Show } from 'solid-js';
import type { Entry } from '../crypto/types';
import { formatDate, formatSize } from './format';

export const ROW = 44;
export type SortKey = 'name' | 'size' | 'mtime';
export const NODE_MIME = 'application/x-coffer-node';

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

  const focusRow = (i: number) => {
    const n = props.entries.length;
    if (n === 0) return;
    const idx = Math.max(0, Math.min(n - 1, i));
    const y = idx * ROW;
    if (y < scroller.scrollTop) scroller.scrollTop = y;
    else if (y + ROW > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = y + ROW - scroller.clientHeight;
    setTop(scroller.scrollTop);
    requestAnimationFrame(() => scroller.querySelector<HTMLButtonElement>(`[data-index="${idx}"] .name`)?.focus());
  };

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
      <div class="scroll" ref={scroller} onScroll={() => setTop(scroller.scrollTop)} onKeyDown={onKey}>
        <Show when={props.entries.length > 0} fallback={<p class="empty">{props.empty}</p>}>
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
