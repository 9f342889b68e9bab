/** The wall clock when this process started, read once (performance.timeOrigin is a getter). */
const ORIGIN = performance.timeOrigin;

/**
 * Milliseconds since the epoch on a steady clock: the wall clock at process start plus the monotonic
 * time since. A step of the system clock (an NTP step, `date -s`) moves no deadline kept with it: with
 * Date.now, a clock set back an hour kept an ejected node out of rotation an hour longer. Its values
 * read as epoch times (ejection ends, request stats' slots), off by the steps since the start.
 */
export function steadyNow(): number {
  return ORIGIN + performance.now();
}
