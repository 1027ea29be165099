import { describe, expect, it } from 'vitest';
import { multiQueueJobId, parseHeartbeatId } from './job-ref.js';

describe('heartbeat job ids', () => {
  it('reads single-queue ids as strings or numbers, in the configured queue', () => {
    const form = { kind: 'single', queue: 'batches' } as const;
    expect(parseHeartbeatId('42', form)).toEqual({ id: 42, queue: 'batches' });
    expect(parseHeartbeatId(42, form)).toEqual({ id: 42, queue: 'batches' });
    expect(parseHeartbeatId('42-batches', form)).toBeNull();
    expect(parseHeartbeatId(-1, form)).toBeNull();
    expect(parseHeartbeatId(1.5, form)).toBeNull();
    expect(parseHeartbeatId('99999999999999999999', form)).toBeNull();
  });

  it('splits multi-queue ids on the first dash, so queue names may contain dashes', () => {
    const form = { kind: 'multi' } as const;
    expect(parseHeartbeatId('42-batches', form)).toEqual({ id: 42, queue: 'batches' });
    expect(parseHeartbeatId('7-my-queue', form)).toEqual({ id: 7, queue: 'my-queue' });
    expect(parseHeartbeatId('42', form)).toBeNull();
    expect(parseHeartbeatId('42-', form)).toBeNull();
    expect(parseHeartbeatId('x-batches', form)).toBeNull();
    expect(parseHeartbeatId(42, form)).toBeNull();
  });

  it('writes the multi-queue form that it reads', () => {
    expect(parseHeartbeatId(multiQueueJobId({ id: 9, queue: 'code-intel' }), { kind: 'multi' })).toEqual({ id: 9, queue: 'code-intel' });
  });
});
