// Errors that cross a boundary carry a stable `code`; plain `Error` is kept for bugs (STYLE.md).

export class AppError extends Error {
  constructor(
    /** Stable, machine-readable: `config.invalid`, `store.migration_failed`, … */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Invalid configuration: every problem at once, so the operator fixes them in one go. */
export class ConfigError extends AppError {
  constructor(readonly problems: string[]) {
    super('config.invalid', `invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}
