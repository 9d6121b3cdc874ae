// PGlite's queries as named prepared statements: the same answers and errors as PGlite's own query,
// each text parsed once, and PGlite's locking kept.
import { PGlite } from '@electric-sql/pglite';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MAX_STATEMENTS, preparedQueries, rawRows } from '../src/db/pglite-prepared.js';

describe('prepared PGlite queries', () => {
  let plain: PGlite;
  let pg: PGlite;
  beforeAll(async () => {
    [plain, pg] = await Promise.all([PGlite.create(), PGlite.create().then(preparedQueries)]);
  });
  afterAll(async () => {
    await Promise.all([plain.close(), pg.close()]);
  });
  beforeEach(async () => {
    for (const db of [plain, pg]) {
      await db.exec(`drop table if exists t; create table t (id int primary key, name text, data bytea, at timestamptz, n bigint, tags text[])`);
    }
  });

  const prepared = async (text: string) =>
    (await pg.query<{ name: string }>('select name from pg_prepared_statements where statement = $1', [text])).rows;

  it('answers as PGlite does: rows, fields, counts, types and nulls', async () => {
    const at = new Date('2026-12-02T16:00:00.123Z');
    const statements: [string, unknown[]][] = [
      ['insert into t values ($1, $2, $3, $4, $5, $6)', [1, 'one', new Uint8Array([0, 1, 255]), at, 2n ** 40n, ['a', 'b']]],
      ['insert into t values ($1, $2, $3, $4, $5, $6)', [2, null, null, null, null, null]],
      ['update t set name = $1 where id > $2', ['x', 0]],
      ['select * from t order by id', []],
      ['select id, data, at from t where name = $1 order by id', ['x']],
      ['delete from t where id = $1 returning id, name', [2]],
      ['select count(*) as c from t where id = any($1)', [[1, 2, 3]]],
    ];
    for (const [text, params] of statements) {
      for (const rowMode of ['object', 'array'] as const) {
        if (rowMode === 'array' && !text.startsWith('select')) continue;
        const mine = await pg.query(text, params, { rowMode });
        const theirs = await plain.query(text, params, { rowMode });
        expect(mine, text).toEqual(theirs);
      }
    }
    expect((await pg.query<{ data: Uint8Array }>('select data from t where id = 1')).rows[0]!.data).toEqual(new Uint8Array([0, 1, 255]));
  });

  it('serves a client that is still starting (PGlite queries itself while it starts)', async () => {
    const starting = preparedQueries(new PGlite());
    try {
      expect((await starting.query('select $1::int as x', [1])).rows).toEqual([{ x: 1 }]);
    } finally {
      await starting.close();
    }
  });

  it('parses each text once, and closes the least recently used beyond its limit', async () => {
    const text = 'select name from t where id = $1 and name is not null';
    for (let i = 0; i < 10; i++) await pg.query(text, [i]);
    expect(await prepared(text)).toHaveLength(1);

    for (let i = 0; i < MAX_STATEMENTS + 20; i++) await pg.query(`select ${i} as k where $1::int = 1`, [1]);
    const { rows } = await pg.query<{ n: number }>('select count(*)::int as n from pg_prepared_statements');
    expect(rows[0]!.n).toBeLessThanOrEqual(MAX_STATEMENTS);
    expect(await prepared(text)).toHaveLength(0); // the oldest went first
    expect((await pg.query(text, [1])).rows).toEqual([]); // and is parsed again when needed
  });

  it('fails as PGlite does, with the query attached, and keeps serving', async () => {
    await pg.query('insert into t (id) values ($1)', [1]);
    const err = await pg.query('insert into t (id) values ($1)', [1]).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: '23505', query: 'insert into t (id) values ($1)', params: [1] });

    const bad = 'selec nothing';
    await expect(pg.query(bad)).rejects.toMatchObject({ code: '42601' });
    expect(await prepared(bad)).toHaveLength(0);
    await expect(pg.query('select $1::int as v', ['nope'])).rejects.toMatchObject({ code: '22P02' });
    expect((await pg.query('select id from t')).rows).toEqual([{ id: 1 }]);
  });

  it('keeps PGlite transactions: others wait for the open one; a rolled-back one leaves statements usable', async () => {
    const insert = 'insert into t (id, name) values ($1, $2)';
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let inserted!: () => void;
    const didInsert = new Promise<void>((resolve) => (inserted = resolve));
    const tx = pg.transaction(async (t) => {
      await t.query(insert, [1, 'in tx']);
      inserted();
      await held;
    });
    await didInsert;
    let outsideDone = false;
    const outside = pg.query<{ name: string }>('select name from t where id = $1', [1]).then((r) => {
      outsideDone = true;
      return r;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(outsideDone).toBe(false);
    release();
    await tx;
    expect((await outside).rows).toEqual([{ name: 'in tx' }]);

    const update = 'update t set name = $1 where id = $2';
    await expect(pg.transaction(async (t) => {
      await t.query(update, ['rolled back', 1]); // first parsed inside the transaction
      throw new Error('abort');
    })).rejects.toThrow('abort');
    expect((await pg.query('select name from t where id = 1')).rows).toEqual([{ name: 'in tx' }]);
    await pg.query(update, ['after', 1]);
    expect((await pg.query('select name from t where id = 1')).rows).toEqual([{ name: 'after' }]);

    await expect(pg.transaction(async (t) => {
      await t.query(insert, [1, 'duplicate']);
    })).rejects.toMatchObject({ code: '23505' });
    await pg.transaction(async (t) => {
      await t.query(insert, [2, 'two']);
    });
    expect((await pg.query('select count(*)::int as n from t')).rows).toEqual([{ n: 2 }]);
  });

  it('gives raw rows: each column as the bytes PostgreSQL wrote, nulls as null, errors as PGlite\'s', async () => {
    await pg.query('insert into t (id, name) values ($1, $2), ($3, null)', [1, 'grüße, 世界 ✓', 2]);
    const rows = await rawRows(pg, 'select id, name, id > $1 as big from t order by id', [1]);
    expect(rows.map((r) => r.map((c) => c?.toString('utf8') ?? null))).toEqual([['1', 'grüße, 世界 ✓', 'f'], ['2', null, 't']]);
    expect(await rawRows(pg, 'select id from t where id = $1', [99])).toEqual([]);
    await expect(rawRows(pg, 'select $1::int', ['x'])).rejects.toMatchObject({ code: '22P02', query: 'select $1::int' });
    expect((await rawRows(pg, 'select count(*) from t', []))[0]![0]!.toString()).toBe('2'); // still serving
    expect(() => rawRows(plain, 'select 1', [])).toThrow('preparedQueries');
  });
});
