import type { V1ListMeta } from "@kubernetes/client-node";

/**
 * Objects asked for per page of a first list (or a list again after a watch ended): with 10 000 Jobs
 * one answer was tens of megabytes, parsed whole before anything of it could be dropped.
 */
export const LIST_PAGE_SIZE = 500;

export interface ListPage<T> {
  items: T[];
  metadata?: V1ListMeta;
}

export interface PageRequest {
  readonly limit: number;
  readonly _continue?: string;
}

/**
 * Lists page by page (`limit`, then `continue` until the API server says there is no more), keeping
 * of each object only what `keep` picks as each page arrives. The pages are one snapshot: the answer
 * carries the resourceVersion a watch goes on from.
 */
export async function pagedList<T, L extends ListPage<T>>(
  page: (request: PageRequest) => Promise<L>,
  keep: (object: T) => T,
  pageSize: number = LIST_PAGE_SIZE,
): Promise<L> {
  const items: T[] = [];
  let next: string | undefined;
  for (;;) {
    const listed = await page(
      next === undefined ? { limit: pageSize } : { limit: pageSize, _continue: next },
    );
    for (const object of listed.items) items.push(keep(object));
    next = listed.metadata?._continue || undefined;
    if (next === undefined) return { ...listed, items };
  }
}
