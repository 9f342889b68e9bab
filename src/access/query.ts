// The query string as the access stage reads it: `name=value` pairs split on `&`, names compared as
// sent (not decoded), the first pair of a name winning.

/** Where the pair that starts at `from` ends: its `&`, or the end of the query. */
export function pairEnd(rawQuery: string, from: number): number {
  const end = rawQuery.indexOf('&', from);
  return end < 0 ? rawQuery.length : end;
}

/** Whether the pair in `[from, end)` is named `name` (`name` alone or `name=…`): where its name ends, else -1. */
export function nameEndIf(rawQuery: string, from: number, end: number, name: string): number {
  const eq = rawQuery.indexOf('=', from);
  const keyEnd = eq >= 0 && eq < end ? eq : end;
  return keyEnd - from === name.length && rawQuery.startsWith(name, from) ? keyEnd : -1;
}
