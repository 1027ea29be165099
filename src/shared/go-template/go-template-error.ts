// The error a Go template raises while parsing or executing, formatted as Go's text/template formats it
// (`template: NAME:LINE:COL: …`), with the parts kept apart for callers that word their own message.

export class GoTemplateError extends Error {
  constructor(
    /** 'parse': the text is not a valid template; 'exec': it failed while rendering. */
    readonly phase: 'parse' | 'exec',
    /** The template's name. */
    readonly templateName: string,
    /** 1-based line and column (in characters) of the token or node at fault. */
    readonly line: number,
    readonly column: number,
    /** What went wrong, without the position: `function "foo" not defined`. */
    readonly detail: string,
    /** For exec errors: the source of the node being evaluated, e.g. `outputs.nope`. */
    readonly nodeText?: string,
    /** For exec errors: the template being executed (a `define`'s name), when not the file itself. */
    readonly executing: string = templateName,
  ) {
    super(
      phase === 'parse'
        ? `template: ${templateName}:${line}:${column}: ${detail}`
        : `template: ${templateName}:${line}:${column}: executing "${executing}" at <${nodeText ?? ''}>: ${detail}`,
    );
    this.name = 'GoTemplateError';
  }
}
