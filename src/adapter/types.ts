/** Types shared by the adapter's pieces. */

export interface AdapterLogger {
  info(msg: string, meta?: object): void;
  warn(msg: string, meta?: object): void;
  error(msg: string, meta?: object): void;
  debug(msg: string, meta?: object): void;
}

/** What a reflector needs of an object: its key and resourceVersion. */
export interface KubeObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export type ChangeKind = 'add' | 'update' | 'delete';

export function keyOf(obj: KubeObject): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}
