// The error a batch spec template raises: what went wrong, naming the variable or function, where.
import { AppError } from '../errors.js';

export class BatchTemplateError extends AppError {
  constructor(
    message: string,
    /** 1-based line and column in the template text, when known. */
    readonly position?: { line: number; column: number },
    options?: { cause?: unknown },
  ) {
    super('batches.template_invalid', message, options);
  }
}
