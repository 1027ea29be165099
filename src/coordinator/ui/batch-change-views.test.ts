// The Batch changes pages' views on their own: the spec editor marks each problem at its line, and a
// rendered diff numbers both sides, colors added and deleted lines, and keeps whatever it holds as text.
import { describe, expect, it } from 'vitest';
import { parseBatchSpec } from '../batches/spec/parse-batch-spec.js';
import { specEditor } from './batch-spec-editor.js';
import { DIFF_LINES_PER_FILE, diffView } from './diff-view.js';

const DIFF = `diff --git a/config.txt b/config.txt
index 1111111..2222222 100644
--- a/config.txt
+++ b/config.txt
@@ -1,3 +1,3 @@
-mode=foo
+mode=bar
 other=1
 <script>alert(1)</script>
@@ -10,2 +10,3 @@ section
 ten
+</td></tr></table><img src=x onerror=alert(2)>
 eleven
\\ No newline at end of file
diff --git a/old.txt b/new.txt
similarity index 100%
rename from old.txt
rename to new.txt
diff --git a/logo.png b/logo.png
new file mode 100644
index 0000000..3333333
Binary files /dev/null and b/logo.png differ
`;

/** The rows of a rendered diff as [class, old line, new line, code]. */
function rows(markup: string): string[][] {
  return [...markup.matchAll(/<tr class="(\w+)"><td class="ln">([^<]*)<\/td><td class="ln">([^<]*)<\/td><td class="code">(.*?)<\/td><\/tr>/g)].map((m) => [m[1]!, m[2]!, m[3]!, m[4]!]);
}

describe('diffView', () => {
  it('numbers both sides per hunk and classes each line by what it does', () => {
    const markup = diffView(DIFF).value;
    expect(rows(markup)).toEqual([
      ['hunk', '', '', '@@ -1,3 +1,3 @@'],
      ['del', '1', '', '-mode=foo'],
      ['add', '', '1', '+mode=bar'],
      ['ctx', '2', '2', ' other=1'],
      ['ctx', '3', '3', ' &lt;script&gt;alert(1)&lt;/script&gt;'],
      ['hunk', '', '', '@@ -10,2 +10,3 @@ section'],
      ['ctx', '10', '10', ' ten'],
      ['add', '', '11', '+&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;&lt;img src=x onerror=alert(2)&gt;'],
      ['ctx', '11', '12', ' eleven'],
      ['note', '', '', '\\ No newline at end of file'],
    ]);
    expect(markup).not.toContain('<script>');
    expect(markup).not.toContain('<img');
  });

  it('gives each file a block with its path, status and counts; renames and binary files say so', () => {
    const markup = diffView(DIFF).value;
    expect([...markup.matchAll(/<section class="diff-file" data-path="([^"]*)">/g)].map((m) => m[1])).toEqual(['config.txt', 'new.txt', 'logo.png']);
    expect(markup).toContain('<span class="added">+2</span> <span class="deleted">−1</span>');
    expect(markup).toContain('<code>old.txt → new.txt</code>');
    expect(markup).toContain('No content changes.');
    expect(markup).toContain('Binary file.');
  });

  it('shows a diff it cannot read as text, and an empty one as no changes', () => {
    const markup = diffView('<b>not a diff</b>\n').value;
    expect(markup).toContain('<pre class="out">&lt;b&gt;not a diff&lt;/b&gt;\n</pre>');
    expect(diffView('').value).toContain('No changes.');
  });

  it(`shows at most ${DIFF_LINES_PER_FILE} lines of a file and says how many more there are`, () => {
    const n = DIFF_LINES_PER_FILE + 5;
    const big = `diff --git a/big b/big\nnew file mode 100644\n--- /dev/null\n+++ b/big\n@@ -0,0 +1,${n} @@\n${Array.from({ length: n }, (_, i) => `+line ${i}`).join('\n')}\n`;
    const markup = diffView(big).value;
    // The hunk header counts as a shown line.
    expect(rows(markup)).toHaveLength(DIFF_LINES_PER_FILE);
    expect(markup).toContain('… 6 more lines of this file are not shown.');
  });
});

describe('specEditor', () => {
  const spec = `name: x\non:\n  - repository: a\nsteps:\n  - run: echo\n    contaner: alpine\n`;

  it('marks the lines with problems in the gutter and lists each problem linked to its line', () => {
    const parsed = parseBatchSpec(spec);
    expect(parsed.ok).toBe(false);
    const problems = parsed.ok ? [] : parsed.errors;
    const markup = specEditor({ text: spec, problems }).value;
    const marked = [...markup.matchAll(/<span class="ln error-line" id="spec-L(\d+)"/g)].map((m) => Number(m[1]));
    expect(marked).toEqual([...new Set(problems.map((p) => p.line!))].sort((a, b) => a - b));
    expect(marked).toContain(6);
    expect(markup).toContain('<a class="spec-line-link" href="#spec-L6" data-line="6">line 6</a> · <code class="field">steps[0].contaner</code>');
    // Six lines, numbered; the final newline makes no seventh.
    expect(markup.match(/<span class="ln[ "]/g)).toHaveLength(6);
    expect(markup).toContain('aria-invalid="true"');
  });

  it('keeps the text as typed (markup escaped, a leading newline kept) and problems without a line unlinked', () => {
    const markup = specEditor({ text: '\n</textarea><script>x</script>', problems: [{ field: 'on[0]', message: 'no <b>such</b> repository' }] }).value;
    expect(markup).toContain('>\n\n&lt;/textarea&gt;&lt;script&gt;x&lt;/script&gt;</textarea>');
    expect(markup).toContain('<li><code class="field">on[0]</code>: <span class="message">no &lt;b&gt;such&lt;/b&gt; repository</span></li>');
    expect(markup).not.toContain('error-line" id=');
  });
});
