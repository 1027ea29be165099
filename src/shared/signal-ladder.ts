// Graceful-then-forceful shutdown on SIGTERM/SIGINT: each signal climbs one rung (STYLE.md, Lifecycle).
import type { Logger } from './logger.js';

export interface SignalLadderRung {
  /** Said in the log when this rung is reached, e.g. "draining: no new jobs". */
  description: string;
  run: () => void | Promise<void>;
}

/**
 * Installs handlers for SIGTERM and SIGINT. The nth signal runs rung n; signals past the last rung
 * exit the process at once with status 130. Returns a function that removes the handlers.
 */
export function installSignalLadder(rungs: SignalLadderRung[], logger: Logger): () => void {
  let count = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    const rung = rungs[count++];
    if (!rung) {
      logger.warn('exiting now', { signal, step: count });
      process.exit(130);
    }
    logger.info(rung.description, { signal, step: count, of: rungs.length + 1 });
    Promise.resolve(rung.run()).catch((err: unknown) => logger.error('shutdown step failed', { err }));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}
