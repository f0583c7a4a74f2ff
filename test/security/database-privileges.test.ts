// What Supabase's API roles can do to the scheduler: nothing. PostgREST exposes schema public to
// anon and authenticated, so every table has row level security and neither role (nor a role with
// only PUBLIC's rights) may read, write or execute anything of ours. Checked by trying, as each
// role, inside a transaction that is rolled back: every table and view (select / insert / update /
// delete / truncate), every sequence (nextval), every function in public (a call), and schema
// cron. Plus the function hygiene Supabase's linter asks for: search_path pinned to '' on every
// function, and no SECURITY DEFINER function without a fixed search_path.

import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../support/db.ts';

let db: pg.Client;

beforeAll(async () => {
  db = await connect();
});

afterAll(async () => {
  await db?.end();
});

/** A sample argument of each type our functions take (non-null: strict functions skip null calls). */
const SAMPLE: Record<string, string> = {
  text: `'+15551234567'`,
  integer: '1',
  bigint: '1',
  smallint: '1',
  numeric: '1',
  boolean: 'false',
  jsonb: `'{}'::jsonb`,
  'timestamp with time zone': 'now()',
  'time without time zone': `'09:00'::time`,
  'smallint[]': `'{1}'::smallint[]`,
  interval: `'1 minute'::interval`,
  call_status: `'completed'::public.call_status`,
  campaign_status: `'PAUSED'::public.campaign_status`,
  scheduler_trigger: `'manual'::public.scheduler_trigger`,
  scheduler_run_status: `'ok'::public.scheduler_run_status`,
  'boolean[]': `'{true}'::boolean[]`,
  'text[]': `'{x}'::text[]`,
  'timestamp with time zone[]': `array[now()]`,
  'timestamp without time zone[]': `array[localtimestamp]`,
  bytea: `'\\x00'::bytea`,
  operator_tokens: 'null::public.operator_tokens',
  do_not_call_numbers: 'null::public.do_not_call_numbers',
  calling_hours_rules: 'null::public.calling_hours_rules',
  webhook_endpoints: 'null::public.webhook_endpoints',
  provider_circuit_breakers: `row('default', 'closed', 0, null, null, null, null, now())::public.provider_circuit_breakers`,
};

interface Attempt {
  what: string;
  sql: string;
  /** The object the denial must name (not something the statement touched further in). */
  object: string;
}

async function objects(): Promise<
  { relations: Array<{ name: string; kind: string; column: string }>; sequences: string[]; functions: string[] }
> {
  const { rows: relations } = await db.query<{ name: string; kind: string; column: string }>(
    `select format('public.%I', c.relname) as name, c.relkind::text as kind,
            (select quote_ident(a.attname) from pg_attribute a
              where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attidentity = ''
              order by a.attnum limit 1) as column
       from pg_class c
      where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm') order by 1`,
  );
  const { rows: sequences } = await db.query<{ name: string }>(
    `select format('public.%I', c.relname) as name from pg_class c
      where c.relnamespace = 'public'::regnamespace and c.relkind = 'S' order by 1`,
  );
  const { rows: functions } = await db.query<{ call: string }>(
    `select format('public.%I(%s)', p.proname,
                   coalesce((select string_agg(format('%s', format_type(t, null)), ',' order by n)
                               from unnest(p.proargtypes::oid[]) with ordinality as a (t, n)), '')) as call
       from pg_proc p where p.pronamespace = 'public'::regnamespace and p.prokind = 'f' order by 1`,
  );
  const toCall = (signature: string) =>
    signature.replace(/\(([^)]*)\)$/, (_, args: string) => {
      if (!args) return '()';
      const parts = args.split(',').map((a) => {
        const key = a.replace(/^public\./, '').trim();
        const sample = SAMPLE[key];
        if (!sample) throw new Error(`no sample argument for type ${a}: add one to SAMPLE`);
        return sample;
      });
      return `(${parts.join(', ')})`;
    });
  return { relations, sequences: sequences.map((r) => r.name), functions: functions.map((r) => toCall(r.call)) };
}

/** Runs each attempt as `role` in its own savepoint; returns those that did NOT fail with 42501. */
async function allowedAs(role: string, attempts: Attempt[]): Promise<string[]> {
  const allowed: string[] = [];
  await db.query('begin');
  try {
    await db.query(`set local role ${role}`);
    for (const a of attempts) {
      await db.query('savepoint probe');
      try {
        await db.query(a.sql);
        allowed.push(`${a.what}: succeeded`);
      } catch (err) {
        const code = (err as { code?: string }).code;
        const message = (err as Error).message;
        // Denied for the object itself, or for the whole schema; a denial deeper inside (a function
        // that ran and then hit a table) means the object itself was allowed.
        const named = message.includes(`permission denied for schema`) || message.includes(a.object);
        if (code !== '42501' || !named) {
          allowed.push(`${a.what}: got ${code} ${message} instead of permission denied for ${a.object}`);
        }
      }
      await db.query('rollback to savepoint probe');
    }
  } finally {
    await db.query('rollback');
  }
  return allowed;
}

async function attempts(): Promise<Attempt[]> {
  const { relations, sequences, functions } = await objects();
  const out: Attempt[] = [];
  const bare = (name: string) => name.replace(/^public\./, '').replace(/\(.*$/, '');
  for (const r of relations) {
    const object = `${r.kind === 'v' ? 'view' : r.kind === 'm' ? 'materialized view' : 'table'} ${bare(r.name)}`;
    out.push({ what: `select from ${r.name}`, sql: `select * from ${r.name} limit 1`, object });
    if (r.kind === 'r' || r.kind === 'p') {
      out.push({ what: `insert into ${r.name}`, sql: `insert into ${r.name} default values`, object });
      out.push({ what: `update ${r.name}`, sql: `update ${r.name} set ${r.column} = ${r.column}`, object });
      out.push({ what: `delete from ${r.name}`, sql: `delete from ${r.name}`, object });
      out.push({ what: `truncate ${r.name}`, sql: `truncate ${r.name} cascade`, object });
    }
  }
  for (const s of sequences) out.push({ what: `nextval ${s}`, sql: `select nextval('${s}')`, object: `sequence ${bare(s)}` });
  for (const f of functions) out.push({ what: `execute ${f}`, sql: `select ${f}`, object: `function ${bare(f)}` });
  out.push({ what: 'create a table in public', sql: 'create table public.rls_probe (id int)', object: 'schema public' });
  out.push({ what: 'read cron.job', sql: 'select * from cron.job', object: 'schema cron' });
  out.push({
    what: 'schedule a pg_cron job',
    sql: `select cron.schedule('probe', '* * * * *', 'select 1')`,
    object: 'schema cron',
  });
  return out;
}

describe('row level security and the API roles', () => {
  it('enables row level security on every table in public', async () => {
    const { rows } = await db.query<{ relname: string; relrowsecurity: boolean }>(
      `select c.relname, c.relrowsecurity from pg_class c
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') order by 1`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(7);
    expect(rows.filter((r) => !r.relrowsecurity).map((r) => r.relname)).toEqual([]);
  });

  it('sees every table, view, sequence and function it must check', async () => {
    const { relations, sequences, functions } = await objects();
    expect(relations.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        'public.campaigns',
        'public.contacts',
        'public.calls',
        'public.scheduler_runs',
        'public.scheduler_status',
      ]),
    );
    expect(sequences.length).toBeGreaterThanOrEqual(3);
    expect(functions.length).toBeGreaterThanOrEqual(20);
    expect(functions.some((f) => f.startsWith('public.launch_due_calls('))).toBe(true);
  });

  for (const role of ['anon', 'authenticated']) {
    it(`denies ${role} every select, write, nextval and execute (permission denied, 42501)`, async () => {
      expect(await allowedAs(role, await attempts())).toEqual([]);
    });
  }

  it('denies a role holding only PUBLIC privileges the same (nothing is granted to PUBLIC)', async () => {
    const probe = `rls_probe_${process.pid}`;
    await db.query(`create role ${probe} nologin noinherit`);
    try {
      expect(await allowedAs(probe, await attempts())).toEqual([]);
    } finally {
      await db.query(`drop role ${probe}`);
    }
  });

  it('still lets service_role (what the Edge Functions use on Supabase) run the entry points', async () => {
    await db.query('begin');
    try {
      await db.query('set local role service_role');
      const { rows } = await db.query(
        `select public.is_valid_time_zone('Europe/Paris') as ok, (select count(*) from public.campaigns) >= 0 as reads`,
      );
      expect(rows).toEqual([{ ok: true, reads: true }]);
      const { rows: launched } = await db.query(`select count(*)::int as n from public.launch_due_calls(now())`);
      expect(launched[0]!.n).toBeGreaterThanOrEqual(0);
    } finally {
      await db.query('rollback');
    }
  });
});

describe('function hygiene', () => {
  it("pins search_path to '' on every function in public", async () => {
    const { rows } = await db.query<{ f: string; config: string[] | null }>(
      `select p.oid::regprocedure::text as f, p.proconfig as config from pg_proc p
        where p.pronamespace = 'public'::regnamespace order by 1`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(20);
    expect(rows.filter((r) => !(r.config ?? []).includes('search_path=""')).map((r) => r.f)).toEqual([]);
  });

  it('has no SECURITY DEFINER function without a fixed search_path, in any schema of ours', async () => {
    const { rows } = await db.query<{ f: string; config: string[] | null }>(
      `select p.oid::regprocedure::text as f, p.proconfig as config
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where p.prosecdef
          and n.nspname not in ('pg_catalog', 'information_schema', 'cron', 'extensions', 'vault', 'net', 'pgsodium', 'graphql',
                                'auth', 'storage', 'realtime', 'supabase_functions')
          and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')`,
    );
    expect(rows.filter((r) => !(r.config ?? []).some((c) => c.startsWith('search_path='))).map((r) => r.f)).toEqual([]);
  });

  it('runs every view with the reader’s rights (security_invoker)', async () => {
    const { rows } = await db.query<{ v: string; options: string[] | null }>(
      `select c.relname as v, c.reloptions as options from pg_class c
        where c.relnamespace = 'public'::regnamespace and c.relkind = 'v' order by 1`,
    );
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows.filter((r) => !(r.options ?? []).includes('security_invoker=true')).map((r) => r.v)).toEqual([]);
  });
});
