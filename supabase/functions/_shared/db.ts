// The database seam: the smallest part of node-postgres the functions use, so the core does not
// depend on how the pool is made (pg under Node and under Deno via npm:pg).

export interface QueryResultLike<R> {
  rows: R[];
  rowCount: number | null;
}

export interface SqlClient {
  // deno-lint-ignore no-explicit-any
  query<R = any>(text: string, values?: unknown[]): Promise<QueryResultLike<R>>;
}

export interface PooledClient extends SqlClient {
  release(err?: Error | boolean): void;
}

export interface SqlPool extends SqlClient {
  connect(): Promise<PooledClient>;
}
