// PGlite queries as named prepared statements, each run in one call into PostgreSQL.
//
// PGlite's `query` parses, describes and plans its text anew every time, in five calls into the
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

  /** One query under the query lock (the caller holds the transaction lock, or is in a transaction). */
  const run = (text: string, params: unknown[] | undefined, options: QueryOptions | undefined, inTransaction: boolean) =>
    client.runExclusive(async () => {
      let messages: Messages;
      try {
        const { name, paramTypes } = await statementFor(text, options);
        const values = (params ?? []).map((value, i) => {
          if (value === null || value === undefined) return null;
          const type = paramTypes[i]!;
          const serializer = options?.serializers?.[type] ?? client.serializers[type];
          return serializer ? serializer(value) : String(value);
        });
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
