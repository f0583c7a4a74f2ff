// What the code takes from the generated database types (database.types.ts, written by
// `npm run gen:types` from the migrations; CI checks it is current). The generator describes values
// as PostgREST sends them as JSON (timestamps as text, bigint as number); node-postgres parses
// timestamps into Dates and keeps bigint as text, so the row interfaces in queries.ts stay ours.
// What is taken from here are the names: the enums' values, and the columns each set-returning
// function answers, so that a migration renaming or dropping one fails `tsc` and `deno check` at
// every interface that reads it (ColumnsOf below).

import type { Database } from './database.types.ts';

type Public = Database['public'];

/** The database's enum types, by name (e.g. DbEnum<'call_status'>). */
export type DbEnum<N extends keyof Public['Enums']> = Public['Enums'][N];

/** One row of what the set-returning function N answers. */
export type FunctionRow<N extends keyof Public['Functions']> = Public['Functions'][N]['Returns'] extends ReadonlyArray<infer R>
  ? R
  : never;

/** One row of the view N. */
export type ViewRow<N extends keyof Public['Views']> = Public['Views'][N]['Row'];

/**
 * true when every key of T is a column of R; otherwise a type naming the keys that are not, which
 * Columns rejects at compile time (the error names them).
 */
export type KeysAreColumns<T, R> = [Exclude<keyof T, keyof R>] extends [never] ? true
  : { not_columns_of_the_row: Exclude<keyof T, keyof R> };

/**
 * Compiles only when given true: `export type _ = Columns<KeysAreColumns<ClaimedCall,
 * FunctionRow<'claim_queued_calls'>>>` stops compiling when the function stops answering a column
 * the interface reads.
 */
export type Columns<Ok extends true> = Ok;
