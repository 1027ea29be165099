import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from './logger.js';
import { installSignalLadder } from './signal-ladder.js';

describe('installSignalLadder', () => {
  let remove = () => {};
  afterEach(() => remove());

  it('climbs one rung per signal', () => {
    const ran: string[] = [];
    remove = installSignalLadder([{ description: 'one', run: () => void ran.push('one') }, { description: 'two', run: () => void ran.push('two') }], silentLogger);
    process.emit('SIGTERM', 'SIGTERM');
    process.emit('SIGINT', 'SIGINT');
    expect(ran).toEqual(['one', 'two']);
  });

  it('counts a signal delivered twice at once (terminal and npm, or systemd and npm) as one', async () => {
    const ran: string[] = [];
    remove = installSignalLadder([{ description: 'one', run: () => void ran.push('one') }, { description: 'two', run: () => void ran.push('two') }], silentLogger, { sameSignalWithinMs: 30 });
    process.emit('SIGINT', 'SIGINT');
    process.emit('SIGINT', 'SIGINT');
    expect(ran).toEqual(['one']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    process.emit('SIGINT', 'SIGINT');
    expect(ran).toEqual(['one', 'two']);
  });
});
