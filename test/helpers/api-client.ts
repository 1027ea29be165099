// Thin HTTP clients for tests: the executor API as an executor speaks it, and the admin API.
import type { Job } from '../../src/protocol/job.js';

export interface ApiResponse<T = unknown> {
  status: number;
  text: string;
  json: T;
  headers: Headers;
}

async function request<T>(url: string, init: RequestInit): Promise<ApiResponse<T>> {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON; tests read .text
  }
  return { status: res.status, text, json: json as T, headers: res.headers };
}

export class ExecutorApi {
  constructor(
    readonly baseUrl: string,
    readonly token: string,
    readonly executorName: string,
    readonly version = '5.3.0',
  ) {}

  post<T = unknown>(path: string, body: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> {
    return request<T>(this.baseUrl + path, {
      method: 'POST',
      headers: { authorization: `token-executor ${this.token}`, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  /** The start-up ping and the 5 s heartbeat of a single-queue executor. */
  heartbeat(queue: string, jobIds: Array<number | string> = [], extra: Record<string, unknown> = {}) {
    return this.post<{ knownIds: string[]; cancelIds: string[] }>(`/.executors/queue/${queue}/heartbeat`, {
      version: 'V2',
      executorName: this.executorName,
      jobIds: jobIds.map(String),
      os: 'linux',
      architecture: 'amd64',
      executorVersion: this.version,
      gitVersion: '2.39.5',
      dockerVersion: '',
      igniteVersion: '',
      srcCliVersion: '',
      ...extra,
    });
  }

  async dequeue(queue: string, extra: Record<string, unknown> = {}): Promise<ApiResponse<Job>> {
    return this.post<Job>(`/.executors/queue/${queue}/dequeue`, { executorName: this.executorName, version: this.version, ...extra });
  }

  /** A job-token request, with the headers of reference §2.2. */
  jobPost<T = unknown>(queue: string, op: string, job: Pick<Job, 'id' | 'token'>, body: Record<string, unknown> = {}) {
    return request<T>(`${this.baseUrl}/.executors/queue/${queue}/${op}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${job.token}`,
        'x-sourcegraph-job-id': String(job.id),
        'x-sourcegraph-executor-name': this.executorName,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ executorName: this.executorName, jobId: job.id, ...body }),
    });
  }

  markComplete(queue: string, job: Pick<Job, 'id' | 'token'>) {
    return this.jobPost(queue, 'markComplete', job);
  }
}

export class AdminApi {
  constructor(
    readonly baseUrl: string,
    readonly token: string,
  ) {}

  private call<T>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> {
    return request<T>(this.baseUrl + path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read fields freely
  get<T = any>(path: string) {
    return this.call<T>('GET', path);
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read fields freely
  post<T = any>(path: string, body?: unknown) {
    return this.call<T>('POST', path, body ?? {});
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read fields freely
  put<T = any>(path: string, body?: unknown) {
    return this.call<T>('PUT', path, body ?? {});
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read fields freely
  delete<T = any>(path: string) {
    return this.call<T>('DELETE', path);
  }

  async enqueue(queue: string, spec: Record<string, unknown> = {}): Promise<number> {
    const res = await this.post<{ id: number }>(`/api/v1/queues/${queue}/jobs`, { dockerSteps: [{ image: 'alpine', commands: ['true'] }], ...spec });
    if (res.status !== 201) throw new Error(`enqueue failed: ${res.status} ${res.text}`);
    return res.json.id;
  }

  /** The job view: its entries without their output (`outLength`, `outBytes` instead). */
  job(queue: string, id: number) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read fields freely
    return this.get<any>(`/api/v1/queues/${queue}/jobs/${id}`);
  }

  /** The job view with each entry's whole output in `out`, read page by page from `…/logs/{entryId}?offset=`. */
  async jobWithOutput(queue: string, id: number) {
    const res = await this.job(queue, id);
    if (res.status !== 200) return res;
    for (const entry of (res.json.executionLogs ?? []) as Array<{ entryId: number; out?: string }>) {
      let out = '';
      for (let offset: number | null = 0; offset !== null; ) {
        const page: ApiResponse<{ out: string; nextOffset: number | null }> = await this.get(`/api/v1/queues/${queue}/jobs/${id}/logs/${entry.entryId}?offset=${offset}`);
        if (page.status !== 200) throw new Error(`reading entry ${entry.entryId} of job ${id} at ${offset}: ${page.status} ${page.text}`);
        out += page.json.out;
        offset = page.json.nextOffset;
      }
      entry.out = out;
    }
    return res;
  }
}
