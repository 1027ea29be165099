// parseBatchSpec against the examples of Sourcegraph's "Batch Spec YAML Reference": what they normalise
// to, and for bad specs the field, line and allowed values each error names.
import { describe, expect, it } from 'vitest';
import type { BatchSpec, BatchSpecError } from './batch-spec.js';
import { parseBatchSpec } from './parse-batch-spec.js';
import { resolvePublished } from './published-rules.js';

const ok = (yaml: string): BatchSpec => {
  const result = parseBatchSpec(yaml);
  if (!result.ok) throw new Error(`expected the spec to parse: ${JSON.stringify(result.errors)}`);
  return result.spec;
};
const errors = (yaml: string): BatchSpecError[] => {
  const result = parseBatchSpec(yaml);
  if (result.ok) throw new Error('expected errors');
  return result.errors;
};
const minimal = 'name: x\n';
/** A changesetTemplate to end a spec with steps (which needs one). */
const CT = 'changesetTemplate:\n  title: t\n  branch: b\n  commit:\n    message: m\n';

describe('parseBatchSpec: the reference\'s examples', () => {
  it('normalises a spec using every field the reference documents', () => {
    const spec = ok(`version: 2
name: update-node.js
description: |
  This batch change changes all imports
on:
  - repositoriesMatchingQuery: file:README -repo:github.com/sourcegraph/src-cli
  - repository: github.com/sourcegraph/sourcegraph
    branch: "3.23"
  - repository: github.com/sourcegraph/src-cli
    branches:
      - 3.19-beta
      - "3.23"
  - repository: github.com/sourcegraph/batchutils
workspaces:
  - rootAtLocationOf: package.json
    in: github.com/sourcegraph/*-js
    onlyFetchWorkspace: true
  - rootAtLocationOf: go.mod
steps:
  - run: ./update_dependency.sh
    container: our-custom-image
    env:
      OLD_VERSION: 1.31.7
      NEW_VERSION: 1.33.0
  - run: echo $MESSAGE from $USER >> README
    container: alpine:3
    env:
      - MESSAGE: Hello world!
      - USER
    files:
      /tmp/search-results: \${{ join repository.search_result_paths "\\n" }}
    outputs:
      goreleaserConfig:
        value: '\${{ step.stderr }}'
        format: yaml
      friendlyMessage:
        value: \${{ step.stdout }}
    if: \${{ eq repository.name "github.com/sourcegraph/automation-testing" }}
  - if: true
    run: echo "name of repository is \${{ repository.name }}" >> message.txt
    container: alpine:3
transformChanges:
  group:
    - directory: go
      branch: my-batch-change-go
      title: Update \${{ steps.path }}
    - directory: internal/codeintel
      branch: my-batch-change-codeintel
      repository: github.com/sourcegraph/src-cli
changesetTemplate:
  title: Run go fmt over all Go files
  body: Regular \`go fmt\` run over all our Go files.
  branch: go-fmt
  commit:
    message: Run go fmt
    author:
      name: Anna Wizard
      email: anna@example.com
  published:
    - git.istari.example/*: false
    - git.istari.example/anna/*: true
    - github.com/sourcegraph/*@my-branch-name-1: draft
`);
    expect(spec).toEqual<BatchSpec>({
      version: 2,
      name: 'update-node.js',
      description: 'This batch change changes all imports\n',
      on: [
        { kind: 'query', repositoriesMatchingQuery: 'file:README -repo:github.com/sourcegraph/src-cli' },
        { kind: 'repository', repository: 'github.com/sourcegraph/sourcegraph', branches: ['3.23'] },
        { kind: 'repository', repository: 'github.com/sourcegraph/src-cli', branches: ['3.19-beta', '3.23'] },
        { kind: 'repository', repository: 'github.com/sourcegraph/batchutils', branches: [] },
      ],
      workspaces: [
        { rootAtLocationOf: 'package.json', in: 'github.com/sourcegraph/*-js', onlyFetchWorkspace: true },
        { rootAtLocationOf: 'go.mod', in: '*', onlyFetchWorkspace: false },
      ],
      steps: [
        { run: './update_dependency.sh', container: 'our-custom-image', env: [{ name: 'OLD_VERSION', value: '1.31.7' }, { name: 'NEW_VERSION', value: '1.33.0' }], files: {}, outputs: {} },
        {
          run: 'echo $MESSAGE from $USER >> README',
          container: 'alpine:3',
          env: [{ name: 'MESSAGE', value: 'Hello world!' }, { name: 'USER' }],
          files: { '/tmp/search-results': '${{ join repository.search_result_paths "\\n" }}' },
          outputs: { goreleaserConfig: { value: '${{ step.stderr }}', format: 'yaml' }, friendlyMessage: { value: '${{ step.stdout }}', format: 'text' } },
          if: '${{ eq repository.name "github.com/sourcegraph/automation-testing" }}',
        },
        { run: 'echo "name of repository is ${{ repository.name }}" >> message.txt', container: 'alpine:3', env: [], files: {}, outputs: {}, if: true },
      ],
      transformChanges: {
        group: [
          { directory: 'go', branch: 'my-batch-change-go', title: 'Update ${{ steps.path }}' },
          { directory: 'internal/codeintel', branch: 'my-batch-change-codeintel', repository: 'github.com/sourcegraph/src-cli' },
        ],
      },
      changesetTemplate: {
        title: 'Run go fmt over all Go files',
        body: 'Regular `go fmt` run over all our Go files.',
        branch: 'go-fmt',
        commit: { message: 'Run go fmt', author: { name: 'Anna Wizard', email: 'anna@example.com' } },
        // Reversed: the last matching entry of the YAML wins, the first rule here.
        published: [
          { glob: 'github.com/sourcegraph/*', branch: 'my-branch-name-1', value: 'draft' },
          { glob: 'git.istari.example/anna/*', value: true },
          { glob: 'git.istari.example/*', value: false },
        ],
      },
    });
  });

  it('reads `on:` as a key (YAML 1.2), and defaults version 1, description, steps and the rest', () => {
    expect(ok('name: hello\non:\n  - repository: a/b\n')).toEqual<BatchSpec>({
      version: 1,
      name: 'hello',
      description: '',
      on: [{ kind: 'repository', repository: 'a/b', branches: [] }],
      workspaces: [],
      steps: [],
      transformChanges: { group: [] },
    });
    expect(ok(`${minimal}on:\nsteps:\n`).on).toEqual([]);
  });

  it('published: true, false and draft apply to every repository; a list by glob, the last match winning, branch-scoped with @', () => {
    const template = (published: string) => ok(`${minimal}changesetTemplate:\n  title: t\n  branch: b\n  commit:\n    message: m\n  published: ${published}\n`).changesetTemplate!;
    expect(template('true').published).toEqual([{ glob: '*', value: true }]);
    expect(template('draft').published).toEqual([{ glob: '*', value: 'draft' }]);
    expect(ok(`${minimal}changesetTemplate:\n  title: t\n  branch: b\n  commit:\n    message: m\n`).changesetTemplate!.published).toEqual([]);
    const rules = template(`\n    - github.com/a/*: true\n    - github.com/*: false`).published;
    // The reference: "github.com/a/b will not be published given this configuration".
    expect(resolvePublished(rules, 'github.com/a/b', 'main')).toBe(false);
    const notGitlab = template(`\n    - '*': true\n    - gitlab.com/*: false`).published;
    expect([resolvePublished(notGitlab, 'github.com/x/y', 'b'), resolvePublished(notGitlab, 'gitlab.com/x/y', 'b')]).toEqual([true, false]);
    const byBranch = template(`\n    - '*': true\n    - github.com/sourcegraph/*@my-branch-name-1: draft\n    - github.com/sourcegraph/*@my-branch-name-2: false`).published;
    expect(['my-branch-name-1', 'my-branch-name-2', 'other'].map((b) => resolvePublished(byBranch, 'github.com/sourcegraph/src-cli', b))).toEqual(['draft', false, true]);
    expect(resolvePublished(template(`\n    - github.com/sourcegraph/*: true`).published, 'gitlab.com/x', 'b')).toBe(false);
  });
});

describe('parseBatchSpec: schema errors name the field, the line and what is allowed', () => {
  it('a missing required field, at the line of the map that lacks it', () => {
    expect(errors('description: d\n')).toEqual([{ field: 'name', line: 1, message: 'required, but missing' }]);
    expect(errors(`${minimal}steps:\n  - run: echo\n`)).toContainEqual({ field: 'steps[0].container', line: 3, message: 'required, but missing' });
    expect(errors(`${minimal}changesetTemplate:\n  title: t\n  branch: b\n`)).toEqual([{ field: 'changesetTemplate.commit', line: 2, message: 'required, but missing' }]);
  });

  it('an unknown field, listing the fields allowed there', () => {
    expect(errors(`${minimal}stepz: []\n`)).toEqual([{ field: 'stepz', line: 2, message: 'unknown field "stepz"; allowed here: version, name, description, on, workspaces, steps, transformChanges, importChangesets, changesetTemplate' }]);
    expect(errors(`${minimal}steps:\n  - run: echo\n    container: alpine\n    contianer: x\n${CT}`)).toEqual([{ field: 'steps[0].contianer', line: 5, message: 'unknown field "contianer"; allowed here: run, container, outputs, env, files, if, mount' }]);
    expect(errors(`${minimal}on:\n  - repository: a/b\n    brnch: x\n`)).toEqual([{ field: 'on[0].brnch', line: 4, message: 'unknown field "brnch"; allowed here: repository, branch, branches' }]);
    expect(errors(`${minimal}on:\n  - repositoriesMatchingQuery: x\n    branch: y\n`)).toEqual([{ field: 'on[0].branch', line: 4, message: 'unknown field "branch"; allowed here: repositoriesMatchingQuery' }]);
  });

  it('a wrong type, and an unquoted number where a string belongs', () => {
    expect(errors(`${minimal}steps:\n  - run: [echo]\n    container: alpine\n${CT}`)).toEqual([{ field: 'steps[0].run', line: 3, message: 'must be a string, not a list' }]);
    expect(errors(`${minimal}on:\n  - repository: a/b\n    branch: 3.30\n`)).toEqual([
      { field: 'on[0].branch', line: 4, message: 'must be a string, not the number 3.3 (quote it to make it a string: "3.3"; YAML reads an unquoted 3.3 as a number)' },
    ]);
    expect(errors(`${minimal}steps:\n  - run: x\n    container: y\n    env:\n      PORT: 8080\n${CT}`)[0]).toEqual({ field: 'steps[0].env.PORT', line: 6, message: 'must be a string, not the number 8080 (quote it to make it a string: "8080"; YAML reads an unquoted 8080 as a number)' });
  });

  it('enums and patterns: version, output format, the name', () => {
    expect(errors(`${minimal}version: 3\n`)).toEqual([{ field: 'version', line: 2, message: 'must be one of 1, 2, not the number 3' }]);
    expect(errors(`${minimal}steps:\n  - run: x\n    container: y\n    outputs:\n      o:\n        value: v\n        format: xml\n${CT}`)).toEqual([
      { field: 'steps[0].outputs.o.format', line: 8, message: 'must be one of "json", "yaml", "text", not the string "xml"' },
    ]);
    expect(errors('name: my batch change\n')).toEqual([{ field: 'name', line: 1, message: 'must match ^[\\w.-]+$ (letters, digits, "_", "." and "-"), not the string "my batch change"' }]);
  });

  it('a value matching none of a field\'s shapes says which shapes are allowed', () => {
    expect(errors(`${minimal}on:\n  - github.com/a/b\n`)).toEqual([
      { field: 'on[0]', line: 3, message: 'must be a map with "repositoriesMatchingQuery: <query>", or with "repository: <name>" (and optionally "branch" or "branches"), not the string "github.com/a/b"' },
    ]);
    const template = `${minimal}changesetTemplate:\n  title: t\n  branch: b\n  commit:\n    message: m\n  published: `;
    expect(errors(`${template}maybe\n`)).toEqual([
      { field: 'changesetTemplate.published', line: 7, message: 'must be true, false, "draft", or a list of single "<repository glob>[@<branch>]: true|false|draft" maps, not the string "maybe"' },
    ]);
    expect(errors(`${template}\n    - github.com/*: yes\n`)).toEqual([{ field: 'changesetTemplate.published[0]["github.com/*"]', line: 8, message: 'must be true, false or "draft", not the string "yes"' }]);
    expect(errors(`${minimal}steps:\n  - run: x\n    container: y\n    env:\n      - A: a\n        B: b\n${CT}`)).toEqual([{ field: 'steps[0].env[0]', line: 6, message: 'must be a secret\'s name, or a map with one "NAME: value" entry, not a map' }]);
    expect(errors(`${minimal}steps:\n  - run: x\n    container: y\n    env: 3\n${CT}`)).toEqual([
      { field: 'steps[0].env', line: 5, message: 'must be a map of "NAME: value", or a list of secret names and single "NAME: value" maps, not the number 3' },
    ]);
    expect(errors(`${minimal}steps:\n  - run: x\n    container: y\n    if: [1]\n${CT}`)).toEqual([{ field: 'steps[0].if', line: 5, message: 'must be true, false, or a template that renders to "true" to run the step, not a list' }]);
  });

  it('YAML that does not parse, duplicate keys, and a document that is not a map', () => {
    expect(errors('name: [unclosed\n')).toEqual([expect.objectContaining({ field: '(yaml)', message: expect.stringMatching(/^the YAML does not parse: Flow sequence/) })]);
    expect(errors('name: a\nname: b\n')).toEqual([{ field: '(yaml)', line: 2, message: 'the YAML does not parse: Map keys must be unique' }]);
    expect(errors('- name: x\n')).toEqual([{ field: '(root)', line: 1, message: 'a batch spec must be a map of fields (name, on, steps, changesetTemplate, …), not a list' }]);
  });

  it('every problem at once, in line order, schema errors and the checks beyond it together', () => {
    const list = errors('name: x\nversion: 7\nsteps:\n  - run: echo ${{ repo.name }}\n    container: alpine\n  - run: y\n');
    expect(list.map((e) => [e.field, e.line])).toEqual([
      ['version', 2],
      ['changesetTemplate', 3],
      ['steps[0].run', 4],
      ['steps[1].container', 6],
    ]);
  });
});

describe('parseBatchSpec: the checks beyond the schema', () => {
  const withTemplate = 'changesetTemplate:\n  title: t\n  branch: b\n  commit:\n    message: m\n';

  it('steps without a changesetTemplate', () => {
    expect(errors(`${minimal}steps:\n  - run: echo\n    container: alpine\n`)).toEqual([
      { field: 'changesetTemplate', line: 2, message: 'the spec has steps but no changesetTemplate: add one (title, branch, commit.message) to say how the changes become changesets' },
    ]);
  });

  it('branch together with branches', () => {
    expect(errors(`${minimal}on:\n  - repository: a/b\n    branch: x\n    branches: [y]\n`)).toEqual([{ field: 'on[0].branches', line: 5, message: 'branch and branches are mutually exclusive: use branch for one branch, branches for several' }]);
  });

  it('templates: unknown variables, fields and functions, step.* outside outputs, an if that does not parse — each at its field', () => {
    const list = errors(`${minimal}steps:
  - run: echo \${{ repository.nme }}
    container: alpine
    env:
      MSG: \${{ step.stdout }}
    files:
      /tmp/x: \${{ upper repository.name }}
    outputs:
      o:
        value: \${{ step.stdout }} \${{ outputs.anything }}
    if: \${{ if eq repository.name "x" }}
${withTemplate.replace('title: t', 'title: t ${{ previous_step.stdout }}')}`);
    expect(list.map((e) => [e.field, e.line])).toEqual([
      ['steps[0].run', 3],
      ['steps[0].env.MSG', 6],
      ['steps[0].files["/tmp/x"]', 8],
      ['steps[0].if', 12],
      ['changesetTemplate.title', 14],
    ]);
    expect(list[0]!.message).toBe('template "echo ${{ repository.nme }}": repository.nme: repository has no field "nme" (it has: name, branch, search_result_paths)');
    expect(list[1]!.message).toMatch(/step is only available in a step's outputs/);
    expect(list[2]!.message).toMatch(/unknown variable or function "upper"/);
    expect(list[3]!.message).toMatch(/does not parse: unexpected EOF/);
    expect(list[4]!.message).toMatch(/unknown variable or function "previous_step"/);
  });

  it('what server-side execution cannot do: mount, importChangesets; env names that are no names; globs that do not parse', () => {
    const list = errors(`${minimal}workspaces:
  - rootAtLocationOf: go.mod
    in: github.com/[abc
steps:
  - run: x
    container: y
    mount:
      - path: ./script.py
        mountpoint: /tmp/script.py
    env:
      - 1BAD
importChangesets:
  - repository: github.com/a/b
    externalIDs: [1]
${withTemplate}  published:
    - '{a,b': true
`);
    expect(list).toEqual([
      { field: 'workspaces[0].in', line: 4, message: 'glob pattern "github.com/[abc": unclosed [ character class; globs allow * ? [abc] [a-z] [!abc] {a,b} and \\ to escape' },
      { field: 'steps[0].mount', line: 8, message: 'mount is only supported when src-cli runs the steps on one\'s own machine, not in server-side execution: put the content in files instead' },
      { field: 'steps[0].env[0]', line: 12, message: '"1BAD" is not an environment variable name: letters, digits and "_", not starting with a digit' },
      { field: 'importChangesets', line: 13, message: 'importChangesets is not supported: the coordinator\'s repositories have no code host to import changesets from' },
      { field: 'changesetTemplate.published[0]["{a,b"]', line: 22, message: 'glob pattern "{a,b": unclosed { alternatives; globs allow * ? [abc] [a-z] [!abc] {a,b} and \\ to escape' },
    ]);
  });
});
