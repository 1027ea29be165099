// Graceful-then-forceful shutdown on SIGTERM/SIGINT: each signal climbs one rung (STYLE.md, Lifecycle).
import type { Logger } from './logger.js';

export interface SignalLadderRung {
  /** Said in the log when this rung is reached, e.g. "draining: no new jobs". */
  description: string;
  run: () => void | Promise<void>;
}

export interface SignalLadderOptions {
  /**
   * A signal this soon after the last one that counted is the same one delivered twice, not a second
   * signal: ignored. In ms; default 0 (every signal counts). Under `npm start`, Ctrl-C reaches the
   * coordinator from the terminal and again from npm, which forwards it; systemd sends SIGTERM to every
   * process of the service, npm included, which forwards it too.
   */
  sameSignalWithinMs?: number;
}

/**
 * Installs handlers for SIGTERM and SIGINT. The nth signal runs rung n; signals past the last rung
 * exit the process at once with status 130. Returns a function that removes the handlers.
 */
export function installSignalLadder(rungs: SignalLadderRung[], logger: Logger, options: SignalLadderOptions = {}): () => void {
  let count = 0;
  let lastMs = -Infinity;
  const onSignal = (signal: NodeJS.Signals) => {
    const nowMs = performance.now();
    if (nowMs - lastMs < (options.sameSignalWithinMs ?? 0)) {
      logger.debug('ignoring a signal that came again at once (delivered twice)', { signal });
      return;
    }
    lastMs = nowMs;
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
