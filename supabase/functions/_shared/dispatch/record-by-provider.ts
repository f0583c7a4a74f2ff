// Answers of one dispatch may come from several platforms (a mix of Twilio, Vapi and Retell
// accounts), and record_dispatch_results() records one provider's answers at a time (it checks each
// call went to that provider). So a batch is split by provider, each part written in one round
// trip (in the order given: a breaker belongs to one account, hence to one provider, so its results
// keep their order), and the answers are put back in the rows' order.

import type { SqlClient } from '../db.ts';
import { type DispatchResultRow, recordDispatchResults } from '../queries.ts';

export async function recordDispatchResultsByProvider(
  db: SqlClient,
  providerOf: (callId: string) => string,
  rows: DispatchResultRow[],
): Promise<Array<string | null>> {
  if (rows.length === 0) return [];
  const groups = new Map<string, number[]>();
  rows.forEach((row, i) => {
    const kind = providerOf(row.call_id);
    const at = groups.get(kind);
    if (at) at.push(i);
    else groups.set(kind, [i]);
  });
  // The common case (one platform): exactly the one round trip it always was.
  if (groups.size === 1) return await recordDispatchResults(db, groups.keys().next().value!, rows);
  const out = new Array<string | null>(rows.length).fill(null);
  for (const [kind, indexes] of groups) {
    const answers = await recordDispatchResults(db, kind, indexes.map((i) => rows[i]!));
    indexes.forEach((i, j) => (out[i] = answers[j] ?? null));
  }
  return out;
}
