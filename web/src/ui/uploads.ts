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
  phase: UploadProgress['phase'] | 'queued' | 'cancelled';
  error: string;
  callId: number | null;
  file: File;
  parentId: string;
  existingId: string | null;
}

const [tasks, setTasks] = createStore<Task[]>([]);
export { tasks };
let nextTask = 1;
const MAX_PARALLEL = 2;
let onFinished: (e: Entry, parentId: string) => void = () => {};

export function onUploadFinished(f: (e: Entry, parentId: string) => void): void {
  onFinished = f;
}

function update(id: number, f: (t: Task) => void): void {
  setTasks((t) => t.id === id, produce(f));
}

export function enqueue(file: File, parentId: string, existingId: string | null): void {
  // Picked again where it was interrupted (with any button): this task resumes it, so the tray
  // must stop offering to.
  const name = file.name.normalize('NFC');
  setInterrupted((l) => l.filter((i) => i.parentId !== parentId || i.name !== name || i.size !== file.size || i.lastModified !== file.lastModified));
  setTasks(tasks.length, {
    id: nextTask++, name: file.name, mime: file.type, size: file.size, done: 0, phase: 'queued', error: '',
    callId: null, file, parentId, existingId,
  });
  pump();
}

function pump(): void {
  const running = tasks.filter((t) => ['preparing', 'uploading', 'committing', 'paused'].includes(t.phase) && t.callId !== null).length;
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
  update(id, (x) => { x.phase = 'preparing'; x.error = ''; x.done = 0; });
  const h = facade.begin('upload', [t.file, t.parentId, t.existingId], (v) => {
    const p = v as UploadProgress;
    update(id, (x) => {
      if (x.phase === 'paused' && p.phase === 'uploading') return;
      x.phase = p.phase === 'done' ? x.phase : p.phase;
      x.done = p.bytesDone;
    });
  });
  update(id, (x) => { x.callId = h.id; });
  h.result.then(
    (entry) => {
      update(id, (x) => { x.phase = 'done'; x.done = x.size; x.callId = null; });
      onFinished(entry, t.parentId);
      pump();
    },
    (err) => {
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
  facade.control(t.callId, 'pause');
  update(id, (x) => { x.phase = 'paused'; });
}
export function resume(id: number): void {
  const t = tasks.find((x) => x.id === id);
  if (!t) return;
  if (t.callId == null) {
    if (t.phase === 'error' || t.phase === 'cancelled') { update(id, (x) => { x.phase = 'queued'; }); pump(); }
    return;
  }
  facade.control(t.callId, 'resume');
  update(id, (x) => { x.phase = 'uploading'; });
}
export function cancel(id: number): void {
  const t = tasks.find((x) => x.id === id);
  if (!t) return;
  if (t.callId != null) facade.control(t.callId, 'cancel');
  else if (t.phase === 'queued') update(id, (x) => { x.phase = 'cancelled'; });
}
export function clearFinished(): void {
  setTasks((ts) => ts.filter((t) => !['done', 'cancelled', 'error'].includes(t.phase)));
}
/** After lock, running uploads have lost their worker. */
export function abortAll(): void {
  setTasks(produce((ts) => {
    for (const t of ts) if (!['done', 'cancelled', 'error'].includes(t.phase)) { t.phase = 'error'; t.error = 'Stopped: the vault was locked.'; t.callId = null; }
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
    setInterrupted(await facade.call('interrupted'));
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
