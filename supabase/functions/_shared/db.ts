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

/** Runs fn inside BEGIN / COMMIT on one pooled connection (ROLLBACK on error). */
export async function withTransaction<T>(pool: SqlPool, fn: (client: SqlClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    try {
      await client.query('rollback');
    } catch (rollbackErr) {
      broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
    }
    throw err;
  } finally {
    client.release(broken);
  }
}
