// The result batcher: the provider's answers, recorded in batches (one round trip of
// record_dispatch_results for many answers). An answer is written at once when the batch is full
// or when the caller says it is urgent; otherwise within flushDelayMs. A call whose answer waits
// here is in 'dialing' (an active call under the caps; its request's place under the dispatch
// concurrency is already free); if the write fails every answer of the batch
// is rejected (the calls stay in dialing: never re-sent; their callbacks or the reaper settle them).

export interface ResultBatcherOptions<Row, Answer> {
  /** Answers per round trip (at least one). */
  batchSize: number;
  /** The longest an answer waits for others. */
  flushDelayMs: number;
  /** Writes one batch; answers one value per row, in order. */
  write(rows: Row[]): Promise<Answer[]>;
  /** Called for each row of a written batch, in order, before its add() resolves. */
  applied?(row: Row, answer: Answer | undefined): void;
  /** True when this row must be written now (nothing else is coming, or the answer decides what happens next). */
  urgent(row: Row): boolean;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
}

interface Pending<Row> {
  row: Row;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class ResultBatcher<Row, Answer> {
  private pending: Pending<Row>[] = [];
  private timer: unknown = null;
  private readonly batchSize: number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(private readonly opts: ResultBatcherOptions<Row, Answer>) {
    this.batchSize = Math.max(1, opts.batchSize);
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
  }

  /** Answers waiting for their batch. */
  get size(): number {
    return this.pending.length;
  }

  /** Resolves when the row is written (and applied); rejects when its batch's write fails. */
  add(row: Row): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ row, resolve, reject });
      if (this.pending.length >= this.batchSize || this.opts.urgent(row)) {
        this.flush();
      } else if (this.timer === null) {
        this.timer = this.setTimer(() => this.flush(), this.opts.flushDelayMs);
      }
    });
  }

  /** Writes what is waiting now (does not wait for the write). */
  flush(): void {
    if (this.timer !== null) {
      this.clearTimer(this.timer);
      this.timer = null;
    }
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.opts.write(batch.map((p) => p.row)).then(
      (answers) => {
        try {
          // In the order the database applied them, as one round trip per answer would have seen them.
          if (this.opts.applied) { for (let i = 0; i < batch.length; i++) this.opts.applied(batch[i]!.row, answers[i]); }
        } finally {
          for (const p of batch) p.resolve();
        }
      },
      (err) => {
        for (const p of batch) p.reject(err);
      },
    );
  }
}
