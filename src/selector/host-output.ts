/**
 * The sandbox host's replies (host.ts): each frame written with a synchronous write the moment it is
 * known, or, for the answers of one batch entry, held and written together in one write before the
 * next entry; answers and frames over the cap handled here, so the cap holds whatever is written.
 */
import { writeSync } from 'node:fs';
import { capFailure } from './host-limits.js';
import { MAX_REPLY_FRAME_BYTES, REPLY_FD, Tag, encodeFrame } from './protocol.js';
import type { SelectorFailure } from './types.js';

/** How long a reply write may wait for the gateway to drain the pipe before the host gives up. */
const WRITE_STALL_LIMIT_MS = 30_000;

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `frame`; the reply fd is a blocking socket, so EAGAIN only comes if a platform made it non-blocking. */
function writeAll(frame: Buffer): void {
  let off = 0;
  let stalledMs = 0;
  while (off < frame.length) {
    try {
      off += writeSync(REPLY_FD, frame, off, frame.length - off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || stalledMs >= WRITE_STALL_LIMIT_MS) throw err;
      Atomics.wait(sleeper, 0, 0, 1);
      stalledMs++;
    }
  }
}

let answered = 0;

/** Requests answered so far (so a caller can tell whether one got its answer). */
export function answeredCount(): number {
  return answered;
}
/**
 * Frames of the batch being answered, written together in one write when it is done (and always
 * before the next isolate entry, so a host that dies has still delivered every answer it computed);
 * null outside a batch, where each frame is written at once.
 */
let held: Buffer[] | null = null;

function send(frame: Buffer): void {
  if (held !== null) held.push(frame);
  else writeAll(frame);
}

/** From now on frames are held, until release(). */
export function hold(): void {
  held ??= [];
}

/** Writes the held frames in one write; frames are written at once again. */
export function release(): void {
  const frames = held;
  held = null;
  if (frames !== null && frames.length > 0) writeAll(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
}

/**
 * Writes the one answer (R, E, A or J) a request gets. Everything put in one is capped already; an
 * answer still over the frame cap is replaced by that request's failure, so the cap holds here.
 */
export function reply(text: string): void {
  let frame = encodeFrame(text);
  if (frame.length - 4 > MAX_REPLY_FRAME_BYTES) {
    const tab = text.indexOf('\t');
    const failure = { kind: 'bad-result', message: `the answer was ${frame.length - 4} bytes, over the sandbox's cap` };
    frame = encodeFrame(`${Tag.failed}${text.slice(1, tab < 0 ? 20 : tab)}\t0\t${JSON.stringify(failure)}`);
  }
  send(frame);
  answered++;
}

/** Writes a notice (console lines, ready), which answers no request; one over the frame cap is dropped. */
export function notice(text: string): void {
  const frame = encodeFrame(text);
  if (frame.length - 4 <= MAX_REPLY_FRAME_BYTES) send(frame);
}

/** Answers request `opId` with a failure (capped). */
export function failed(opId: string, runUs: number, failure: SelectorFailure): void {
  reply(`${Tag.failed}${opId}\t${runUs}\t${JSON.stringify(capFailure(failure))}`);
}
