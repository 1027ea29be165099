import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, parseLogFormat, parseLogLevel } from './logger.js';

describe('createLogger', () => {
  afterEach(() => vi.useRealTimers());

  it('writes condensed lines with the time, level, name, message and key=value fields', () => {
    const lines: string[] = [];
    const logger = createLogger({ name: 'executor', write: (l) => lines.push(l), nowMs: () => Date.UTC(2026, 11, 2, 14, 20) });
    logger.with({ jobId: 42 }).info('job finished', { outcome: 'completed', message: 'two words' });
    expect(lines).toEqual(['2026-12-02T14:20:00.000Z INFO  [executor] job finished jobId=42 outcome=completed message="two words"']);
  });

  it('writes one JSON object a line in the json format, with the original logger\'s field names', () => {
    const lines: string[] = [];
    const logger = createLogger({ name: 'coordinator', format: 'json', write: (l) => lines.push(l), nowMs: () => Date.UTC(2026, 11, 2) });
    logger.warn('heartbeat failed', { err: new Error('connect ECONNREFUSED'), attempt: 3, skipped: undefined });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({
      Timestamp: '2026-12-02T00:00:00.000Z',
      SeverityText: 'WARN',
      InstrumentationScope: 'coordinator',
      Body: 'heartbeat failed',
      Attributes: { err: 'connect ECONNREFUSED', attempt: 3 },
    });
  });

  it('drops lines below its level', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', write: (l) => lines.push(l) });
    logger.debug('a');
    logger.info('b');
    logger.warn('c');
    logger.error('d');
    expect(lines.map((l) => l.split(' ').at(-1))).toEqual(['c', 'd']);
  });

  it('folds identical warnings within the window into one line that counts the repeats', () => {
    vi.useFakeTimers({ now: 0 });
    const lines: string[] = [];
    const logger = createLogger({ write: (l) => lines.push(l), foldWindowMs: 60_000, nowMs: Date.now });
    for (let i = 0; i < 13; i++) {
      logger.warn('cannot reach the coordinator; retrying', { err: 'ECONNREFUSED' });
      vi.advanceTimersByTime(1000);
    }
    logger.warn('another problem');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toContain('cannot reach the coordinator; retrying err=ECONNREFUSED');
    // When the window ends, the count comes, even though the warning did not come again.
    vi.advanceTimersByTime(60_000);
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(/cannot reach the coordinator; retrying \(… 12 more times in 60 s\) err=ECONNREFUSED$/);
    // After the window, the same warning is written again.
    logger.warn('cannot reach the coordinator; retrying', { err: 'ECONNREFUSED' });
    expect(lines).toHaveLength(4);
  });

  it('never folds warnings whose fields differ, nor info lines', () => {
    const lines: string[] = [];
    const logger = createLogger({ write: (l) => lines.push(l) });
    logger.warn('dequeue failed', { err: 'a' });
    logger.warn('dequeue failed', { err: 'b' });
    logger.info('job started', { jobId: 1 });
    logger.info('job started', { jobId: 1 });
    expect(lines).toHaveLength(4);
  });

  it('writes the pending repeat counts on flush', () => {
    const lines: string[] = [];
    const logger = createLogger({ write: (l) => lines.push(l) });
    logger.error('boom');
    logger.error('boom');
    logger.flush();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/boom \(… 1 more time in \d+ s\)$/);
  });
});

describe('parseLogLevel and parseLogFormat', () => {
  it('read the original\'s level words and the plain ones, and refuse others', () => {
    expect(['dbug', 'debug', 'INFO', 'warn', 'eror', 'error', 'crit'].map(parseLogLevel)).toEqual(['debug', 'debug', 'info', 'warn', 'error', 'error', 'error']);
    expect(parseLogLevel('verbose')).toBeUndefined();
    expect(parseLogFormat('JSON')).toBe('json');
    expect(parseLogFormat('condensed')).toBe('condensed');
    expect(parseLogFormat('logfmt')).toBeUndefined();
  });
});
