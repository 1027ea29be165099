// stepSpecsFor: one spec per docker step, keyed as the original keys them (reference §4.11).
import { describe, expect, it } from 'vitest';
import { stepKey, stepSpecsFor } from './runtime.js';

describe('stepSpecsFor', () => {
  const job = {
    dockerSteps: [
      { image: 'alpine', commands: ['true'] },
      { key: 'pre', image: 'node:20', commands: ['npm ci'], dir: 'web', env: ['A=1'] },
    ],
  };
  const workspace = { scriptPaths: ['.sourcegraph-executor/1.0_r@c.sh', '.sourcegraph-executor/1.1_r@c.sh'] };

  it('keys steps step.docker.<key or index> for docker, shell and vm, and step.kubernetes.* for kubernetes', () => {
    expect(stepSpecsFor(job, workspace)).toEqual([
      { key: 'step.docker.0', index: 0, image: 'alpine', scriptPath: workspace.scriptPaths[0], dir: '', env: [] },
      { key: 'step.docker.pre', index: 1, image: 'node:20', scriptPath: workspace.scriptPaths[1], dir: 'web', env: ['A=1'] },
    ]);
    expect(stepSpecsFor(job, workspace, 'shell').map((s) => s.key)).toEqual(['step.docker.0', 'step.docker.pre']);
    expect(stepSpecsFor(job, workspace, 'vm').map((s) => s.key)).toEqual(['step.docker.0', 'step.docker.pre']);
    expect(stepKey('kubernetes', undefined, 3)).toBe('step.kubernetes.3');
  });

  it('refuses a workspace whose scripts do not match the steps', () => {
    expect(() => stepSpecsFor(job, { scriptPaths: [] })).toThrow(/2 docker steps but 0 scripts/);
  });
});
