/** Helpers to drive a root rotation through the harness. */
import assert from 'node:assert/strict';
import { ANNOTATION_ROTATE_TO, ROTATION_CONFIGMAP } from '../../src/controller/ca-source.ts';
import { rotationFromData } from '../../src/decide/rotation.ts';
import { CA_NAME, CA_NS, type Harness } from './harness.ts';

export function rotation(h: Harness) {
  return rotationFromData(h.cluster.getConfigMap(CA_NS, ROTATION_CONFIGMAP)?.data);
}

export function requestRotation(h: Harness, value = 'generate', extra: Record<string, string> = {}): void {
  const s = structuredClone(h.cluster.secrets.get(`${CA_NS}/${CA_NAME}`)!);
  s.metadata.annotations = { ...s.metadata.annotations, [ANNOTATION_ROTATE_TO]: value, ...extra };
  h.cluster.putSecret(s);
}

/** Advance in steps (timers fire, reconciles run) until the rotation reaches a phase. */
export async function until(h: Harness, phase: string, stepMs = 10_000, maxSteps = 2000): Promise<void> {
  for (let i = 0; i < maxSteps && rotation(h)?.phase !== phase; i++) await h.advance(stepMs);
  assert.equal(rotation(h)?.phase, phase);
}

