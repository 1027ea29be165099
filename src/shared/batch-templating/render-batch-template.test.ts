// The batch spec templating, case by case against the examples of Sourcegraph's "Batch Spec Templating"
// and "Batch Spec YAML Reference" pages: each template and the value the documentation says it gives.
import { describe, expect, it } from 'vitest';
import {
  BatchTemplateError,
  evaluateStepIf,
  isStaticallyFalse,
  matchesGlob,
  renderChangesetTemplate,
  renderStepTemplate,
  templateVariablesProblems,
  type ChangesetTemplateContext,
  type StepTemplateContext,
} from './index.js';

const repository = { name: 'github.com/sourcegraph/src-cli', branch: 'main', searchResultPaths: ['cmd/src/main.go', 'internal/fmt/fmt.go'] };
const batchChange = { name: 'sprintf-to-itoa', description: 'Replace fmt.Sprintf with strconv.Itoa' };
const step = (over: Partial<StepTemplateContext> = {}): StepTemplateContext => ({ repository, batchChange, outputs: {}, ...over });
const result = (over: Partial<NonNullable<StepTemplateContext['previousStep']>> = {}) => ({ modifiedFiles: [], addedFiles: [], deletedFiles: [], renamedFiles: [], stdout: '', stderr: '', ...over });
const changeset = (over: Partial<ChangesetTemplateContext> = {}): ChangesetTemplateContext => ({
  repository,
  batchChange,
  steps: { modifiedFiles: ['a.go'], addedFiles: [], deletedFiles: [], renamedFiles: [], path: '' },
  outputs: {},
  ...over,
});
const error = (fn: () => unknown): BatchTemplateError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof BatchTemplateError) return err;
    throw err;
  }
  throw new Error('expected a BatchTemplateError');
};

describe('step templates (the documentation\'s examples)', () => {
  it('repository.search_result_paths joined into a comby command line', () => {
    expect(renderStepTemplate(`comby -in-place 'fmt.Sprintf("%d", :[v])' 'strconv.Itoa(:[v])' \${{ join repository.search_result_paths " " }}`, step())).toBe(
      `comby -in-place 'fmt.Sprintf("%d", :[v])' 'strconv.Itoa(:[v])' cmd/src/main.go internal/fmt/fmt.go`,
    );
    expect(renderStepTemplate('comby -in-place -config /tmp/go-sprintf.toml -f ${{ join repository.search_result_paths "," }}', step())).toBe('comby -in-place -config /tmp/go-sprintf.toml -f cmd/src/main.go,internal/fmt/fmt.go');
  });

  it('previous_step.modified_files for goimports, empty lists for the first step', () => {
    const ctx = step({ previousStep: result({ modifiedFiles: ['cmd/src/main.go', 'internal/fmt/fmt.go'] }) });
    expect(renderStepTemplate('goimports -w ${{ join previous_step.modified_files " " }}', ctx)).toBe('goimports -w cmd/src/main.go internal/fmt/fmt.go');
    expect(renderStepTemplate('goimports -w ${{ join previous_step.modified_files " " }}', step())).toBe('goimports -w ');
  });

  it('a files value with the search results one per line, and an env value from previous_step.stdout', () => {
    expect(renderStepTemplate('${{ join repository.search_result_paths "\\n" }}', step())).toBe('cmd/src/main.go\ninternal/fmt/fmt.go');
    expect(renderStepTemplate('${{ previous_step.stdout }}', step({ previousStep: result({ stdout: 'lint: 3 errors\n' }) }))).toBe('lint: 3 errors\n');
  });

  it('the delimiters escaped as string literals', () => {
    expect(renderStepTemplate('${{ "${{" }} ${{ "}}" }}', step())).toBe('${{ }}');
    expect(renderStepTemplate('${{ "${{ repository.name }}" }}', step())).toBe('${{ repository.name }}');
  });

  it('outputs: step.stdout in a step\'s output, the output in a later step', () => {
    expect(renderStepTemplate('${{ step.stdout }}', step({ step: result({ stdout: 'Hello there!\n' }) }))).toBe('Hello there!\n');
    const later = step({ outputs: { myFriendlyMessage: 'Hello there!' } });
    expect(renderStepTemplate('echo "We have access to the output here: ${{ outputs.myFriendlyMessage }}"', later)).toBe('echo "We have access to the output here: Hello there!"');
    expect(renderStepTemplate('here too: ${{ outputs.myFriendlyMessage }}', later)).toBe('here too: Hello there!');
  });

  it('an output value that is YAML built with Go\'s functions: exists: ${{ gt (len step.stderr) 0 }}', () => {
    expect(renderStepTemplate('exists: ${{ gt (len step.stderr) 0 }}', step({ step: result({ stderr: 'project_name: x\n' }) }))).toBe('exists: true');
    expect(renderStepTemplate('exists: ${{ gt (len step.stderr) 0 }}', step({ step: result() }))).toBe('exists: false');
  });

  it('steps.* and the steps\' path', () => {
    const ctx = step({ steps: { modifiedFiles: ['a'], addedFiles: ['b'], deletedFiles: ['c'], renamedFiles: [], path: 'sub/directory/in/repo' } });
    expect(renderStepTemplate('${{ steps.path }} ${{ steps.modified_files }} ${{ steps.added_files }} ${{ steps.deleted_files }}', ctx)).toBe('sub/directory/in/repo [a] [b] [c]');
    expect(renderStepTemplate('${{ steps.path }}|${{ steps.modified_files }}', step())).toBe('|[]');
  });
});

describe('the helper functions', () => {
  it('join_if, replace, split, matches as documented', () => {
    const ctx = step({ repository: { ...repository, name: 'github.com/my-org/terraform-modules' } });
    expect(renderStepTemplate('${{ join_if "---" "a" "b" "" "d" }}', ctx)).toBe('a---b---d');
    expect(renderStepTemplate('${{ replace "a/b/c/d" "/" "-" }}', ctx)).toBe('a-b-c-d');
    expect(renderStepTemplate('${{ split repository.name "/" }}', ctx)).toBe('[github.com my-org terraform-modules]');
    expect(renderStepTemplate('${{ matches repository.name "github.com/my-org/terra*" }}', ctx)).toBe('true');
    expect(renderStepTemplate('${{ matches repository.name "github.com/other/*" }}', ctx)).toBe('false');
  });

  it('combined with Go\'s index: the host and the org of the repository', () => {
    const body = 'The host of the repository: ${{ index (split repository.name "/") 0 }}\nThe org of the repository: ${{ index (split repository.name "/") 1 }}';
    expect(renderChangesetTemplate(body, changeset())).toBe('The host of the repository: github.com\nThe org of the repository: sourcegraph');
  });

  it('globs: * spans slashes, ? [] [!] {} and escapes', () => {
    expect(matchesGlob('github.com/sourcegraph-testing/zap', '*sourcegraph-testing*')).toBe(true);
    expect(matchesGlob('github.com/a/b', 'github.com/?/b')).toBe(true);
    expect(matchesGlob('github.com/a/b', 'github.com/[ab]/[!a]')).toBe(true);
    expect(matchesGlob('gitlab.com/x', '{github,gitlab}.com/*')).toBe(true);
    expect(matchesGlob('a*b', 'a\\*b')).toBe(true);
    expect(matchesGlob('axb', 'a\\*b')).toBe(false);
    expect(() => matchesGlob('x', '[ab')).toThrow(/unclosed \[/);
  });
});

describe('changeset templates', () => {
  it('branch names per workspace with join_if and replace; new-feature-<branch>', () => {
    const branch = '${{ join_if "-" "my-multi-workspace-batch-change" (replace steps.path "/" "-") }}';
    expect(renderChangesetTemplate(branch, changeset())).toBe('my-multi-workspace-batch-change');
    expect(renderChangesetTemplate(branch, changeset({ steps: { ...changeset().steps, path: 'client/web' } }))).toBe('my-multi-workspace-batch-change-client-web');
    expect(renderChangesetTemplate('new-feature-${{ repository.branch }}', changeset({ repository: { ...repository, branch: '3.34' } }))).toBe('new-feature-3.34');
  });

  it('outputs parsed from YAML: fields and a range over a list', () => {
    const outputs = { goreleaserConfig: { before: { hooks: ['go mod tidy', 'go generate ./...'] } }, goreleaserConfigExists: { exists: true } };
    const body = 'This repository has a `gorelaserConfig`: ${{ outputs.goreleaserConfigExists.exists }}.\n${{ range $index, $hook := outputs.goreleaserConfig.before.hooks }}\n- `${{ $hook }}`\n${{ end }}';
    expect(renderChangesetTemplate(body, changeset({ outputs }))).toBe('This repository has a `gorelaserConfig`: true.\n\n- `go mod tidy`\n\n- `go generate ./...`\n');
  });

  it('batch_change_link and batch_change.*', () => {
    const ctx = changeset({ batchChangeLink: '[Created by batch change sprintf-to-itoa](http://coordinator/batch-changes/sprintf-to-itoa)' });
    expect(renderChangesetTemplate('${{ batch_change_link }}\n\nThis is the rest of my changeset description.', ctx)).toBe(`${ctx.batchChangeLink}\n\nThis is the rest of my changeset description.`);
    expect(renderChangesetTemplate('${{ batch_change.name }}: ${{ batch_change.description }}', ctx)).toBe('sprintf-to-itoa: Replace fmt.Sprintf with strconv.Itoa');
  });

  it('does not know previous_step or step (they are step-only)', () => {
    expect(error(() => renderChangesetTemplate('${{ previous_step.stdout }}', changeset())).message).toMatch(/unknown variable or function "previous_step"/);
  });
});

describe('errors name the variable or function and the position', () => {
  it('an output not set, a field a context lacks, an unknown function, a template that does not parse', () => {
    const missing = error(() => renderStepTemplate('echo ${{ outputs.nope }}', step({ outputs: { yes: 1 } })));
    expect(missing.message).toBe('template "echo ${{ outputs.nope }}", line 1, column 10: outputs.nope: no output named "nope" has been set (outputs are set by the steps\' `outputs`)');
    expect(missing.position).toEqual({ line: 1, column: 10 });
    expect(error(() => renderStepTemplate('x\n${{ repository.nme }}', step())).message).toBe('template "x\\n${{ repository.nme }}", line 2, column 5: repository.nme: repository has no field "nme" (it has: name, branch, search_result_paths)');
    expect(error(() => renderStepTemplate('${{ repo.name }}', step())).message).toMatch(/^template "\$\{\{ repo.name \}\}", line 1, column 5: unknown variable or function "repo" \(available here: repository, batch_change, previous_step, step, steps, outputs;/);
    expect(error(() => renderStepTemplate('${{ if true }}', step())).message).toBe('template "${{ if true }}", line 1, column 15: does not parse: unexpected EOF');
    expect(error(() => renderStepTemplate('${{ index repository.search_result_paths 9 }}', step())).message).toBe('template "${{ index repository.search_result_paths 9 }}", line 1, column 5: error calling index: index out of range: 9');
  });
});

describe('if:', () => {
  it('runs on true, "true" (spaces trimmed) and a template rendering "true"; not on anything else', () => {
    expect(evaluateStepIf(undefined, step())).toBe(true);
    expect(evaluateStepIf(true, step())).toBe(true);
    expect(evaluateStepIf(false, step())).toBe(false);
    expect(evaluateStepIf(' true\n', step())).toBe(true);
    expect(evaluateStepIf('random string', step())).toBe(false);
    const automation = step({ repository: { ...repository, name: 'github.com/sourcegraph/automation-testing' } });
    expect(evaluateStepIf('${{ eq repository.name "github.com/sourcegraph/automation-testing" }}', automation)).toBe(true);
    expect(evaluateStepIf('${{ eq repository.name "github.com/sourcegraph/automation-testing" }}', step())).toBe(false);
    expect(evaluateStepIf('${{ matches repository.name "*sourcegraph-testing*" }}', step({ repository: { ...repository, name: 'github.com/sourcegraph-testing/zap' } }))).toBe(true);
    expect(evaluateStepIf('${{ outputs.goModExists }}', step({ outputs: { goModExists: 'true' } }))).toBe(true);
    expect(evaluateStepIf('${{ outputs.goModExists }}', step({ outputs: { goModExists: 'false' } }))).toBe(false);
    expect(evaluateStepIf('${{ eq steps.path "sub/directory/in/repo" }}', step({ steps: { modifiedFiles: [], addedFiles: [], deletedFiles: [], renamedFiles: [], path: 'sub/directory/in/repo' } }))).toBe(true);
  });

  it('is statically false only when the values known before execution make it false', () => {
    const staticCtx = { repository, batchChange };
    expect(isStaticallyFalse(false, staticCtx)).toBe(true);
    expect(isStaticallyFalse('random string', staticCtx)).toBe(true);
    expect(isStaticallyFalse('${{ eq repository.name "github.com/sourcegraph/automation-testing" }}', staticCtx)).toBe(true);
    expect(isStaticallyFalse('${{ eq repository.name "github.com/sourcegraph/src-cli" }}', staticCtx)).toBe(false);
    expect(isStaticallyFalse('${{ matches repository.name "*sourcegraph-testing*" }}', staticCtx)).toBe(true);
    expect(isStaticallyFalse(true, staticCtx)).toBe(false);
    expect(isStaticallyFalse(undefined, staticCtx)).toBe(false);
    // Depends on what the steps do: decided when the step runs.
    expect(isStaticallyFalse('${{ outputs.goModExists }}', staticCtx)).toBe(false);
    expect(isStaticallyFalse('${{ eq steps.path "sub/directory/in/repo" }}', staticCtx)).toBe(false);
    expect(isStaticallyFalse('${{ eq previous_step.stdout "x" }}', staticCtx)).toBe(false);
    // …unless the known part decides on its own.
    expect(isStaticallyFalse('${{ and (eq repository.name "other") outputs.goModExists }}', staticCtx)).toBe(true);
    expect(isStaticallyFalse('${{ or (eq repository.name "github.com/sourcegraph/src-cli") outputs.x }}', staticCtx)).toBe(false);
    // A template that fails is left to the run, which reports the error.
    expect(isStaticallyFalse('${{ index repository.search_result_paths 9 }}', staticCtx)).toBe(false);
  });
});

describe('templateVariablesProblems', () => {
  it('accepts the documented templates where they are written', () => {
    expect(templateVariablesProblems('goimports -w ${{ join previous_step.modified_files " " }}', 'step')).toEqual([]);
    expect(templateVariablesProblems('${{ step.stdout }}', 'outputs')).toEqual([]);
    expect(templateVariablesProblems('${{ batch_change_link }} ${{ outputs.anything.deep }} ${{ steps.path }}', 'changesetTemplate')).toEqual([]);
    expect(templateVariablesProblems('no template here', 'step')).toEqual([]);
  });

  it('names unknown variables and functions, fields the contexts lack, wrong argument counts and parse errors', () => {
    expect(templateVariablesProblems('${{ repo.name }}', 'step')[0]).toMatch(/unknown variable or function "repo"/);
    expect(templateVariablesProblems('${{ repository.nme }}', 'step')).toEqual(['template "${{ repository.nme }}": repository.nme: repository has no field "nme" (it has: name, branch, search_result_paths)']);
    expect(templateVariablesProblems('${{ previous_step.stdot }}', 'step')[0]).toMatch(/previous_step has no field "stdot"/);
    expect(templateVariablesProblems('${{ step.stdout }}', 'step')[0]).toMatch(/step is only available in a step's outputs/);
    expect(templateVariablesProblems('${{ previous_step.stdout }}', 'changesetTemplate')[0]).toMatch(/unknown variable or function "previous_step"/);
    expect(templateVariablesProblems('${{ batch_change_link }}', 'step')[0]).toMatch(/unknown variable or function "batch_change_link"/);
    expect(templateVariablesProblems('${{ join repository.search_result_paths }}', 'step')).toEqual(['template "${{ join repository.search_result_paths }}": join takes 2 arguments, given 1']);
    expect(templateVariablesProblems('${{ repository.search_result_paths | join " " }}', 'step')).toEqual([]);
    expect(templateVariablesProblems('${{ if eq repository.name "x" }}', 'step')[0]).toMatch(/does not parse: unexpected EOF/);
  });
});
