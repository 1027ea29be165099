import { describe, expect, it } from 'vitest';
import { loadExecutorConfigWithDefaultRuntime } from './default-runtime.js';

const base = { EXECUTOR_FRONTEND_URL: 'http://127.0.0.1:1', EXECUTOR_FRONTEND_PASSWORD: 'pw', EXECUTOR_QUEUE_NAME: 'batches', EXECUTOR_JOB_NUM_CPUS: '2' };

describe('the default runtime', () => {
  it('is vm where KVM runs a guest, docker where it does not, and never probed when the environment names one', async () => {
    const probed: string[] = [];
    const probe = (answer: boolean) => async (dir: string) => {
      probed.push(dir);
      return answer;
    };
    expect((await loadExecutorConfigWithDefaultRuntime(base, probe(true))).runtime).toBe('vm');
    expect((await loadExecutorConfigWithDefaultRuntime(base, probe(false))).runtime).toBe('docker');
    expect(probed).toHaveLength(2);
    expect((await loadExecutorConfigWithDefaultRuntime({ ...base, EXECUTOR_RUNTIME: 'shell', EXECUTOR_SHELL_ALLOW_SAME_USER: 'true' }, probe(true))).runtime).toBe('shell');
    expect((await loadExecutorConfigWithDefaultRuntime({ ...base, EXECUTOR_USE_FIRECRACKER: 'false' }, probe(true))).runtime).toBe('docker');
    expect(probed).toHaveLength(2);
  });
});
