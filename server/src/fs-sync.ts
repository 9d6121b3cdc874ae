// fsync for a path: a file's contents, or a folder's entries (a file made, renamed or removed in it).
import { open } from 'node:fs/promises';

export async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
