import { describe, expect, it } from 'vitest';
import { inferIndexJobs, pythonMetadata } from './inference.js';

const reader = (files: Record<string, string>) => async (paths: readonly string[]) => new Map(paths.filter((p) => p in files).map((p) => [p, files[p]!]));
const infer = (files: Record<string, string>, map = {}) => inferIndexJobs(Object.keys(files), reader(files), map);

describe('index job inference', () => {
  it('infers one scip-typescript job per tsconfig.json, installing with the package manager its lockfile names', async () => {
    const { jobs } = await infer({
      'package.json': '{"name":"root","devDependencies":{"typescript":"5"}}',
      'yarn.lock': '',
      'tsconfig.json': '{}',
      'web/package.json': '{"name":"web"}',
      'web/package-lock.json': '{}',
      'web/tsconfig.json': '{}',
      'node_modules/x/tsconfig.json': '{}',
    });
    expect(jobs.map((j) => j.root)).toEqual(['', 'web']);
    expect(jobs[0]!.steps).toEqual([{ root: '', image: 'executors-scip-typescript:0.4.0', commands: ['yarn --ignore-engines'] }]);
    expect(jobs[1]!.steps.map((s) => [s.root, s.commands[0]])).toEqual([
      ['', 'yarn --ignore-engines'],
      ['web', 'npm install --no-audit --no-fund'],
    ]);
    expect(jobs[1]).toMatchObject({ indexer: 'executors-scip-typescript:0.4.0', indexer_args: ['scip-typescript', 'index'], outfile: 'index.scip' });
  });

  it('infers a JavaScript job at the root with --infer-tsconfig when there is no tsconfig.json, and skips installing nothing', async () => {
    const { jobs } = await infer({ 'package.json': '{"name":"js-only"}', 'index.js': '' });
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ root: '', steps: [], indexer_args: ['scip-typescript', 'index', '--infer-tsconfig'] });
    const withDeps = await infer({ 'package.json': '{"dependencies":{"left-pad":"1"}}' });
    expect(withDeps.jobs[0]!.steps[0]!.commands).toEqual(['npm install --no-audit --no-fund --ignore-scripts']);
  });

  it('infers scip-python jobs with the project name and version from pyproject.toml, setup.cfg or setup.py', async () => {
    const { jobs } = await infer({
      'pyproject.toml': '[project]\nname = "demo"\nversion = "1.2.3"\ndependencies = ["requests"]\n',
      'demo/__init__.py': '',
      'tools/setup.py': 'setup(name="tools", version="0.9")',
    });
    // tools/ is inside the root project: indexed with it.
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({
      root: '',
      indexer: 'executors-scip-python:0.6.6',
      indexer_args: ['scip-python', 'index', '.', '--project-name', 'demo', '--project-version', '1.2.3'],
      steps: [{ root: '', image: 'executors-scip-python:0.6.6', commands: ['pip install . || true'] }],
    });
    const req = await infer({ 'svc/requirements.txt': 'flask\n', 'svc/app.py': '' });
    expect(req.jobs[0]).toMatchObject({ root: 'svc', steps: [{ commands: ['pip install -r requirements.txt || true'] }], indexer_args: ['scip-python', 'index', '.', '--project-name', 'svc'] });
    expect(pythonMetadata('', new Map([['setup.cfg', '[metadata]\nname = cfgpkg\nversion = 2.0\n']]))).toEqual({ name: 'cfgpkg', version: '2.0', hasDependencies: false });
  });

  it('uses the indexer map for the images, and finds nothing in a repository without a project file', async () => {
    const { jobs } = await infer({ 'tsconfig.json': '{}', 'setup.py': 'setup(name="x")' }, { typescript: 'registry.example.com/scip-ts:custom', 'scip-python': 'registry.example.com/scip-py:custom' });
    expect(jobs.map((j) => j.indexer)).toEqual(['registry.example.com/scip-ts:custom', 'registry.example.com/scip-py:custom']);
    expect((await infer({ 'README.md': 'hi', 'main.go': 'package main' })).jobs).toEqual([]);
  });

  it('reads at most 100 candidate files and says so', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 150; i++) files[`pkg${String(i).padStart(3, '0')}/package.json`] = '{}';
    const seen: string[] = [];
    const result = await inferIndexJobs(Object.keys(files), async (paths) => {
      seen.push(...paths);
      return new Map();
    }, {});
    expect(seen).toHaveLength(100);
    expect(result.notes[0]).toContain('150 candidate files; only the 100 closest to the root were read');
  });
});
