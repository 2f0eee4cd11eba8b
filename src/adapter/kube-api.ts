/**
 * What every request of the cluster port is made with: the typed API clients, the deadline of one
 * request, and the options of reads and of writes (cancelled by stop() or the end of leadership;
 * writes also ask the leader's fence).
 */
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { CallOptions, WriteFence } from './timing.ts';

export interface KubeApi {
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
  /** Deadline of each read/write request. */
  timeoutMs: number;
  /** Options of every read request, and of every write request (which also pass the fence). */
  read: CallOptions;
  write: CallOptions;
}

export function kubeApi(kubeConfig: KubeConfig, timeoutMs: number, signal: AbortSignal, fence: WriteFence | undefined): KubeApi {
  return {
    core: kubeConfig.makeApiClient(CoreV1Api),
    apps: kubeConfig.makeApiClient(AppsV1Api),
    custom: kubeConfig.makeApiClient(CustomObjectsApi),
    timeoutMs,
    read: { signal },
    write: fence ? { signal, fence } : { signal },
  };
}
