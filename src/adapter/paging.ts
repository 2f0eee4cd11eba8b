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

/**
 * Every page of a list, each handed to `onItems` as it arrives (and then let go): the caller
 * builds its cache page by page and never holds the whole list's raw objects at once.
 * `restarted`: an expired continue token started the list again from a new snapshot, so what the
 * caller built from the earlier pages must be thrown away. Resolves to the list's resourceVersion.
 */
export async function streamPages(
  page: PageFn,
  pageSize: number,
  onItems: (items: unknown[], restarted: boolean) => void,
): Promise<string> {
  for (let restarts = 0; ; restarts++) {
    let cont: string | undefined;
    let resourceVersion = '';
    let expired = false;
    let first = true;
    let next = ask(page, pageSize, undefined);
    do {
      let body: ListBody;
      try {
        body = ((await next) ?? {}) as ListBody;
      } catch (err) {
        if (cont !== undefined && httpCode(err) === 410 && restarts < MAX_RESTARTS) {
          expired = true;
          break;
        }
        throw err;
      }
      resourceVersion = body.metadata?.resourceVersion ?? resourceVersion;
      cont = body.metadata?.continue || body.metadata?._continue || undefined;
      // The next page is asked for before this one is handed over: the API server prepares it while the caller
      // works on this one (on a restart at 10,000 identities that work is an inspection per Secret). onItems is
      // synchronous, so the next answer is read only after it returns: still one page held at a time.
      if (cont !== undefined) {
        next = ask(page, pageSize, cont);
        next.catch(() => {}); // awaited on the next turn; if onItems throws first, nobody waits for it
      }
      onItems(body.items ?? [], first && restarts > 0);
      first = false;
    } while (cont !== undefined);
    if (!expired) return resourceVersion;
  }
}

/** One page asked for; a page function that throws at once counts as a failed request. */
function ask(page: PageFn, pageSize: number, cont: string | undefined): Promise<unknown> {
  try {
    return Promise.resolve(page(pageSize, cont));
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Every page of a list, collected (streamPages for a cache: it need not hold every page). */
export async function listAllPages(page: PageFn, pageSize = PAGE_SIZE): Promise<ListResult<unknown>> {
  let items: unknown[] = [];
  const resourceVersion = await streamPages(page, pageSize, (pageItems, restarted) => {
    if (restarted) items = [];
    for (const item of pageItems) items.push(item);
  });
  return { items, resourceVersion };
}
