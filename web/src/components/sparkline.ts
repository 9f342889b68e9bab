const SVG = 'http://www.w3.org/2000/svg';

/** A series drawn on a sparkline: values, and the class that colours its line. */
export interface SparkSeries {
  values: readonly number[];
  className: string;
}

/**
 * A small inline SVG line chart (no chart library): every series on one scale, the first one's
 * peak at the top. `label` is what a screen reader hears instead of the drawing.
 */
export function sparkline(series: readonly SparkSeries[], label: string, width = 120, height = 28): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('class', 'sparkline');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', label);
  const peak = Math.max(1, ...series.flatMap((s) => s.values));
  for (const s of series) {
    const n = s.values.length;
    if (n === 0) continue;
    const step = n > 1 ? width / (n - 1) : 0;
    // One pixel of margin so a flat zero line and the peak stay visible.
    const points = s.values
      .map((v, i) => `${(i * step).toFixed(1)},${(height - 1 - (v / peak) * (height - 2)).toFixed(1)}`)
      .join(' ');
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', points);
    line.setAttribute('class', s.className);
    svg.append(line);
  }
  return svg;
}
