/** What bench:real reads from the operator's /metrics (prom-client's exposition). */
import assert from 'node:assert/strict';
import { heapSpacesMB, metricValue } from '../../bench/real-measure.ts';

const MB = 1024 * 1024;
const exposition = [
  '# HELP nodejs_heap_space_size_used_bytes Process heap space size used from Node.js in bytes.',
  '# TYPE nodejs_heap_space_size_used_bytes gauge',
  `nodejs_heap_space_size_used_bytes{space="read_only"} 0`,
  `nodejs_heap_space_size_used_bytes{space="new"} ${2 * MB}`,
  `nodejs_heap_space_size_used_bytes{space="old"} ${60 * MB}`,
  `nodejs_heap_space_size_used_bytes{space="code"} ${11.5 * MB}`,
  `nodejs_heap_space_size_used_bytes{space="large_object"} ${4 * MB}`,
  `nodejs_heap_size_used_bytes ${77.5 * MB}`,
  `nodejs_external_memory_bytes ${9 * MB}`,
].join('\n');

describe('bench/real-measure', () => {
  it('heapSpacesMB: each V8 space in MB, largest first', () => {
    const spaces = heapSpacesMB(exposition);
    assert.deepEqual(Object.keys(spaces), ['old', 'code', 'large_object', 'new', 'read_only']);
    assert.equal(spaces.old, 60);
    assert.equal(spaces.code, 11.5);
  });

  it('metricValue: a plain gauge, and none of a name that only begins the same', () => {
    assert.equal(metricValue(exposition, 'nodejs_heap_size_used_bytes'), 77.5 * MB);
    assert.equal(metricValue(exposition, 'nodejs_heap_size'), undefined);
    assert.equal(metricValue(exposition, 'nodejs_heap_space_size_used_bytes', 'space="old"'), 60 * MB);
  });
});
