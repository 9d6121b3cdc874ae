// A deadline on PostgreSQL's answers, for the postgres.js pool (DATABASE_URL).
//
// A database that stops answering without closing its connections (a frozen host or process, a
// network path or proxy that keeps the TCP connection) would hold every query on such a connection
// for as long as the operating system keeps it, and the pool would keep the connection: once every
// connection is wedged, every request waits. statement_timeout does not help (it runs on the
// server, which is not answering), nor does TCP keep-alive (a frozen server's kernel still
// acknowledges; a lost path shows only after many minutes), and postgres.js has no query timeout. It does take a socket factory ("a socket-like
// duplex stream", README §Custom socket): this one connects as postgres.js would, and ends a
// connection that owes an answer for longer than the deadline. postgres.js then fails the queries
// on it with our error (a 503 DATABASE_UNAVAILABLE, services/errors-db.ts) and opens a fresh
// connection for the next query, so nothing stays wedged once the database answers again.
//
// "Owes an answer" is read from the wire. On a plaintext connection the messages are counted: each
// Sync or simple Query (and the start-up) is answered by one ReadyForQuery, and the deadline runs
// while any is outstanding, restarted by every byte that arrives (the server is still answering).
// An idle connection, in a transaction or not, owes nothing, so a transaction may wait as long as
// it needs between its statements (the collector holds one across a blob-store call). Under TLS
// the bytes cannot be read: the deadline then runs from a write to the first byte that arrives.
import net from 'node:net';
import { Duplex } from 'node:stream';

/** How long the database may take to answer, by default (see docs/api.md, COFFER_DB_ANSWER_TIMEOUT_MS). */
export const DB_ANSWER_TIMEOUT_MS = 40_000;

/** The error a connection ends with when its answer is overdue (errors-db.ts counts it as unavailable). */
export class DatabaseAnswerTimeout extends Error {
  readonly code = 'ANSWER_TIMEOUT';
  constructor(ms: number) {
    super(`the database did not answer within ${ms} ms`);
    this.name = 'DatabaseAnswerTimeout';
  }
}

/** The deadline in force; 0 turns it off (while migrations run, which may take as long as they need). */
export interface AnswerDeadline { ms: number }

/** What postgres.js passes to a socket factory (its parsed options; `path` for a Unix socket). */
interface SocketOptions { host: string[]; port: number[]; path?: string | false }

/** A socket factory for postgres.js's `socket` option. */
export function watchedSockets(deadline: AnswerDeadline): (options: SocketOptions) => Duplex {
  let next = 0;
  return (options) => {
    // postgres.js tries the hosts of a multi-host URL in turn; so does this.
    const i = next++ % options.host.length;
    const host = options.host[i]!;
    const port = options.port[i] ?? options.port[0]!;
    const inner = options.path ? net.connect(options.path) : net.connect(port, host);
    // postgres.js's keep_alive (60 s): its own call does not reach this socket through TLS.
    inner.setKeepAlive(true, 60_000);
    return new WatchedSocket(inner, deadline, host, port);
  };
}

const SSL_ANSWER_YES = 0x53; // 'S'
const READY_FOR_QUERY = 0x5a; // 'Z'
const SYNC = 0x53; // 'S'
const QUERY = 0x51; // 'Q'
const TLS_HANDSHAKE = 0x16;

/** The frame of protocol messages: a type byte (none for the first messages a client sends), then a length that counts itself. */
class Frames {
  readonly #head = Buffer.alloc(5);
  #headBytes = 0;
  #bodyLeft = 0;
  constructor(public typed: boolean) {}

  /** Calls `each` with the type (0 when untyped) and length of every message whose header arrives; false on a length no message has. */
  scan(chunk: Uint8Array, each: (type: number, length: number) => void): boolean {
    let at = 0;
    while (at < chunk.length) {
      if (this.#bodyLeft > 0) {
        const n = Math.min(this.#bodyLeft, chunk.length - at);
        this.#bodyLeft -= n;
        at += n;
        continue;
      }
      const size = this.typed ? 5 : 4;
      const n = Math.min(size - this.#headBytes, chunk.length - at);
      this.#head.set(chunk.subarray(at, at + n), this.#headBytes);
      this.#headBytes += n;
      at += n;
      if (this.#headBytes < size) break;
      this.#headBytes = 0;
      const length = this.#head.readUInt32BE(size - 4);
      if (length < 4) return false;
      this.#bodyLeft = length - 4;
      each(this.typed ? this.#head[0]! : 0, length);
    }
    return true;
  }
}

class WatchedSocket extends Duplex {
  readonly #inner: net.Socket;
  readonly #deadline: AnswerDeadline;
  #timer: NodeJS.Timeout | undefined;
  /** TLS (or bytes this does not understand): only "a write, then nothing back" can be seen. */
  #opaque = false;
  /** The client asked for TLS; the next byte to arrive is the server's one-byte answer. */
  #sslAsked = false;
  /** ReadyForQuery messages the server owes (one per Sync or Query, one for the start-up). */
  #owed = 0;
  readonly #out = new Frames(false);
  readonly #in = new Frames(true);
  #innerError: Error | undefined;
  #ended = false;
  /** For postgres.js (TLS server name) and its error messages. */
  readonly host: string;
  readonly port: number;

  constructor(inner: net.Socket, deadline: AnswerDeadline, host: string, port: number) {
    // 'error' and 'close' are emitted by #end, together as a net.Socket does: postgres.js must not
    // hand the connection a query in between.
    super({ emitClose: false });
    this.#inner = inner;
    this.#deadline = deadline;
    this.host = host;
    this.port = port;
    inner.on('data', (chunk: Buffer) => {
      this.#received(chunk);
      if (!this.push(chunk)) inner.pause();
    });
    inner.on('end', () => this.push(null));
    inner.on('error', (err) => (this.#innerError ??= err));
    inner.on('close', (hadError) => this.#end(this.#innerError, hadError));
  }

  /** postgres.js ends a connection gracefully only while the socket is 'open'. */
  get readyState(): net.Socket['readyState'] {
    return this.#inner.readyState;
  }

  setKeepAlive(enable?: boolean, delayMs?: number): this {
    this.#inner.setKeepAlive(enable, delayMs);
    return this;
  }

  override _read(): void {
    this.#inner.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.#sent(chunk);
    // A failed write fails the inner socket, whose own error #end reports (ECONNREFUSED, say)
    // rather than this stream's "write after destroy".
    this.#inner.write(chunk, () => callback());
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#inner.end(() => callback());
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#stop();
    this.#inner.destroy();
    callback(err);
  }

  /**
   * Ends the stream, then tells its user: with `err`, an 'error' first, and 'close' with
   * `hadError` (after which postgres.js backs off before it connects again: not after a deadline,
   * where each attempt has waited long enough).
   */
  #end(err: Error | undefined, hadError: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#stop();
    this.destroy();
    if (err && this.listenerCount('error') > 0) this.emit('error', err);
    this.emit('close', hadError);
  }

  #sent(chunk: Buffer): void {
    if (!this.#opaque) {
      if (!this.#out.typed && chunk[0] === TLS_HANDSHAKE) this.#opaque = true; // direct TLS (sslnegotiation=direct)
      else if (!this.#out.scan(chunk, (type, length) => this.#message(type, length))) this.#opaque = true;
    }
    // A request is out; later writes (pipelined statements) do not move the deadline.
    if (!this.#timer) this.#arm();
  }

  #message(type: number, length: number): void {
    if (this.#out.typed) {
      if (type === SYNC || type === QUERY) this.#owed += 1;
    } else if (length === 8) {
      this.#sslAsked = true; // SSLRequest: answered by one byte; the start-up comes next if it is 'N'
    } else if (length !== 16) {
      // StartupMessage (postgres.js names user, database and client_encoding in it, so it is
      // longer than a 16-byte CancelRequest, which is answered by closing): answered up to a
      // ReadyForQuery.
      this.#owed += 1;
      this.#out.typed = true;
    }
  }

  #received(chunk: Buffer): void {
    if (this.#sslAsked) {
      this.#sslAsked = false;
      if (chunk[0] === SSL_ANSWER_YES) this.#opaque = true;
      chunk = chunk.subarray(1);
    }
    if (this.#opaque) return this.#stop();
    const framed = this.#in.scan(chunk, (type) => {
      if (type === READY_FOR_QUERY && this.#owed > 0) this.#owed -= 1;
    });
    if (!framed) {
      this.#opaque = true;
      return this.#stop();
    }
    if (this.#owed > 0) this.#arm();
    else this.#stop();
  }

  /** Starts the deadline, or restarts it. */
  #arm(): void {
    const ms = this.#deadline.ms;
    if (ms <= 0) return this.#stop();
    if (this.#timer) {
      this.#timer.refresh();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#end(new DatabaseAnswerTimeout(ms), false);
    }, ms);
    this.#timer.unref();
  }

  #stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
