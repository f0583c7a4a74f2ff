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

/** Scheduler settings the dispatcher needs, read from public._settings(). */
export interface DispatchSettings {
  globalMaxConcurrentCalls: number;
  campaignsPerTick: number;
  providerCallsPerSecond: number;
  dispatchConcurrency: number;
  dispatchBatchSize: number;
  providerRequestTimeoutMs: number;
  tickBudgetMs: number;
  manualTriggerMinIntervalMs: number;
}

export async function readSettings(db: SqlClient): Promise<DispatchSettings> {
  const { rows } = await db.query<Record<string, string | number>>(
    `select global_max_concurrent_calls, campaigns_per_tick, provider_calls_per_second::float8 as cps,
            dispatch_concurrency, dispatch_batch_size, provider_request_timeout_ms, tick_budget_ms,
            (extract(epoch from manual_trigger_min_interval) * 1000)::float8 as manual_ms
       from public._settings()`,
  );
  const r = rows[0];
  if (!r) throw new Error('scheduler settings are missing');
  return {
    globalMaxConcurrentCalls: Number(r.global_max_concurrent_calls),
    campaignsPerTick: Number(r.campaigns_per_tick),
    providerCallsPerSecond: Number(r.cps),
    dispatchConcurrency: Number(r.dispatch_concurrency),
    dispatchBatchSize: Number(r.dispatch_batch_size),
    providerRequestTimeoutMs: Number(r.provider_request_timeout_ms),
    tickBudgetMs: Number(r.tick_budget_ms),
    manualTriggerMinIntervalMs: Number(r.manual_ms),
  };
}
