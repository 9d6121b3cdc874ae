// Plain data crossing the worker boundary. No key material ever appears in these types:
// keys live only inside the worker (src/crypto/worker.ts) and die with it on lock.

export type Kind = 'file' | 'folder';

/** A node with its metadata decrypted. */
export interface Entry {
  id: string;
  parentId: string | null;
  kind: Kind;
  name: string;
  mime: string;
  size: number;          // plaintext bytes (metadata)
  mtime: number;         // ms since epoch (metadata)
  version: number;       // current file version; 0 for folders and for files whose first upload did not finish
  storedSize: number;    // stored bytes (server)
  updatedAt: number;     // ms since epoch (server)
  trashedAt: number | null;
  /** Set when this entry could not be decrypted; the name is then a placeholder. */
  error?: string;
}

/** An upload interrupted in this browser (kept sealed by the worker), to resume or discard. */
export interface InterruptedUpload {
  /** The record's key in IndexedDB `coffer-uploads`: random, names nothing. */
  key: string;
  uploadId: string;
  nodeId: string;
  parentId: string;
  name: string;
  size: number;
  lastModified: number;
}

/** Sent by `list` and `browse` after their last batch of entries. */
export interface ListingStats {
  /** Children taken from this device's listing cache instead of being opened again. */
  fromCache: number;
}

export interface SessionInfo {
  accountId: string;
  email: string;
  rootNodeId: string;
  csrfToken: string | null;
  cursor: number;
  quotaBytes?: number;
  usedBytes?: number;
}

export interface SignupResult extends SessionInfo {
  recoveryCode: string;
}

/** One version of a file, as the versions panel shows it. */
export interface VersionInfo {
  version: number;
  createdAt: number;       // ms since epoch (server)
  deviceId: string | null;
  storedSize: number;      // stored bytes, padded (server)
  /** Plaintext bytes; null when the version's manifest could not be read (the panel then shows storedSize). */
  size: number | null;
}

/** A file's versions, newest first, and whether the file is in the trash. */
export interface VersionList { current: number; trashed: boolean; versions: VersionInfo[] }

/** A device of the account (a browser profile, or the command line), as the Devices view shows it. */
export interface DeviceInfo {
  deviceId: string;
  /** Its name as the device chose it; null when the sealed name does not open. */
  name: string | null;
  createdAt: number;          // ms since epoch (server)
  lastSeenAt: number | null;  // ms since epoch (server); null when not seen since it was added
  /** This browser. */
  current: boolean;
  /** Its sessions, when the server says. */
  sessions?: number;
}

/** Sent by `sendDownload` as the stream is read. */
export interface DownloadProgress { done: number; total: number }

export interface DownloadStream {
  stream: ReadableStream<Uint8Array>;
  name: string;
  mime: string;
  size: number;
}

export interface UploadProgress {
  phase: 'preparing' | 'uploading' | 'paused' | 'committing' | 'done' | 'error';
  bytesDone: number;
  bytesTotal: number;
  entry?: Entry;
  /** Done without a new version: the file held what its current version holds. */
  unchanged?: boolean;
}

export interface LinkOptions {
  password?: string;
  expiresAt?: number | null;      // ms since epoch
  maxDownloads?: number | null;
}

export interface LinkInfo {
  needPassword: boolean;
  entry?: Entry;
  /** For a link without a password: what lets this tab open it again without counting an open. */
  access?: KeptLinkAccess;
}

/** A link's access token (until `expiresAt`) and its sealed payload, as `/open` answered them. */
export interface KeptLinkAccess { accessToken: string; expiresAt: string; payload: string }

/** What the worker answers when asked for. Every method returns a promise on the page side. */
export interface WorkerApi {
  setSession(csrfToken: string | null): void;
  /** Gets the passphrase derivation ready while the passphrase is typed: wasm compiled, memory touched. */
  prepareKdf(): void;
  signup(email: string, passphrase: string): SignupResult;
  login(email: string, passphrase: string): SessionInfo;
  /** Re-opens the vault for the current cookie session (after lock or reload). */
  unlock(passphrase: string): SessionInfo;
  /** Lists live children; partial batches arrive as events while it decrypts, then ListingStats. */
  list(folderId: string): Entry[];
  /**
   * As `list`, but the children arrive only as the events; it returns how many there were, so a
   * big folder is not sent to the page a second time (the vault's folder view).
   */
  browse(folderId: string): number;
  /** Decrypts the given nodes (e.g. fetched after a change notification). */
  entries(nodeIds: string[]): (Entry | null)[];
  trash(): Entry[];
  /** The account's uploads interrupted in this browser. */
  interrupted(): InterruptedUpload[];
  /** Forgets an interrupted upload (its resume record and the chunks it recorded). */
  discardInterrupted(key: string): void;
  createFolder(parentId: string, name: string): Entry;
  rename(nodeId: string, name: string): Entry;
  move(nodeId: string, newParentId: string): Entry;
  /** Out of the trash to its old folder; `name`: under that name (its old one was taken meanwhile). */
  restore(nodeId: string, name?: string): Entry;
  path(nodeId: string): Entry[];
  upload(file: File, parentId: string, existingId: string | null): Entry;
  download(nodeId: string, version: number | null): DownloadStream;
  /**
   * Decrypts a file (`version` null: the current one; in link mode, of the link) into a stream it
   * posts over `port` as `{ name, mime, size, stream }`, to the download service worker, so the
   * bytes go there without passing through the page. Events: DownloadProgress. Resolves once the
   * stream has been read to its end; rejects with its error (an integrity failure, or CANCELLED
   * when the reader gave up).
   */
  sendDownload(nodeId: string, version: number | null, port: MessagePort): { name: string; size: number };
  /**
   * Folder `folderId` and every live file and folder below it as one zip archive, `<name>.zip`
   * (src/crypto/zip.ts), of a size known up front. The stream errors, before the archive's end,
   * when any chunk fails its check. `link`: a folder of the open share link (the shared folder or
   * one below it), with the link's keys; rejects when the worker is in the other mode.
   */
  zipFolder(folderId: string, link?: boolean): DownloadStream;
  /** As `sendDownload`, for `zipFolder`'s archive. */
  sendZip(folderId: string, port: MessagePort, link?: boolean): { name: string; size: number };
  /**
   * The file's versions with their plaintext sizes: the current one's from the file's metadata (as
   * the file list shows it), older ones' from their sealed manifests. Rejects with status 404 when
   * the file was deleted.
   */
  versions(nodeId: string): VersionList;
  restoreVersion(nodeId: string, version: number): Entry;
  /** The account's devices' names (sealed on the server), by device id. */
  deviceNames(): Record<string, string>;
  /** The account's devices, oldest first, their names opened, after this browser's registration. */
  devices(): DeviceInfo[];
  createLink(nodeId: string, opts: LinkOptions): { linkId: string; secret: string };
  /** `kept`: what an earlier open in this tab answered, tried before a new (counted) open. */
  openLink(linkId: string, secret: string, password: string | null, kept: KeptLinkAccess | null): LinkInfo;
  linkDownload(nodeId: string): DownloadStream;
  linkList(folderId: string): Entry[];
}

export type Method = keyof WorkerApi;
