/**
 * One copy of each value the caches repeat (issue 11: bytes per identity).
 *
 * JSON.parse makes a new string for every value it reads. A heap snapshot of the operator over 3,000 identities
 * held 6,000 copies each of "MutualTLSIdentity", "mtls.dev/v1alpha1" and "ServiceAccountFound", 3,000 of
 * "kubernetes.io/tls", of every default usage, of the CA's fingerprint and of the trust bundle's hash, and 24,000
 * timestamps of which a few hundred were distinct (every identity issued in the same second shares them): about
 * 1.2 KB per identity. Values known to repeat go through `intern` as an object enters a cache.
 *
 * The table is bounded (INTERN_MAX_ENTRIES values of at most INTERN_MAX_CHARS characters): values a tenant makes
 * up cannot grow it without end; when full it starts again, so at worst a value has a few copies. A value enters
 * the table as a fresh flat string: one built by slicing and concatenating (a timestamp formatted from a Date)
 * would otherwise keep its parts. Entering is rare (one per distinct value); the lookups are what a call costs.
 */
export const INTERN_MAX_CHARS = 256;
export const INTERN_MAX_ENTRIES = 32_768;

let table = new Map<string, string>();

export function intern(value: string): string;
export function intern(value: string | undefined): string | undefined;
export function intern(value: string | undefined): string | undefined {
  if (value === undefined || value.length > INTERN_MAX_CHARS) return value;
  const known = table.get(value);
  if (known !== undefined) return known;
  if (table.size >= INTERN_MAX_ENTRIES) table = new Map();
  const flat = JSON.parse(JSON.stringify(value)) as string;
  table.set(flat, flat);
  return flat;
}

/** The named string fields of `obj`, interned in place. */
export function internFields<T extends object>(obj: T | undefined, fields: readonly (keyof T)[]): void {
  if (!obj) return;
  const o = obj as Record<keyof T, unknown>;
  for (const f of fields) if (typeof o[f] === 'string') o[f] = intern(o[f] as string);
}

/** Every string of an array of strings, interned in place (other elements are left as they are). */
export function internArray(values: unknown): void {
  if (!Array.isArray(values)) return;
  for (let i = 0; i < values.length; i++) if (typeof values[i] === 'string') values[i] = intern(values[i] as string);
}

/** How many values the table holds (tests). */
export function internedCount(): number {
  return table.size;
}
