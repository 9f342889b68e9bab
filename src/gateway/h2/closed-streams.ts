/** How many closed streams are remembered: frames in flight on those we reset are ignored, others are errors. */
const CLOSED_MEMORY = 128;

/**
 * The last streams of a session that closed, oldest forgotten first (RFC 9113 §5.1): for each, whether
 * the client may still have frames in flight on it (we reset or refused it while it was sending), so
 * that those are ignored, or may send nothing more on it (it sent END_STREAM or RST_STREAM).
 */
export class ClosedStreams {
  private readonly ids = new Map<number, boolean>();

  /** Remembers `id` as closed; `inFlight` once set stays (a reset stream that then closes is still one we reset). */
  remember(id: number, inFlight: boolean): void {
    if (this.ids.get(id) === true) return;
    this.ids.delete(id);
    if (this.ids.size === CLOSED_MEMORY) this.ids.delete(this.ids.keys().next().value!);
    this.ids.set(id, inFlight);
  }

  /** 'in-flight': frames on it are ignored; 'closed': the client may send nothing on it; null: not remembered. */
  state(id: number): 'in-flight' | 'closed' | null {
    const inFlight = this.ids.get(id);
    return inFlight === undefined ? null : inFlight ? 'in-flight' : 'closed';
  }
}
