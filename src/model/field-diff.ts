// Browser-safe (no Node imports): the console's audit page uses it too.

/** A value in a line: strings as they are, the rest as JSON, cut short. */
function short(value: unknown, max: number): string {
  const text = value === undefined ? 'unset' : typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * What an update changed, one line per top-level field (`enabled: true → false`); timestamps left
 * out. Empty when either side is not an object.
 */
export function fieldChanges(before: unknown, after: unknown, max = 60): string[] {
  if (before === null || after === null || typeof before !== 'object' || typeof after !== 'object') return [];
  const b = before as Record<string, unknown>;
  const a = after as Record<string, unknown>;
  const lines: string[] = [];
  for (const key of new Set([...Object.keys(b), ...Object.keys(a)])) {
    if (key === 'updatedAt' || key === 'createdAt') continue;
    if (JSON.stringify(b[key]) !== JSON.stringify(a[key]))
      lines.push(`${key}: ${short(b[key], max)} → ${short(a[key], max)}`);
  }
  return lines;
}
