// Runs a function every interval, never overlapping itself; stop() waits for a run in progress.
import type { Logger } from '../../shared/logger.js';

export class PeriodicTask {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly name: string,
    private readonly intervalMs: number,
    private readonly run: () => Promise<void>,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.schedule();
  }

  /** Runs once now (tests, and start-up) and resolves when done. */
  async runOnce(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.run()
      .catch((err: unknown) => this.logger.error(`${this.name} failed`, { err }))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.runOnce().then(() => this.schedule());
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }
}
