// Every verb the kubernetes runtime uses, in RBAC's words: what `executor validate` asks the API server
// about (SelfSubjectAccessReview), and what the shipped Role grants — exactly these, no more (a test
// holds the Role, the Helm chart's Role and the calls the runtime makes to this list).

/** One resource (or subresource) and the verbs the runtime uses on it, in the job namespace. */
export interface KubernetesPermission {
  /** The API group; `''` is the core group. */
  group: string;
  resource: string;
  subresource?: string;
  verbs: readonly string[];
}

export const KUBERNETES_RUNTIME_PERMISSIONS: readonly KubernetesPermission[] = [
  // A Job per job; get reads why it failed (DeadlineExceeded); list and delete: teardown and the janitor.
  { group: 'batch', resource: 'jobs', verbs: ['create', 'get', 'list', 'delete'] },
  // The job's pod: watched (listed first) for its containers' states; get finds the executor's own pod,
  // the owner of its Jobs.
  { group: '', resource: 'pods', verbs: ['get', 'list', 'watch'] },
  // Each container's output, followed while it runs.
  { group: '', resource: 'pods', subresource: 'log', verbs: ['get'] },
  // The job's token, payload and step env; patch makes the Job their owner once it exists.
  { group: '', resource: 'secrets', verbs: ['create', 'patch', 'list', 'delete'] },
  // The workspace claim (KUBERNETES_JOB_VOLUME_TYPE=pvc), the same way.
  { group: '', resource: 'persistentvolumeclaims', verbs: ['create', 'patch', 'list', 'delete'] },
];

/** `create batch/jobs`, `get pods/log`: a permission's verb and resource as messages name them. */
export function describePermission(permission: KubernetesPermission, verb: string): string {
  const resource = permission.subresource ? `${permission.resource}/${permission.subresource}` : permission.resource;
  return `${verb} ${permission.group ? `${permission.group}/` : ''}${resource}`;
}
