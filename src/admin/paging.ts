import { z } from 'zod';
import { parseInput } from './validate.js';

/** Largest page of the admin lists that page (`GET /admin/apis`, `/admin/variables`, `/admin/consumers`). */
export const LIST_PAGE_MAX = 500;
/** Page size when a listing gives `after` without `limit`. */
export const LIST_PAGE_DEFAULT = 100;

/**
 * Paging query of an admin list: `limit` (1–500) and `after` (the `next` of the previous page). Other
 * query parameters are ignored, as they were before these lists paged (a cache-busting `?_=…` still works).
 */
export const ListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(LIST_PAGE_MAX).optional(),
  /** Only objects whose name sorts after this one (case-insensitively); need not name a stored object. */
  after: z.string().min(1).max(200).optional(),
});
export type ListQuery = z.infer<typeof ListQuery>;

/** One page of an admin list: objects in name order, and the cursor of the next page (null: the last page). */
export interface ListPage<T> {
  items: T[];
  next: string | null;
}

/** The paging of one request: null when it asked for neither `limit` nor `after` (the whole list, as an array). */
export function pagingOf(query: unknown): { limit: number; after: string | null } | null {
  const q = parseInput(ListQuery, query ?? {});
  if (q.limit === undefined && q.after === undefined) return null;
  return { limit: q.limit ?? LIST_PAGE_DEFAULT, after: q.after ?? null };
}

/** The key lists page by: NFC, lower case (the stores' name uniqueness), compared by code unit. */
export function pageKey(name: string): string {
  return name.normalize('NFC').toLowerCase();
}

/**
 * One page of `all` in the order of `name` (through `fold`, by default `pageKey`; the identity for
 * case-sensitive names): the objects after the cursor, at most `limit` of them, and `next` (the last
 * one's name) when more follow. A cursor whose object was
 * deleted meanwhile still pages on from where it was; an object renamed while a client pages may be
 * seen twice or not at all, as with any cursor over a changing list.
 */
export function pageOf<T>(
  all: readonly T[],
  name: (item: T) => string,
  { limit, after }: { limit: number; after: string | null },
  fold: (name: string) => string = pageKey,
): ListPage<T> {
  const keyed = all.map((item) => ({ item, key: fold(name(item)) }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const from = after === null ? keyed : keyed.filter((k) => k.key > fold(after));
  const items = from.slice(0, limit).map((k) => k.item);
  return { items, next: from.length > limit ? name(items[items.length - 1]!) : null };
}
