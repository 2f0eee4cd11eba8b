/** Paged lists (limit/continue), as client-go's pager does them. */
import { httpCode } from './errors.ts';
import type { ListResult } from './types.ts';

export const PAGE_SIZE = 500;

/** One page: (limit, continue token) -> a list body (typed client-node list or raw JSON). */
export type PageFn = (limit: number | undefined, cont: string | undefined) => Promise<unknown>;

interface ListBody {
  items?: unknown[];
  metadata?: { resourceVersion?: string; continue?: string; _continue?: string };
}

/**
 * Every page of a list. All pages come from the snapshot of the first, so the resourceVersion is
 * that of the list. A continue token that expired (410) falls back to one unpaged list.
 */
export async function listAllPages(page: PageFn): Promise<ListResult<unknown>> {
  const items: unknown[] = [];
  let cont: string | undefined;
  let resourceVersion = '';
  do {
    let body: ListBody;
    try {
      body = ((await page(PAGE_SIZE, cont)) ?? {}) as ListBody;
    } catch (err) {
      if (cont !== undefined && httpCode(err) === 410) return unpaged(page);
      throw err;
    }
    items.push(...(body.items ?? []));
    resourceVersion = body.metadata?.resourceVersion ?? resourceVersion;
    cont = body.metadata?.continue || body.metadata?._continue || undefined;
  } while (cont !== undefined);
  return { items, resourceVersion };
}

async function unpaged(page: PageFn): Promise<ListResult<unknown>> {
  const body = ((await page(undefined, undefined)) ?? {}) as ListBody;
  return { items: body.items ?? [], resourceVersion: body.metadata?.resourceVersion ?? '' };
}
