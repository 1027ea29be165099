// The executor API and the admin enqueue call as the benches speak them (the same requests as
// test/helpers/api-client.ts), over a keep-alive HttpClient.
import { HttpClient } from './http-client.js';

export interface DequeuedJob {
  id: number;
  token: string;
}

export const BENCH_JOB_SPEC = { dockerSteps: [{ image: 'alpine', commands: ['true'] }] };

export class ExecutorClient {
  readonly http: HttpClient;

  constructor(
    baseUrl: string,
    private readonly executorToken: string,
    readonly executorName: string,
    maxSockets = 1,
    private readonly version = '5.3.0',
  ) {
    this.http = new HttpClient(baseUrl, maxSockets);
  }

  private post(path: string, body: unknown) {
    return this.http.request('POST', path, body, { authorization: `token-executor ${this.executorToken}` });
  }

  /** The start-up heartbeat that makes the job-token routes accept this executor name. */
  async heartbeat(queue: string): Promise<void> {
    const res = await this.post(`/.executors/queue/${queue}/heartbeat`, {
      version: 'V2',
      executorName: this.executorName,
      jobIds: [],
      os: 'linux',
      architecture: 'amd64',
      executorVersion: this.version,
      gitVersion: '',
      dockerVersion: '',
      igniteVersion: '',
      srcCliVersion: '',
    });
    if (res.status !== 200) throw new Error(`heartbeat: ${res.status} ${res.body}`);
  }

  /** Resolves to the job, or null on 204. `waitMs` > 0 long-polls (the extension). */
  async dequeue(queue: string, waitMs = 0): Promise<DequeuedJob | null> {
    const res = await this.post(`/.executors/queue/${queue}/dequeue`, {
      executorName: this.executorName,
      version: this.version,
      ...(waitMs > 0 ? { waitMs } : {}),
    });
    if (res.status === 204) return null;
    if (res.status !== 200) throw new Error(`dequeue: ${res.status} ${res.body}`);
    const job = JSON.parse(res.body) as DequeuedJob;
    return { id: job.id, token: job.token };
  }

  async markComplete(queue: string, job: DequeuedJob): Promise<void> {
    const res = await this.http.request(
      'POST',
      `/.executors/queue/${queue}/markComplete`,
      { executorName: this.executorName, jobId: job.id },
      { authorization: `Bearer ${job.token}`, 'x-sourcegraph-job-id': String(job.id), 'x-sourcegraph-executor-name': this.executorName },
    );
    if (res.status !== 204) throw new Error(`markComplete ${job.id}: ${res.status} ${res.body}`);
  }

  close(): void {
    this.http.close();
  }
}

export class AdminClient {
  readonly http: HttpClient;

  constructor(
    baseUrl: string,
    private readonly adminToken: string,
    maxSockets = 1,
  ) {
    this.http = new HttpClient(baseUrl, maxSockets);
  }

  async enqueue(queue: string, spec: Record<string, unknown> = BENCH_JOB_SPEC): Promise<number> {
    const res = await this.http.request('POST', `/api/v1/queues/${queue}/jobs`, spec, { authorization: `Bearer ${this.adminToken}` });
    if (res.status !== 201) throw new Error(`enqueue: ${res.status} ${res.body}`);
    return (JSON.parse(res.body) as { id: number }).id;
  }

  close(): void {
    this.http.close();
  }
}
