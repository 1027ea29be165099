// A changeset's diff rendered for the preview: one block per file (its path, what happened to it, its
// +/− counts), each hunk's lines numbered on both sides, added and deleted lines colored. A diff comes
// from steps that ran whatever a spec said on whatever a repository holds: every part of it is text
// here (escaped by `html`), never markup; a diff that does not parse is shown whole as text.
import { filePathOf, parseFileDiffs, type FileDiff } from '../batches/changesets/file-diffs.js';
import { html, type Html } from './html.js';

/** Lines shown per file; a longer file's section says how many more there are. */
export const DIFF_LINES_PER_FILE = 2_000;

const HUNK = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/;

function fileTitle(f: FileDiff): Html {
  if (f.status === 'renamed') return html`${f.oldPath ?? ''} → ${f.newPath ?? ''}`;
  return html`${filePathOf(f)}`;
}

function fileBody(f: FileDiff): Html {
  if (f.binary) return html`<p class="muted diff-note">Binary file.</p>`;
  const lines = f.text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const first = lines.findIndex((l) => l.startsWith('@@'));
  if (first < 0) return html`<p class="muted diff-note">No content changes.</p>`;
  const rows: Html[] = [];
  let oldLine = 0;
  let newLine = 0;
  const body = lines.slice(first);
  for (const line of body.slice(0, DIFF_LINES_PER_FILE)) {
    const hunk = HUNK.exec(line);
    if (hunk) {
      oldLine = Number(hunk[1]);
      newLine = Number(hunk[2]);
      rows.push(html`<tr class="hunk"><td class="ln"></td><td class="ln"></td><td class="code">${line}</td></tr>`);
    } else if (line.startsWith('+')) {
      rows.push(html`<tr class="add"><td class="ln"></td><td class="ln">${newLine++}</td><td class="code">${line}</td></tr>`);
    } else if (line.startsWith('-')) {
      rows.push(html`<tr class="del"><td class="ln">${oldLine++}</td><td class="ln"></td><td class="code">${line}</td></tr>`);
    } else if (line.startsWith('\\')) {
      rows.push(html`<tr class="note"><td class="ln"></td><td class="ln"></td><td class="code">${line}</td></tr>`);
    } else {
      rows.push(html`<tr class="ctx"><td class="ln">${oldLine++}</td><td class="ln">${newLine++}</td><td class="code">${line}</td></tr>`);
    }
  }
  const more = body.length - DIFF_LINES_PER_FILE;
  return html`<div class="table-wrap"><table class="diff"><tbody>${rows}</tbody></table></div>${more > 0 ? html`<p class="muted diff-note">… ${more} more lines of this file are not shown.</p>` : ''}`;
}

/** The diff as HTML, one `.diff-file` per file. */
export function diffView(diff: string): Html {
  if (diff === '') return html`<p class="muted">No changes.</p>`;
  let files: FileDiff[];
  try {
    files = parseFileDiffs(diff);
  } catch (err) {
    return html`<p class="muted">The diff could not be read (${(err as Error).message}); as text:</p><pre class="out">${diff}</pre>`;
  }
  return html`${files.map(
    (f) => html`<section class="diff-file" data-path="${filePathOf(f)}">
      <div class="diff-file-header"><span class="badge">${f.status}</span> <code>${fileTitle(f)}</code>
        <span class="counts"><span class="added">+${f.addedLines}</span> <span class="deleted">−${f.deletedLines}</span></span></div>
      ${fileBody(f)}
    </section>`,
  )}`;
}
