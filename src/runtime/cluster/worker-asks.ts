/** How long the primary waits for a worker's answer before going on without it. */
export const ANSWER_TIMEOUT_MS = 5_000;

interface Pending<W> {
  answers: Map<W, unknown>;
  expect: Set<W>;
  done: () => void;
}

/**
 * The primary's questions to its workers (`/status`, `/metrics`, explain): each is sent to the ready
 * workers and resolves with the answers that came, once every asked worker answered, died or went
 * silent, or after ANSWER_TIMEOUT_MS, whichever is first.
 */
export class WorkerAsks<W> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending<W>>();

  /** Sends a question (with its id) to each of `workers`; resolves with their answers, by worker. */
  ask(workers: readonly W[], send: (worker: W, id: number) => void): Promise<Map<W, unknown>> {
    const id = this.nextId++;
    const expect = new Set(workers);
    if (expect.size === 0) return Promise.resolve(new Map());
    return new Promise((resolve) => {
      const answers = new Map<W, unknown>();
      const timer = setTimeout(() => finish(), ANSWER_TIMEOUT_MS);
      const finish = () => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(answers);
      };
      this.pending.set(id, { answers, expect, done: finish });
      for (const worker of expect) send(worker, id);
    });
  }

  /** `worker` answered question `id` (`kept`: false when it could not, so nothing of it is kept). */
  answer(id: number, worker: W, value: unknown, kept: boolean): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    if (kept) pending.answers.set(worker, value);
    pending.expect.delete(worker);
    if (pending.expect.size === 0) pending.done();
  }

  /** Answers pending from `worker` are no longer awaited (it died or went silent). */
  forget(worker: W): void {
    for (const pending of this.pending.values()) {
      if (pending.expect.delete(worker) && pending.expect.size === 0) pending.done();
    }
  }
}
