/** Paged lists (limit/continue), as client-go's pager does them. */
import { httpCode } from './errors.ts';
import type { ListResult } from './types.ts';

export const PAGE_SIZE = 500;
/**
 * Identities: the spec is bounded by the CRD, but metadata may carry 256 KiB of annotations, so
 * one page is at most ~25 MB of JSON.
 */
export const IDENTITY_PAGE_SIZE = 100;
/**
 * Labelled Secrets and ConfigMaps: a tenant can make each one ~1 MB, and a page is held whole
 * (response text, parsed objects, client-node's model copies) before the reduction drops most of
 * it: 25 per page keeps that transient under ~80 MB inside a 192 MB heap.
 */
export const SMALL_PAGE_SIZE = 25;

/** One page: (limit, continue token) -> a list body (typed client-node list or raw JSON). */
export type PageFn = (limit: number | undefined, cont: string | undefined) => Promise<unknown>;

interface ListBody {
  items?: unknown[];
  metadata?: { resourceVersion?: string; continue?: string; _continue?: string };
}

/**
 * Every page of a list. All pages come from the snapshot of the first, so the resourceVersion is
 * that of the list. A continue token that expired (410) starts the paged list again from a new
 * snapshot (never one unpaged list: that would hold every object at once), at most
 * MAX_RESTARTS times.
 */
export const MAX_RESTARTS = 3;

export async function listAllPages(page: PageFn, pageSize = PAGE_SIZE): Promise<ListResult<unknown>> {
  for (let restarts = 0; ; restarts++) {
    const items: unknown[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    let expired = false;
    do {
      let body: ListBody;
      try {
        body = ((await page(pageSize, cont)) ?? {}) as ListBody;
      } catch (err) {
        if (cont !== undefined && httpCode(err) === 410 && restarts < MAX_RESTARTS) {
          expired = true;
          break;
        }
        throw err;
      }
      for (const item of body.items ?? []) items.push(item);
      resourceVersion = body.metadata?.resourceVersion ?? resourceVersion;
      cont = body.metadata?.continue || body.metadata?._continue || undefined;
    } while (cont !== undefined);
    if (!expired) return { items, resourceVersion };
  }
}
