// The upload queue behind the tray: files are read as streams inside the crypto worker.
import { createSignal } from 'solid-js';
import { createStore, produce } from 'solid-js/store';
import * as facade from '../crypto/facade';
import type { Entry, InterruptedUpload, UploadProgress } from '../crypto/types';
import { describeError, errorCode } from '../http';

export interface Task {
  id: number;
  name: string;
  mime: string;
  size: number;
  done: number;
  /**
   * Besides the worker's phases: 'pausing' and 'cancelling' from the click until the worker has
   * done it; 'interrupted' when a lock stopped it (Resume continues it, with the file at hand).
   */
  phase: UploadProgress['phase'] | 'queued' | 'pausing' | 'cancelling' | 'cancelled' | 'interrupted';
  error: string;
  callId: number | null;
  file: File;
  parentId: string;
  existingId: string | null;
  /** Done without a new version: the file held what its current version holds. */
  unchanged?: boolean;
}

const [tasks, setTasks] = createStore<Task[]>([]);
export { tasks };
let nextTask = 1;
const MAX_PARALLEL = 2;
let onFinished: (e: Entry, parentId: string, unchanged: boolean) => void = () => {};

export function onUploadFinished(f: (e: Entry, parentId: string, unchanged: boolean) => void): void {
  onFinished = f;
}

/** Phases in which a task is over (or stopped) and no worker call runs for it. */
const ENDED: readonly Task['phase'][] = ['done', 'cancelled', 'error', 'interrupted'];

function update(id: number, f: (t: Task) => void): void {
  setTasks((t) => t.id === id, produce(f));
}

/** Whether `file` uploaded into `parentId` is the upload of record `i` (as the worker matches them). */
function isUploadOf(i: Interrupted, file: File, parentId: string): boolean {
  return i.parentId === parentId && i.name === file.name.normalize('NFC') && i.size === file.size && i.lastModified === file.lastModified;
}

export function enqueue(file: File, parentId: string, existingId: string | null): void {
  // Picked again where it was interrupted (with any button): this task resumes it, so the tray
  // must stop offering to.
  setInterrupted((l) => l.filter((i) => !isUploadOf(i, file, parentId)));
  setTasks(tasks.length, {
    id: nextTask++, name: file.name, mime: file.type, size: file.size, done: 0, phase: 'queued', error: '',
    callId: null, file, parentId, existingId,
  });
  pump();
}

function pump(): void {
  const running = tasks.filter((t) => t.callId !== null).length;
  let free = MAX_PARALLEL - running;
  for (const t of tasks) {
    if (free <= 0) break;
    if (t.phase !== 'queued') continue;
    free--;
    start(t.id);
  }
}

function start(id: number): void {
  const t = tasks.find((x) => x.id === id);
  if (!t) return;
  update(id, (x) => { x.phase = 'preparing'; x.error = ''; x.done = 0; x.unchanged = false; });
  const h = facade.begin('upload', [t.file, t.parentId, t.existingId], (v) => {
    const p = v as UploadProgress;
    update(id, (x) => {
      x.done = p.bytesDone;
      if (p.unchanged) x.unchanged = true;
      // Pause and cancel are the user's: the worker's events only say when a pause is complete.
      // A late "paused" (sent before a resume) is ignored.
      if (x.phase === 'pausing' && p.phase === 'paused') x.phase = 'paused';
      else if (!['pausing', 'paused', 'cancelling'].includes(x.phase) && p.phase !== 'paused' && p.phase !== 'done') x.phase = p.phase;
    });
  });
  update(id, (x) => { x.callId = h.id; });
  h.result.then(
    (entry) => {
      update(id, (x) => { x.phase = 'done'; x.done = x.size; x.callId = null; });
      setInterrupted((l) => l.filter((i) => !isUploadOf(i, t.file, t.parentId))); // listed meanwhile: now done
      onFinished(entry, t.parentId, tasks.find((x) => x.id === id)?.unchanged === true);
      pump();
    },
    (err) => {
      // The lock ended every upload at once: each becomes one entry to resume (no new one starts).
      if (errorCode(err) === 'LOCKED') return abortAll();
      update(id, (x) => {
        x.callId = null;
        if (errorCode(err) === 'CANCELLED') x.phase = 'cancelled';
        else { x.phase = 'error'; x.error = describeError(err); }
      });
      pump();
    },
  );
}

export function pause(id: number): void {
  const t = tasks.find((x) => x.id === id);
  if (t?.callId == null) return;
  if (t.phase !== 'uploading' && t.phase !== 'preparing') return;
  facade.control(t.callId, 'pause');
  // "Paused" once the worker says so: requests under way end first, and their chunks count.
  update(id, (x) => { x.phase = 'pausing'; });
}
export function resume(id: number): void {
  const t = tasks.find((x) => x.id === id);
  if (!t) return;
  if (t.callId == null) {
    if (ENDED.includes(t.phase) && t.phase !== 'done') { update(id, (x) => { x.phase = 'queued'; x.error = ''; }); pump(); }
    return;
  }
  if (t.phase !== 'pausing' && t.phase !== 'paused') return;
  facade.control(t.callId, 'resume');
  update(id, (x) => { x.phase = 'uploading'; });
}
export function cancel(id: number): void {
  const t = tasks.find((x) => x.id === id);
  if (!t) return;
  if (t.phase === 'queued') update(id, (x) => { x.phase = 'cancelled'; });
  else if (t.callId != null && t.phase !== 'committing' && t.phase !== 'cancelling') {
    // The worker aborts what is under way and tidies up; the tray says so meanwhile.
    facade.control(t.callId, 'cancel');
    update(id, (x) => { x.phase = 'cancelling'; });
  }
}
export function clearFinished(): void {
  const stopped = tasks.some((t) => t.phase === 'error' || t.phase === 'interrupted');
  setTasks((ts) => ts.filter((t) => !ENDED.includes(t.phase)));
  // Their resume records stay: cleared from here, the tray offers them as interrupted uploads.
  if (stopped && facade.isRunning()) void loadInterrupted();
}
/** After lock, running (and waiting) uploads have lost their worker: each can be resumed, once. */
export function abortAll(): void {
  setTasks(produce((ts) => {
    for (const t of ts) if (!ENDED.includes(t.phase)) { t.phase = 'interrupted'; t.error = 'the vault was locked'; t.callId = null; }
  }));
}

/** Expands dropped items (files and folders) into (relative path, file) pairs. */
export async function filesFromDrop(dt: DataTransfer): Promise<{ path: string[]; file: File }[]> {
  const out: { path: string[]; file: File }[] = [];
  const entries: FileSystemEntry[] = [];
  for (const item of Array.from(dt.items)) {
    if (item.kind !== 'file') continue;
    const e = item.webkitGetAsEntry?.();
    if (e) entries.push(e);
    else { const f = item.getAsFile(); if (f) out.push({ path: [], file: f }); }
  }
  if (entries.length === 0 && out.length === 0) for (const f of Array.from(dt.files)) out.push({ path: [], file: f });
  const walk = async (e: FileSystemEntry, path: string[]): Promise<void> => {
    if (e.isFile) {
      const file = await new Promise<File>((res, rej) => (e as FileSystemFileEntry).file(res, rej));
      out.push({ path, file });
    } else if (e.isDirectory) {
      const reader = (e as FileSystemDirectoryEntry).createReader();
      const sub = [...path, e.name];
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const c of batch) await walk(c, sub);
      }
    }
  };
  for (const e of entries) await walk(e, []);
  return out;
}

// ---- resume after reload ----------------------------------------------------------------------
// The worker keeps {uploadId, nodeId, file identity} in IndexedDB while an upload runs (for a file
// of 16 MiB or more also the chunks the server holds, in order), all sealed (no contents and no
// name in the clear), and opens them for this list. After a reload the user re-selects the same
// file; the recorded part is only hashed again to check it, chunks the server already has are
// skipped by /api/chunks/check, and only the rest is sent.

export type Interrupted = InterruptedUpload;
const [interrupted, setInterrupted] = createSignal<Interrupted[]>([]);
export { interrupted };

export async function loadInterrupted(): Promise<void> {
  try {
    const found = await facade.call('interrupted');
    // An upload still in the tray (stopped by a lock, failed, or running) is offered there, with
    // its file at hand: not a second time here.
    setInterrupted(found.filter((i) => !tasks.some((t) => t.phase !== 'done' && t.phase !== 'cancelled' && isUploadOf(i, t.file, t.parentId))));
  } catch {
    setInterrupted([]);
  }
}

export async function discardInterrupted(key: string): Promise<void> {
  await facade.call('discardInterrupted', key).catch(() => {}); // best effort
  setInterrupted((l) => l.filter((i) => i.key !== key));
}

/** Resumes an interrupted upload with the file the user selected again; false if it is another file. */
export function resumeInterrupted(item: Interrupted, file: File): boolean {
  if (file.name.normalize('NFC') !== item.name || file.size !== item.size || file.lastModified !== item.lastModified) return false;
  enqueue(file, item.parentId, item.nodeId);
  return true;
}
