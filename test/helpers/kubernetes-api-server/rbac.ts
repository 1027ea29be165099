// RBAC as the test API server enforces it: the rules of a Role (the one the repository ships, read from
// its YAML), checked for every request and for SelfSubjectAccessReviews, and a record of every verb that
// was granted, so a test can hold the runtime's calls to the Role (and the Role to the calls).
import fs from 'node:fs';
import yaml from 'js-yaml';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** One authorization question, in RBAC's words. */
export interface Attributes {
  verb: string;
  /** `''` for the core group. */
  group: string;
  resource: string;
  subresource?: string;
  name?: string;
}

/** The rules of the Role in a YAML file (the file may hold several documents; the Role is found by kind). */
export function loadRoleRules(file: string): PolicyRule[] {
  const documents = yaml.loadAll(fs.readFileSync(file, 'utf8')) as Array<{ kind?: string; rules?: PolicyRule[] }>;
  const role = documents.find((d) => d?.kind === 'Role');
  if (!role?.rules) throw new Error(`${file}: no Role with rules`);
  return role.rules;
}

/** Whether `rules` allow `attributes` (wildcards `*` honoured, as the RBAC authorizer does). */
export function allows(rules: readonly PolicyRule[], attributes: Attributes): boolean {
  const resource = attributes.subresource ? `${attributes.resource}/${attributes.subresource}` : attributes.resource;
  return rules.some(
    (rule) =>
      (rule.apiGroups.includes('*') || rule.apiGroups.includes(attributes.group)) &&
      (rule.resources.includes('*') || rule.resources.includes(resource)) &&
      (rule.verbs.includes('*') || rule.verbs.includes(attributes.verb)) &&
      (!rule.resourceNames || rule.resourceNames.length === 0 || (attributes.name !== undefined && rule.resourceNames.includes(attributes.name))),
  );
}

/** `create batch/jobs`, `get pods/log`: how messages and tests name a permission. */
export function describeAttributes(attributes: Pick<Attributes, 'verb' | 'group' | 'resource' | 'subresource'>): string {
  return `${attributes.verb} ${attributes.group ? `${attributes.group}/` : ''}${attributes.resource}${attributes.subresource ? `/${attributes.subresource}` : ''}`;
}
