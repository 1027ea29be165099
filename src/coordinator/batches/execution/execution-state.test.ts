import { describe, expect, it } from 'vitest';
import type { BatchExecutionState } from '../../store/batch-store.js';
import { computeExecutionState } from './execution-state.js';

const of = (counts: Partial<Record<BatchExecutionState, number>>) => computeExecutionState(new Map(Object.entries(counts) as Array<[BatchExecutionState, number]>));

describe('computeExecutionState', () => {
  it('follows the original: queued, processing, completed, failed, canceling, canceled', () => {
    expect(of({})).toBe('COMPLETED');
    expect(of({ QUEUED: 3 })).toBe('QUEUED');
    expect(of({ QUEUED: 2, PROCESSING: 1 })).toBe('PROCESSING');
    // Some finished while others wait: still running.
    expect(of({ QUEUED: 1, COMPLETED: 2 })).toBe('PROCESSING');
    expect(of({ COMPLETED: 3 })).toBe('COMPLETED');
    expect(of({ COMPLETED: 2, FAILED: 1 })).toBe('FAILED');
    expect(of({ CANCELED: 3 })).toBe('CANCELED');
    expect(of({ COMPLETED: 1, CANCELED: 2 })).toBe('CANCELED');
    expect(of({ CANCELING: 1, CANCELED: 2 })).toBe('CANCELING');
    expect(of({ CANCELING: 1, QUEUED: 1 })).toBe('PROCESSING');
  });
});
