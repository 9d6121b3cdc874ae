// PGlite queries as named prepared statements, each run in one call into PostgreSQL.
//
// PGlite's `query` parses, describes and plans its text anew every time, in six calls into the
// WebAssembly backend (parse, describe, bind, describe, execute, then sync). Under a stream of
// small requests that was most of the server's time: 270–440 CPU-µs for a node lookup by id.
// Here each distinct text is parsed once into a named statement; a query is then one call that
// binds, describes, executes and syncs (90–160 CPU-µs; docs/benchmarks.md). postgres-js does the
// same for PostgreSQL.
//
// Everything else stays PGlite's: the same exclusive locks (a query outside a transaction waits for
// an open one to end), the same serializers and parsers, its `parseResults`, and errors carrying
// the query as PGlite's own do. Only `_runExclusiveTransaction` is not part of PGlite's typed API;
// without it the client is left as it was.
//
// drizzle also passes the same type parsers (timestamps, dates, intervals) with every query, and
// PGlite would merge them into its table of several hundred parsers on each call: they are
// installed in the table once instead (every query of ours comes through drizzle with that set).
import { type PGlite, type QueryOptions, type Transaction, parse, protocol } from '@electric-sql/pglite';

/** Statements kept per database; the least recently used is closed beyond this. */
export const MAX_STATEMENTS = 256;

type Query = PGlite['query'];
type Messages = Awaited<ReturnType<PGlite['execProtocolStream']>>;

interface Statement {
  name: string;
  paramTypes: number[];
}

interface Internals {
  _runExclusiveTransaction<T>(fn: () => Promise<T>): Promise<T>;
}

/** As PGlite's query errors: the error with the query, its parameters and options attached. */
function withQuery(err: unknown, text: string, params: unknown[] | undefined, options: QueryOptions | undefined): unknown {
  if (err && typeof err === 'object' && 'code' in err) Object.assign(err, { query: text, params, queryOptions: options });
  return err;
}

type RawQuery = (text: string, params: unknown[]) => Promise<(Buffer | null)[][]>;
const raw = new WeakMap<PGlite, RawQuery>();

/**
 * Runs one query outside any transaction (as a prepared statement of a client from
 * `preparedQueries`) and returns each row's columns as the bytes PostgreSQL wrote them (text
 * format), never decoded into strings: for a result that goes out as it came in.
 */
export function rawRows(client: PGlite, text: string, params: unknown[]): Promise<(Buffer | null)[][]> {
  const query = raw.get(client);
  if (!query) throw new Error('rawRows needs a client from preparedQueries');
  return query(text, params);
}

/** The DataRow messages of a backend answer as each column's bytes; an ErrorResponse is thrown. */
function dataRows(bytes: Uint8Array, text: string, params: unknown[]): (Buffer | null)[][] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rows: (Buffer | null)[][] = [];
  for (let at = 0; at + 5 <= buf.length;) {
    const type = buf[at]!;
    const end = at + 1 + buf.readInt32BE(at + 1);
    if (type === 0x44 /* D: DataRow */) {
      const row: (Buffer | null)[] = [];
      let p = at + 7;
      for (let n = buf.readInt16BE(at + 5); n > 0; n--) {
        const length = buf.readInt32BE(p);
        p += 4;
        row.push(length < 0 ? null : buf.subarray(p, p + length)); // views of this answer's own copy
        if (length > 0) p += length;
      }
      rows.push(row);
    } else if (type === 0x45 /* E: ErrorResponse */) {
      let error: unknown;
      new protocol.Parser().parse(buf.subarray(at, end), (message) => {
        if (message.name === 'error') error = message;
      });
      throw withQuery(error, text, params, undefined);
    }
    at = end;
  }
  return rows;
}

/** Replaces `client.query` and each transaction's `query` with the prepared path. Returns the client. */
export function preparedQueries(client: PGlite): PGlite {
  const internals = client as unknown as Partial<Internals>;
  const exclusiveTransaction = internals._runExclusiveTransaction?.bind(client);
  const statements = new Map<string, Statement>(); // insertion order = least recently used first
  let named = 0;

  // drizzle keeps one options object per prepared query: each is installed and stripped once.
  const stripped = new WeakMap<object, QueryOptions>();
  const withoutParsers = (options: QueryOptions | undefined): QueryOptions | undefined => {
    if (!options?.parsers) return options;
    let rest = stripped.get(options);
    if (!rest) {
      Object.assign(client.parsers, options.parsers);
      const { parsers: _, ...others } = options;
      stripped.set(options, (rest = others));
    }
    return rest;
  };

  const send = (parts: Uint8Array[]): Promise<Messages> => client.execProtocolStream(Buffer.concat(parts), { syncToFs: false });

  /** The statement for a text, parsed now if it is not kept. Runs under the query lock. */
  const statementFor = async (text: string, options: QueryOptions | undefined): Promise<Statement> => {
    const key = options?.paramTypes ? `${options.paramTypes.join(',')}\n${text}` : text;
    const kept = statements.get(key);
    if (kept) {
      statements.delete(key);
      statements.set(key, kept);
      return kept;
    }
    const closing: Uint8Array[] = [];
    if (statements.size >= MAX_STATEMENTS) {
      const [oldKey, old] = statements.entries().next().value!;
      statements.delete(oldKey);
      closing.push(protocol.serialize.close({ type: 'S', name: old.name }));
    }
    const name = `coffer_${++named}`;
    const messages = await send([
      ...closing,
      protocol.serialize.parse({ name, text, types: options?.paramTypes }),
      protocol.serialize.describe({ type: 'S', name }),
      protocol.serialize.sync(),
    ]);
    const statement = { name, paramTypes: parse.parseDescribeStatementResults(messages) };
    statements.set(key, statement);
    return statement;
  };

  /** Parameters as PGlite sends them: text from the serializer of each parameter's type. */
  const valuesFor = (params: unknown[] | undefined, paramTypes: number[], options: QueryOptions | undefined) =>
    (params ?? []).map((value, i) => {
      if (value === null || value === undefined) return null;
      const type = paramTypes[i]!;
      const serializer = options?.serializers?.[type] ?? client.serializers[type];
      return serializer ? serializer(value) : String(value);
    });

  /** One query under the query lock (the caller holds the transaction lock, or is in a transaction). */
  const run = (text: string, params: unknown[] | undefined, options: QueryOptions | undefined, inTransaction: boolean) =>
    client.runExclusive(async () => {
      let messages: Messages;
      try {
        const { name, paramTypes } = await statementFor(text, options);
        const values = valuesFor(params, paramTypes, options);
        messages = await send([
          protocol.serialize.bind({ statement: name, values }),
          protocol.serialize.describe({ type: 'P' }),
          protocol.serialize.execute({}),
          protocol.serialize.sync(),
        ]);
      } catch (err) {
        throw withQuery(err, text, params, options);
      }
      if (!inTransaction) await client.syncToFs();
      return parse.parseResults(messages, client.parsers, options)[0]!;
    });

  if (exclusiveTransaction) {
    raw.set(client, (text, params) => exclusiveTransaction(() => client.runExclusive(async () => {
      let bytes: Uint8Array;
      try {
        const { name, paramTypes } = await statementFor(text, undefined);
        bytes = await client.execProtocolRaw(Buffer.concat([
          protocol.serialize.bind({ statement: name, values: valuesFor(params, paramTypes, undefined) }),
          protocol.serialize.execute({}),
          protocol.serialize.sync(),
        ]), { syncToFs: false });
      } catch (err) {
        throw withQuery(err, text, params, undefined);
      }
      await client.syncToFs();
      return dataRows(bytes, text, params);
    })));
  }

  const original = client.query.bind(client);
  client.query = (async (text: string, params?: unknown[], options?: QueryOptions) => {
    const rest = withoutParsers(options);
    // A client still starting queries through here itself (its array types): PGlite's own path.
    if (!exclusiveTransaction || rest?.blob || !client.ready) return original(text, params, rest);
    return exclusiveTransaction(() => run(text, params, rest, false));
  }) as Query;

  const transaction = client.transaction.bind(client);
  client.transaction = (<T>(fn: (tx: Transaction) => Promise<T>) => transaction((tx) => {
    const wrapped = Object.create(tx) as Transaction; // keeps tx's getters (closed) working
    wrapped.query = (async (text: string, params?: unknown[], options?: QueryOptions) => {
      const rest = withoutParsers(options);
      if (!exclusiveTransaction || rest?.blob) return tx.query(text, params, rest);
      if (tx.closed) throw new Error('Transaction is closed');
      return run(text, params, rest, true);
    }) as Transaction['query'];
    return fn(wrapped);
  })) as PGlite['transaction'];
  return client;
}
