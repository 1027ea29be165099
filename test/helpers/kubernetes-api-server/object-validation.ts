// What the test API server refuses with 422 Invalid, as a real one does: the object against the Kubernetes
// OpenAPI schema (kubernetes-models 4.x), plus the checks the API server makes that a schema cannot —
// names, labels, container and volume names, env var names, references between fields, and the node
// selector term the original's affinity helper leaves empty.
import { Job } from 'kubernetes-models/batch/v1';
import { PersistentVolumeClaim, Secret } from 'kubernetes-models/v1';
import { SelfSubjectAccessReview } from 'kubernetes-models/authorization.k8s.io/v1';
import type { KubeObject, Resource } from './object-store.js';

/** One problem, as a Status cause: the field path and what is wrong. */
export interface Cause {
  field: string;
  message: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** Env var names the API server accepts (printable ASCII but `=`), since Kubernetes 1.30's RelaxedEnvironmentVariableValidation. */
const ENV_NAME = /^[!-<>-~]+$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

const MODELS: Partial<Record<Resource | 'selfsubjectaccessreviews', new (data: never) => { validate(): void }>> = {
  secrets: Secret as never,
  persistentvolumeclaims: PersistentVolumeClaim as never,
  jobs: Job as never,
  selfsubjectaccessreviews: SelfSubjectAccessReview as never,
};

/** Every problem of `object` as the body of a create of `resource`; empty when it is valid. */
export function validateObject(resource: Resource | 'selfsubjectaccessreviews', object: unknown): Cause[] {
  const causes: Cause[] = [];
  const Model = MODELS[resource];
  if (Model) {
    try {
      new Model(object as never).validate();
    } catch (err) {
      const errors = (err as { errors?: Array<{ instancePath?: string; message?: string }> }).errors ?? [{ instancePath: '', message: (err as Error).message }];
      for (const e of errors) causes.push({ field: (e.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.'), message: e.message ?? 'invalid' });
    }
  }
  if (resource === 'selfsubjectaccessreviews') return causes;
  const o = object as KubeObject;
  const name = o?.metadata?.name;
  if (typeof name !== 'string' || name === '') causes.push({ field: 'metadata.name', message: 'Required value: name or generateName is required' });
  else if (!(name.length <= 253 && DNS_SUBDOMAIN.test(name))) causes.push({ field: 'metadata.name', message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'` });
  checkLabels(o?.metadata?.labels, 'metadata.labels', causes);
  checkAnnotations(o?.metadata?.annotations, 'metadata.annotations', causes);
  if (resource === 'jobs') checkJob(o, causes);
  return causes;
}

function checkLabels(labels: Record<string, string> | undefined, field: string, causes: Cause[]): void {
  for (const [key, value] of Object.entries(labels ?? {})) {
    if (!qualifiedName(key)) causes.push({ field, message: `Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', at most 63` });
    if (typeof value !== 'string' || value.length > 63 || !LABEL_VALUE.test(value)) causes.push({ field, message: `Invalid value: "${String(value)}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', at most 63` });
  }
}

function checkAnnotations(annotations: Record<string, string> | undefined, field: string, causes: Cause[]): void {
  for (const key of Object.keys(annotations ?? {})) {
    if (!qualifiedName(key)) causes.push({ field, message: `Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.'` });
  }
}

function qualifiedName(key: string): boolean {
  const slash = key.indexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined && !(prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length > 0 && name.length <= 63 && LABEL_NAME.test(name);
}

interface Container {
  name?: string;
  env?: Array<{ name?: string; value?: string; valueFrom?: { secretKeyRef?: { name?: string; key?: string } } }>;
  volumeMounts?: Array<{ name?: string; mountPath?: string }>;
  workingDir?: string;
}

function checkJob(job: KubeObject, causes: Cause[]): void {
  const name = job.metadata?.name ?? '';
  // The Job controller labels its pods job-name=<name>: a longer name is no label value.
  if (name.length > 63) causes.push({ field: 'metadata.name', message: `Invalid value: "${name}": must be no more than 63 characters` });
  const spec = (job as { spec?: Record<string, unknown> }).spec ?? {};
  const template = (spec.template ?? {}) as { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: Record<string, unknown> };
  checkLabels(template.metadata?.labels, 'spec.template.metadata.labels', causes);
  checkAnnotations(template.metadata?.annotations, 'spec.template.metadata.annotations', causes);
  const pod = template.spec ?? {};
  const restartPolicy = pod.restartPolicy;
  if (restartPolicy !== 'Never' && restartPolicy !== 'OnFailure') causes.push({ field: 'spec.template.spec.restartPolicy', message: `Unsupported value: "${String(restartPolicy)}": supported values: "OnFailure", "Never"` });
  const volumes = (pod.volumes ?? []) as Array<{ name?: string }>;
  const volumeNames = new Set<string>();
  for (const [i, v] of volumes.entries()) {
    if (!v.name || !DNS_LABEL.test(v.name) || v.name.length > 63) causes.push({ field: `spec.template.spec.volumes[${i}].name`, message: `Invalid value: "${String(v.name)}": a lowercase RFC 1123 label` });
    else if (volumeNames.has(v.name)) causes.push({ field: `spec.template.spec.volumes[${i}].name`, message: `Duplicate value: "${v.name}"` });
    else volumeNames.add(v.name);
  }
  const containerNames = new Set<string>();
  const groups: Array<[string, Container[]]> = [
    ['initContainers', (pod.initContainers ?? []) as Container[]],
    ['containers', (pod.containers ?? []) as Container[]],
  ];
  if (groups[1]![1].length === 0) causes.push({ field: 'spec.template.spec.containers', message: 'Required value' });
  for (const [group, containers] of groups) {
    for (const [i, c] of containers.entries()) {
      const at = `spec.template.spec.${group}[${i}]`;
      if (!c.name || !DNS_LABEL.test(c.name) || c.name.length > 63) causes.push({ field: `${at}.name`, message: `Invalid value: "${String(c.name)}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'` });
      else if (containerNames.has(c.name)) causes.push({ field: `${at}.name`, message: `Duplicate value: "${c.name}"` });
      else containerNames.add(c.name);
      for (const [j, e] of (c.env ?? []).entries()) {
        if (!e.name || !ENV_NAME.test(e.name)) causes.push({ field: `${at}.env[${j}].name`, message: `Invalid value: "${String(e.name)}": a valid environment variable name must consist only of printable ASCII characters other than '='` });
        const ref = e.valueFrom?.secretKeyRef;
        if (ref && (!ref.key || !SECRET_KEY.test(ref.key))) causes.push({ field: `${at}.env[${j}].valueFrom.secretKeyRef.key`, message: `Invalid value: "${String(ref.key)}"` });
      }
      for (const [j, m] of (c.volumeMounts ?? []).entries()) {
        if (!m.name || !volumeNames.has(m.name)) causes.push({ field: `${at}.volumeMounts[${j}].name`, message: `Not found: "${String(m.name)}"` });
      }
      if (c.workingDir !== undefined && !c.workingDir.startsWith('/')) causes.push({ field: `${at}.workingDir`, message: 'must be an absolute path' });
    }
  }
  const terms = ((pod.affinity as { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: Array<{ matchExpressions?: unknown[]; matchFields?: unknown[] }> } } } | undefined)
    ?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms) ?? [];
  for (const [i, term] of terms.entries()) {
    if ((term.matchExpressions?.length ?? 0) + (term.matchFields?.length ?? 0) === 0) {
      causes.push({ field: `spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[${i}]`, message: 'Required value: must have at least one node selector requirement' });
    }
  }
  if (typeof spec.backoffLimit === 'number' && spec.backoffLimit < 0) causes.push({ field: 'spec.backoffLimit', message: 'must be greater than or equal to 0' });
}
