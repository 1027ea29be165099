import { describe, expect, it } from 'vitest';
import { MultiQueueSelector } from './multi-queue-selector.js';
import { parseQueueSpecs } from './queue-config.js';

const queues = new Map(parseQueueSpecs('batches:4:50,codeintel:1:250').map((q) => [q.name, q]));

describe('MultiQueueSelector', () => {
  it('uses the only queue with jobs without drawing', () => {
    const s = new MultiQueueSelector(queues, 300_000, () => {
      throw new Error('no draw expected');
    });
    expect(s.choose(['codeintel'])).toBe('codeintel');
    expect(s.choose([])).toBeUndefined();
  });

  it('picks by weight: batches 4 to codeintel 1', () => {
    let i = 0;
    const draws = Array.from({ length: 1000 }, (_, k) => (k + 0.5) / 1000);
    const s = new MultiQueueSelector(queues, 300_000, () => draws[i++ % draws.length]!);
    const counts = { batches: 0, codeintel: 0 };
    for (let k = 0; k < 1000; k++) counts[s.choose(['batches', 'codeintel']) as 'batches' | 'codeintel']++;
    expect(counts).toEqual({ batches: 800, codeintel: 200 });
  });

  it('skips a queue at its limit within the window, and counts it again once the window passes', () => {
    let now = 0;
    const s = new MultiQueueSelector(queues, 300_000, () => 0, () => now);
    for (let k = 0; k < 50; k++) s.record('batches');
    // random() = 0 would pick batches (first candidate); it is at its limit of 50, so codeintel.
    expect(s.choose(['batches', 'codeintel'])).toBe('codeintel');
    now = 300_001;
    expect(s.choose(['batches', 'codeintel'])).toBe('batches');
  });

  it('considers every queue when all are at their limit', () => {
    const s = new MultiQueueSelector(new Map(parseQueueSpecs('a:1:1,b:1:1').map((q) => [q.name, q])), 300_000, () => 0.99);
    s.record('a');
    s.record('b');
    expect(s.choose(['a', 'b'])).toBe('b');
  });
});
