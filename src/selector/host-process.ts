import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { HostCommand } from './host-command.js';
import {
  FrameReader,
  MAX_REPLY_FRAME_BYTES,
  MAX_REQUEST_FRAME_BYTES,
  OK_TAG_CODE,
  Tag,
  encodeFrame,
  parseIndexList,
} from './protocol.js';
import type { SelectorFailure, TrialResult } from './types.js';

/** Longest a host may take to start before it counts as failed. */
export const HOST_STARTUP_TIMEOUT_MS = 20_000;
/** stderr kept from a host, for the crash log (V8 prints why it aborted). */
const STDERR_TAIL_CHARS = 4096;
/** Answered entries at the head of the queue before it is compacted. */
const QUEUE_COMPACT_AT = 1024;

/** One request to a host, waiting in its answer queue. */
export interface Op {
  readonly id: number;
  /** The whole message, so it can be sent again to a replacement host. */
  readonly msg: string;
  /** The request's own time limit, for the hang watchdog. */
  readonly timeoutMs: number;
  /** Times sent again to a replacement after a host died (bounded, see blame.ts). */
  resends: number;
}

/** Why and how a host ended. */
export interface HostExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** It had reported ready: an unanswered request can be blamed for its end. */
  wasReady: boolean;
  /** How many of the unanswered requests had been written to it (the rest never left the gateway). */
  written: number;
  /** Set when the gateway killed it. */
  killedFor: 'hang' | 'startup' | 'protocol' | 'close' | null;
  stderrTail: string;
}

/** What a host reports; `T` is the sandbox's request type. */
export interface HostEvents<T extends Op> {
  /** `trace`: the reads of a cacheable traced call (JSON text), else null. */
  onOk(host: HostProcess<T>, op: T, runUs: number, positions: number[] | null, trace: string | null): void;
  onFailed(host: HostProcess<T>, op: T, runUs: number, failure: SelectorFailure): void;
  /** `notMemoized`: why a memoized program cannot be memoized, else null. */
  onAck(host: HostProcess<T>, op: T, notMemoized: string | null): void;
  onTrial(host: HostProcess<T>, op: T, result: TrialResult): void;
  onConsole(host: HostProcess<T>, programId: number, dropped: number, lines: string[]): void;
  /** A run of a memoized program changed the state its top level left: memoization must end. */
  onStateful(host: HostProcess<T>, programId: number, reason: string): void;
  /**
   * The host wrote a frame over MAX_REPLY_FRAME_BYTES (skipped unread): the answer to `op`, or a
   * notice of `programId`; both null when the head names neither.
   */
  onOversized(host: HostProcess<T>, op: T | null, programId: number | null, bytes: number): void;
  onReady(host: HostProcess<T>): void;
  /** The process is gone; `unanswered` are its requests without an answer, oldest first. */
  onExit(host: HostProcess<T>, unanswered: T[], exit: HostExit): void;
}

/**
 * Gateway side of one sandbox host process: starts it, queues requests and writes them in one
 * frame per event-loop turn, matches answers to requests in order, and reports its end with the
 * requests it left unanswered.
 */
export class HostProcess<T extends Op> {
  /** Frames and requests written to all hosts by this process, for diagnostics. */
  static readonly written = { frames: 0, requests: 0 };
  readonly pid: number | undefined;
  ready = false;
  private readonly child: ChildProcess;
  private readonly input: Writable;
  /** Requests in the order sent; answered ones, before `head`, are cleared (null). */
  private queue: (T | null)[] = [];
  private head = 0;
  /** Queue index up to which requests have been written. */
  private writtenTo = 0;
  private outgoing: string[] = [];
  private flushScheduled = false;
  private exited = false;
  private killedFor: HostExit['killedFor'] = null;
  private stderrTail = '';
  private lastProgressAt = performance.now();
  private readonly startupTimer: NodeJS.Timeout;
  private readonly flushNow = () => this.flush();

  constructor(
    command: HostCommand,
    private readonly events: HostEvents<T>,
  ) {
    this.child = spawn(process.execPath, [...command.execArgv, command.entry], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    this.pid = this.child.pid;
    this.input = this.child.stdio[3] as Writable;
    const output = this.child.stdio[4] as Readable;
    const stderr = this.child.stdio[2] as Readable;
    const reader = new FrameReader(
      (buf, start, end) => this.onFrame(buf, start, end),
      MAX_REPLY_FRAME_BYTES,
      (head, bytes) => this.onOversized(head, bytes),
    );
    output.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch {
        this.kill('protocol');
      }
    });
    stderr.setEncoding('utf8');
    stderr.on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-STDERR_TAIL_CHARS);
    });
    // A dead host's pipes fail with EPIPE/ECONNRESET; its end is handled on 'close'.
    for (const stream of [this.input, output, stderr]) stream.on('error', () => {});
    // A process that could not be spawned never emits 'close'; report its end here instead.
    this.child.on('error', () => {
      if (this.child.pid === undefined) this.onClose(null, null);
      else this.kill('startup');
    });
    this.child.on('close', (code, signal) => this.onClose(code, signal));
    this.startupTimer = setTimeout(() => {
      if (!this.ready) this.kill('startup');
    }, HOST_STARTUP_TIMEOUT_MS);
    this.startupTimer.unref();
  }

  /** True until the process has ended. */
  get alive(): boolean {
    return !this.exited;
  }

  /** Requests sent and not answered yet. */
  get pending(): number {
    return this.queue.length - this.head;
  }

  /**
   * Queues a request; it is written with the others of this event-loop turn. A message that could
   * not fit in a frame is refused (false) and never queued.
   */
  send(op: T): boolean {
    if (this.exited) throw new Error('sandbox host has exited');
    if (op.msg.length * 3 > MAX_REQUEST_FRAME_BYTES && Buffer.byteLength(op.msg) > MAX_REQUEST_FRAME_BYTES)
      return false;
    if (this.head === this.queue.length) this.lastProgressAt = performance.now();
    this.queue.push(op);
    this.outgoing.push(op.msg);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushNow);
    }
    return true;
  }

  /**
   * How long the oldest request has gone without any answer from this host beyond its own time
   * limit, in ms; 0 while within it. Only a ready host can be late.
   */
  lateMs(now: number): number {
    if (!this.ready || this.exited || this.head === this.queue.length) return 0;
    const late = now - this.lastProgressAt - this.queue[this.head]!.timeoutMs;
    return late > 0 ? late : 0;
  }

  /** When this host last answered (or got work while idle); changes with every answer. */
  get progressAt(): number {
    return this.lastProgressAt;
  }

  /** Ends the process at once; its unanswered requests are reported through onExit. */
  kill(reason: NonNullable<HostExit['killedFor']>): void {
    if (this.exited) return;
    this.killedFor ??= reason;
    this.child.kill('SIGKILL');
  }

  private flush(): void {
    this.flushScheduled = false;
    const parts = this.outgoing;
    if (parts.length === 0 || this.exited) return;
    this.outgoing = [];
    this.writtenTo = this.queue.length;
    HostProcess.written.requests += parts.length;
    if (parts.length === 1) return this.writeFrame(parts[0]!);
    // One frame per turn while it stays under the cap (each message is, see send).
    let from = 0;
    let bytes = 0;
    for (let i = 0; i < parts.length; i++) {
      const size = Buffer.byteLength(parts[i]!) + 1;
      if (bytes + size > MAX_REQUEST_FRAME_BYTES && i > from) {
        this.writeFrame(parts.slice(from, i).join('\n'));
        from = i;
        bytes = 0;
      }
      bytes += size;
    }
    this.writeFrame(from === 0 ? parts.join('\n') : parts.slice(from).join('\n'));
  }

  private writeFrame(text: string): void {
    HostProcess.written.frames++;
    this.input.write(encodeFrame(text));
  }

  /** A reply frame over the cap, skipped as it arrived: whose it was, from its first bytes. */
  private onOversized(head: Buffer, bytes: number): void {
    const text = head.toString('latin1');
    const tag = text[0];
    const id = Number(/^.(\d+)/.exec(text)?.[1] ?? NaN);
    if (tag === Tag.console || tag === Tag.stateful)
      return this.events.onOversized(this, null, Number.isFinite(id) ? id : null, bytes);
    if (tag === Tag.ok || tag === Tag.failed || tag === Tag.ack || tag === Tag.trialResult) {
      const op = Number.isFinite(id) ? this.next(id) : null;
      if (op !== null) return this.events.onOversized(this, op, null, bytes);
    }
    this.events.onOversized(this, null, null, bytes);
    this.kill('protocol');
  }

  private next(opId: number): T | null {
    if (this.head === this.queue.length) return null;
    const op = this.queue[this.head]!;
    if (op.id !== opId) return null;
    // Let go of it now: a thousand answered requests kept until the next compaction would outlive
    // every minor GC of a busy gateway and be promoted, which made each minor GC ten times longer.
    this.queue[this.head] = null;
    this.head++;
    if (this.head >= QUEUE_COMPACT_AT && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.writtenTo -= this.head;
      this.head = 0;
    }
    this.lastProgressAt = performance.now();
    return op;
  }

  private onFrame(buf: Buffer, start: number, end: number): void {
    if (buf[start] === OK_TAG_CODE) {
      // R<opId>\t<runUs>\t<positions>[\t<trace>], read straight from the bytes: the hot path.
      let i = start + 1;
      let opId = 0;
      for (; i < end && buf[i] !== 0x09; i++) opId = opId * 10 + (buf[i]! - 0x30);
      let runUs = 0;
      for (i++; i < end && buf[i] !== 0x09; i++) runUs = runUs * 10 + (buf[i]! - 0x30);
      const op = this.next(opId);
      if (op === null) return this.kill('protocol');
      let cut = i + 1;
      while (cut < end && buf[cut] !== 0x09) cut++;
      const trace = cut < end ? buf.toString('utf8', cut + 1, end) : null;
      this.events.onOk(this, op, runUs, parseIndexList(buf, i + 1, cut), trace);
      return;
    }
    const text = buf.toString('utf8', start, end);
    const tag = text[0];
    if (tag === Tag.ready) {
      this.ready = true;
      this.lastProgressAt = performance.now();
      clearTimeout(this.startupTimer);
      this.events.onReady(this);
      return;
    }
    const t1 = text.indexOf('\t');
    if (tag === Tag.console) {
      const t2 = text.indexOf('\t', t1 + 1);
      const lines = safeJson(text.slice(t2 + 1));
      if (Array.isArray(lines)) {
        this.events.onConsole(this, Number(text.slice(1, t1)), Number(text.slice(t1 + 1, t2)), lines.map(String));
      }
      return;
    }
    if (tag === Tag.stateful) {
      const reason = safeJson(text.slice(t1 + 1));
      this.events.onStateful(
        this,
        Number(text.slice(1, t1)),
        typeof reason === 'string' ? reason : 'a run changed kept state',
      );
      return;
    }
    const op = this.next(Number(text.slice(1, t1 < 0 ? text.length : t1)));
    if (op === null) return this.kill('protocol');
    if (tag === Tag.ack) {
      const reason = t1 < 0 ? null : safeJson(text.slice(t1 + 1));
      return this.events.onAck(this, op, typeof reason === 'string' ? reason : null);
    }
    if (tag === Tag.failed) {
      const t2 = text.indexOf('\t', t1 + 1);
      const failure = safeJson(text.slice(t2 + 1)) as SelectorFailure | undefined;
      return this.events.onFailed(this, op, Number(text.slice(t1 + 1, t2)), failure?.kind ? failure : unreadable());
    }
    if (tag === Tag.trialResult) {
      const result = safeJson(text.slice(t1 + 1)) as TrialResult | undefined;
      return this.events.onTrial(
        this,
        op,
        result ?? { ok: false, picked: [], error: unreadable(), durationUs: 0, console: [] },
      );
    }
    this.kill('protocol');
  }

  private onClose(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exited) return;
    this.exited = true;
    clearTimeout(this.startupTimer);
    this.outgoing = [];
    const unanswered = this.queue.slice(this.head) as T[];
    const written = Math.max(0, this.writtenTo - this.head);
    this.queue = [];
    this.head = 0;
    this.writtenTo = 0;
    this.events.onExit(this, unanswered, {
      code,
      signal,
      wasReady: this.ready,
      written,
      killedFor: this.killedFor,
      stderrTail: this.stderrTail,
    });
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function unreadable(): SelectorFailure {
  return { kind: 'unavailable', message: 'the sandbox sent an unreadable answer' };
}
