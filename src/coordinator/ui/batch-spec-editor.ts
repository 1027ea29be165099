// The batch spec editor of the Batch changes pages: a textarea over a layer that numbers its lines and
// marks the lines with problems, and the problems listed with links to their lines. The problems are
// parseBatchSpec's (field, line, message) from the last validation or save; the page's script keeps the
// gutter and the marks under the text as it scrolls and as lines are added. Without script the gutter
// still marks the lines and the list still names them.
import type { BatchSpecError } from '../batches/spec/batch-spec.js';
import { html, type Html } from './html.js';

/** A problem of the spec; `line` is missing where none can be named (a repository that is not served). */
export type SpecProblem = Pick<BatchSpecError, 'field' | 'message'> & { line?: number };

/** The id of line `n`'s gutter element (the target of each problem's link). */
export const specLineId = (n: number) => `spec-L${n}`;

/** Lines of a spec as the editor numbers them (a final newline makes no line of its own, as editors show). */
function lineCount(text: string): number {
  const lines = text.split('\n');
  return Math.max(1, lines.length - (lines.length > 1 && lines[lines.length - 1] === '' ? 1 : 0));
}

export function specEditor(options: { text: string; problems: readonly SpecProblem[]; name?: string }): Html {
  const { text, problems } = options;
  const byLine = new Map<number, SpecProblem[]>();
  for (const p of problems) if (p.line !== undefined) byLine.set(p.line, [...(byLine.get(p.line) ?? []), p]);
  const count = Math.max(lineCount(text), ...byLine.keys());
  const numbers: Html[] = [];
  const marks: Html[] = [];
  for (let n = 1; n <= count; n++) {
    const here = byLine.get(n);
    const title = here?.map((p) => `${p.field}: ${p.message}`).join('\n');
    numbers.push(here ? html`<span class="ln error-line" id="${specLineId(n)}" data-line="${n}" title="${title}">${n}</span>` : html`<span class="ln" data-line="${n}">${n}</span>`);
    marks.push(here ? html`<span class="mark error-line" data-line="${n}"> </span>` : html`<span class="mark"> </span>`);
  }
  const rows = Math.min(40, Math.max(12, count + 2));
  return html`${problems.length > 0
      ? html`<div class="error" role="alert" id="spec-problems"><strong>The batch spec has ${problems.length} problem${problems.length === 1 ? '' : 's'}</strong>
        <ol class="spec-problems">${problems.map(
          (p) => html`<li${p.line !== undefined ? html` data-line="${p.line}"` : ''}>${p.line !== undefined ? html`<a class="spec-line-link" href="#${specLineId(p.line)}" data-line="${p.line}">line ${p.line}</a> · ` : ''}<code class="field">${p.field}</code>: <span class="message">${p.message}</span></li>`,
        )}</ol></div>`
      : ''}
    <div class="spec-editor" data-spec-editor>
      <div class="gutter" aria-hidden="true"><div class="scroller">${numbers}</div></div>
      <div class="text">
        <div class="marks" aria-hidden="true"><div class="scroller">${marks}</div></div>
        <textarea id="spec" name="${options.name ?? 'spec'}" rows="${rows}" wrap="off" spellcheck="false" autocomplete="off" aria-label="Batch spec (YAML)" ${problems.length > 0 ? html`aria-invalid="true" aria-describedby="spec-problems"` : ''}>
${text}</textarea>
      </div>
    </div>`;
}
