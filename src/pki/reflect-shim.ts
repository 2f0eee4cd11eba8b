/**
 * Minimal Reflect metadata API for tsyringe (a dependency of @peculiar/x509), which refuses to
 * load without `reflect-metadata`. Only what tsyringe calls is provided, and only when no real
 * polyfill is installed. Import this module before @peculiar/x509 (./x509.ts does).
 */
type Target = object;
type MetadataApi = {
  defineMetadata?: (key: unknown, value: unknown, target: Target) => void;
  getOwnMetadata?: (key: unknown, target: Target) => unknown;
  getMetadata?: (key: unknown, target: Target) => unknown;
  hasMetadata?: (key: unknown, target: Target) => boolean;
};

const api = Reflect as unknown as MetadataApi;

if (typeof api.getMetadata !== 'function') {
  const store = new WeakMap<Target, Map<unknown, unknown>>();
  const find = (key: unknown, target: Target): Map<unknown, unknown> | undefined => {
    for (let o: Target | null = target; o; o = Object.getPrototypeOf(o) as Target | null) {
      const own = store.get(o);
      if (own?.has(key)) return own;
    }
    return undefined;
  };
  api.defineMetadata = (key, value, target) => {
    let own = store.get(target);
    if (!own) store.set(target, (own = new Map()));
    own.set(key, value);
  };
  api.getOwnMetadata = (key, target) => store.get(target)?.get(key);
  api.getMetadata = (key, target) => find(key, target)?.get(key);
  api.hasMetadata = (key, target) => find(key, target) !== undefined;
}

export {};
