// Unreleased migrations stay in final form (docs/ARCHITECTURE.md, "Releases and migrations"): each
// object they define is defined once, and no unreleased migration drops, replaces or alters what an
// earlier unreleased one made. Released migrations (supabase/releases/*.json) are frozen instead
// (test/schema/releases.test.ts), and a migration after a release may replace, alter or drop what a
// released one made: that is how an upgrade changes the schema. This reads supabase/migrations/*.sql
// (no database needed) and fails on, in unreleased migrations:
//   - a function (same name and argument types) or a view created twice by unreleased migrations;
//   - DROP of a function, table, view, index, trigger, type, constraint, column or policy an
//     unreleased migration made (or whose maker it cannot tell);
//   - CREATE OR REPLACE of something an earlier unreleased statement created;
//   - ALTER TABLE / ALTER FUNCTION of an object an earlier unreleased migration created.
// Function bodies and other dollar-quoted strings are not read, nor are comments.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readReleases } from '../../scripts/release.ts';

const MIGRATIONS = path.resolve(import.meta.dirname, '..', '..', 'supabase', 'migrations');

interface Migration {
  file: string;
  sql: string;
}

/** The SQL with comments and dollar-quoted strings blanked out, and single-quoted strings emptied. */
export function statementsOf(sql: string): string[] {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const rest = sql.slice(i);
    if (rest.startsWith('--')) {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end;
      continue;
    }
    if (rest.startsWith('/*')) {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 2;
      continue;
    }
    const dollar = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(rest);
    if (dollar) {
      const end = sql.indexOf(dollar[0], i + dollar[0].length);
      i = end === -1 ? sql.length : end + dollar[0].length;
      out += "''";
      continue;
    }
    if (rest.startsWith("'")) {
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === "'" && sql[j + 1] === "'") j += 2;
        else if (sql[j] === "'") break;
        else j++;
      }
      i = j + 1;
      out += "''";
      continue;
    }
    out += sql[i];
    i++;
  }
  return out
    .split(';')
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => s !== '');
}

/** Top-level comma split (parentheses nest). */
function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '') parts.push(cur);
  return parts;
}

/** `public.name(type, type)` from the parameter list of a CREATE FUNCTION. */
function functionKey(name: string, params: string): string {
  const types = splitTopLevel(params).map((p) => {
    const words = p
      .replace(/\s+(default|=)\s.*$/is, '')
      .trim()
      .split(/\s+/);
    // [mode] [name] type...: drop the mode, then the parameter name when a type follows it.
    if (/^(in|out|inout|variadic)$/i.test(words[0] ?? '')) words.shift();
    if (words.length > 1) words.shift();
    return normalType(words.join(' '));
  });
  return `${qualify(name)}(${types.join(', ')})`;
}

const TYPE_ALIASES: Record<string, string> = {
  int: 'integer',
  int4: 'integer',
  int8: 'bigint',
  int2: 'smallint',
  bool: 'boolean',
  float8: 'double precision',
  varchar: 'character varying',
  'timestamp with time zone': 'timestamptz',
  'time without time zone': 'time',
  'timestamp without time zone': 'timestamp',
};

function normalType(type: string): string {
  const t = type.toLowerCase().replace(/^public\./, '').replace(/"/g, '');
  const array = t.endsWith('[]');
  const base = array ? t.slice(0, -2).trim() : t;
  return (TYPE_ALIASES[base] ?? base) + (array ? '[]' : '');
}

function qualify(name: string): string {
  const n = name.toLowerCase().replace(/"/g, '');
  return n.includes('.') ? n : `public.${n}`;
}

/**
 * Returns one sentence per breach of final form, in migration order. Statements of the files in
 * `released` only tell who made what; what a later migration does to a released object is allowed.
 */
export function finalFormProblems(migrations: Migration[], released: ReadonlySet<string> = new Set()): string[] {
  const problems: string[] = [];
  const defined = new Map<string, string>(); // object key -> file that created it
  const tablesBy = new Map<string, string>(); // table -> file
  const functionNamesBy = new Map<string, string>(); // function name -> file
  const namedBy = new Map<string, string>(); // any created name (index, trigger, type, view, ...) -> file
  const frozen = (file: string | undefined) => file !== undefined && released.has(file);
  for (const { file, sql } of migrations) {
    const isReleased = released.has(file);
    for (const stmt of statementsOf(sql)) {
      const created =
        /^create (?:or replace )?(?:unique )?(?:materialized )?(?:unlogged )?(?:index|trigger|type|domain|view|table|policy|schema)(?: concurrently)?(?: if not exists)? ([\w."]+)/i
          .exec(stmt);
      if (created) namedBy.set(qualify(created[1]!), namedBy.get(qualify(created[1]!)) ?? file);
      const dropped =
        /^(?:alter table (?:only )?(?:if exists )?([\w."]+) )?drop (function|procedure|table|view|materialized view|index|trigger|type|domain|constraint|column|policy|schema)\b(?: if exists)?\s*([\w."]+)?/i
          .exec(stmt);
      if (dropped) {
        if (isReleased) continue;
        // A table's part (constraint, column) belongs to the table; anything else to its own name.
        // A trigger or policy (DROP ... name ON table) belongs to its table.
        const onTable = /\son ([\w."]+)/i.exec(stmt.slice(dropped[0].length))?.[1];
        const tableOf = dropped[1] ?? onTable;
        const owner = tableOf
          ? tablesBy.get(qualify(tableOf))
          : (dropped[3]
            ? functionNamesBy.get(qualify(dropped[3])) ?? tablesBy.get(qualify(dropped[3])) ?? namedBy.get(qualify(dropped[3]))
            : undefined);
        if (!frozen(owner)) problems.push(`${file}: drops a ${dropped[2]!.toLowerCase()}: ${stmt.slice(0, 120)}`);
        continue;
      }
      const alterTable = /^alter table (?:only )?(?:if exists )?([\w."]+)/i.exec(stmt);
      if (alterTable) {
        const table = qualify(alterTable[1]!);
        const madeIn = tablesBy.get(table);
        if (!isReleased && madeIn && madeIn !== file && !frozen(madeIn)) {
          problems.push(`${file}: alters table ${table}, created in ${madeIn}: ${stmt.slice(0, 120)}`);
        }
        continue;
      }
      const alterFunction = /^alter function ([\w."]+)/i.exec(stmt);
      if (alterFunction) {
        const name = qualify(alterFunction[1]!);
        const madeIn = functionNamesBy.get(name);
        if (!isReleased && madeIn && madeIn !== file && !frozen(madeIn)) {
          problems.push(`${file}: alters function ${name}, created in ${madeIn}: ${stmt.slice(0, 120)}`);
        }
        continue;
      }
      const fn = /^create (or replace )?function ([\w."]+)\s*\((.*?)\)\s*returns\b/i.exec(stmt);
      const view = /^create (or replace )?(?:materialized )?view ([\w."]+)/i.exec(stmt);
      const table = /^create (?:unlogged )?table (?:if not exists )?([\w."]+)/i.exec(stmt);
      let key: string | undefined;
      let replace = false;
      if (fn) {
        key = `function ${functionKey(fn[2]!, fn[3]!)}`;
        replace = Boolean(fn[1]);
        functionNamesBy.set(qualify(fn[2]!), functionNamesBy.get(qualify(fn[2]!)) ?? file);
      } else if (view) {
        key = `view ${qualify(view[2]!)}`;
        replace = Boolean(view[1]);
      } else if (table) {
        key = `table ${qualify(table[1]!)}`;
        tablesBy.set(qualify(table[1]!), file);
      }
      if (!key) continue;
      const first = defined.get(key);
      if (first && !frozen(first)) {
        problems.push(`${file}: ${replace ? 'replaces' : 'defines again'} ${key}, first defined in ${first}`);
      } else {
        // A later (unreleased) definition of a released object is the one that counts from now on.
        defined.set(key, file);
      }
    }
  }
  return problems;
}

function readMigrations(): Migration[] {
  return readdirSync(MIGRATIONS)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((file) => ({ file, sql: readFileSync(path.join(MIGRATIONS, file), 'utf8') }));
}

function releasedFiles(): Set<string> {
  return new Set(readReleases().flatMap((r) => r.migrations.map((m) => m.file)));
}

describe('supabase/migrations: unreleased ones in final form', () => {
  it('defines each unreleased object once and never drops, replaces or alters what an earlier unreleased migration made', () => {
    const migrations = readMigrations();
    expect(migrations.length).toBeGreaterThan(10);
    expect(finalFormProblems(migrations, releasedFiles())).toEqual([]);
  });

  it('names every migration <timestamp>_<what it does>.sql, timestamps unique', () => {
    const files = readMigrations().map((m) => m.file);
    expect(files.filter((f) => !/^\d{14}_[a-z0-9_]+\.sql$/.test(f))).toEqual([]);
    const stamps = files.map((f) => f.slice(0, 14));
    expect(new Set(stamps).size).toBe(stamps.length);
  });

  it('catches each breach it is meant to catch (a check that cannot fail proves nothing)', () => {
    const base = {
      file: '001_base.sql',
      sql: `create table public.t (id int, constraint t_ok check (id > 0));
            create index t_idx on public.t (id);
            create function public.f(p_a integer, p_b text default 'x; drop table t') returns int
              language sql set search_path = '' as $$ select 1; -- drop function public.f(integer, text)
            $$;
            create view public.v as select 1;
            alter table public.t enable row level security;`,
    };
    const cases: Array<[string, RegExp]> = [
      [
        'create function public.f(p_x int, p_y text) returns int language sql as $$ select 2 $$;',
        /defines again function public\.f\(integer, text\)/,
      ],
      [
        'create or replace function public.f(p_a integer, p_b text) returns int language sql as $$ select 2 $$;',
        /replaces function public\.f\(integer, text\)/,
      ],
      ['create or replace view public.v as select 2;', /replaces view public\.v/],
      ['drop index public.t_idx;', /drops a index/],
      ['drop function public.f(integer, text);', /drops a function/],
      ['alter table public.t drop constraint t_ok;', /drops a constraint/],
      ['alter table public.t add constraint t_more check (id < 10);', /alters table public\.t, created in 001_base\.sql/],
      ['alter function public.f(integer, text) reset plan_cache_mode;', /alters function public\.f, created in 001_base\.sql/],
      ['drop trigger x on public.t;', /drops a trigger/],
    ];
    expect(finalFormProblems([base])).toEqual([]);
    for (const [sql, expected] of cases) {
      const problems = finalFormProblems([base, { file: '002_later.sql', sql }]);
      expect(problems, sql).toHaveLength(1);
      expect(problems[0], sql).toMatch(expected);
    }
    // After a release, a later migration may replace, alter and drop what a released one made...
    const frozenBase = new Set([base.file]);
    for (const [sql] of cases) {
      expect(finalFormProblems([base, { file: '002_later.sql', sql }], frozenBase), sql).toEqual([]);
    }
    // ...but not what another unreleased one made.
    const upgrade = {
      file: '002_later.sql',
      sql: `create table public.u (id int);
            create or replace function public.f(p_a integer, p_b text) returns int language sql as $$ select 2 $$;`,
    };
    expect(
      finalFormProblems([base, upgrade, { file: '003_more.sql', sql: 'alter table public.u add column x int;' }], frozenBase),
    ).toEqual([expect.stringMatching(/003_more\.sql: alters table public\.u, created in 002_later\.sql/)]);
    expect(
      finalFormProblems([base, upgrade, {
        file: '003_more.sql',
        sql: 'create or replace function public.f(p_a integer, p_b text) returns int language sql as $$ select 3 $$;',
      }], frozenBase),
    ).toEqual([
      expect.stringMatching(/003_more\.sql: replaces function public\.f\(integer, text\), first defined in 002_later\.sql/),
    ]);
    expect(finalFormProblems([base, upgrade, { file: '003_more.sql', sql: 'drop table public.u;' }], frozenBase))
      .toEqual([expect.stringMatching(/003_more\.sql: drops a table/)]);
    // A function of the same name with other argument types is another function.
    expect(
      finalFormProblems([base, {
        file: '002_later.sql',
        sql: 'create function public.f(p_a bigint) returns int language sql as $$ select 1 $$;',
      }]),
    ).toEqual([]);
  });
});
