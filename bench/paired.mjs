// Paired runs for `npm run bench` (PAIRS=N): the cost of one row against another measured in pairs of
// short wrk runs through the same running gateway, A then B, then B then A, so that the drift of this
// VM's rate (±20 % between separate runs) hits both sides of a pair alike. Prints the median ratio of
// the rates, B ÷ A, with its quartiles.
import { log, median, wrk } from './common.mjs';

/** The q-quantile (0..1) of `xs`, by linear interpolation. */
function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (at - lo);
}

/**
 * Runs `pairs` pairs of `a` and `b` (each `{ key, name, url, args }`), `dur` of wrk each after one
 * warm-up of both; returns `{ ratio, q1, q3, pairs }` where ratio is the median of B's rate over A's.
 */
export function pairedRatio(a, b, { pairs, dur, threads, conns }) {
  const run = (row) => wrk(row.url, { threads, conns, dur, args: row.args ?? [] }).rps;
  run(a);
  run(b);
  const ratios = [];
  for (let i = 0; i < pairs; i++) {
    const first = i % 2 === 0 ? a : b;
    const second = first === a ? b : a;
    const r1 = run(first);
    const r2 = run(second);
    const [ra, rb] = first === a ? [r1, r2] : [r2, r1];
    ratios.push(rb / ra);
  }
  const result = { ratio: median(ratios), q1: quantile(ratios, 0.25), q3: quantile(ratios, 0.75), pairs };
  log(
    `paired, ${pairs} pairs of ${dur}: ${b.name} ÷ ${a.name}: rate ${result.ratio.toFixed(3)} (quartiles ${result.q1.toFixed(3)}–${result.q3.toFixed(3)}), a cost of ${((1 - result.ratio) * 100).toFixed(1)} %`,
  );
  return result;
}
